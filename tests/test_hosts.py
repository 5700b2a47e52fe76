"""The hosts that run ReMe, on this project: each host installed into its own folder (``tests/host_sites.py``, kept
between runs) and driven through its own classes by a script in ``tests/hosts/`` in a subprocess, against a local
scripted OpenAI-compatible server. What the scripts report, and the workspace they leave, are checked here.

- **CoPaw 1.0.2** (pins ``reme-ai==0.3.1.8``): its runner's turns with the session saved and loaded around each (the
  history across turns), its compaction hook (``check_context``, ``compact_memory`` with its own chat model,
  ``mark_messages_compressed``), ``/compact``, ``/history``, ``/long_term_memory``, the summary writer, the forced
  memory search that fills ``_long_term_memory``.
- **QwenPaw 1.1.12** (pins ``reme-ai==0.3.1.10``): ``summary_memory`` with its chat model, formatter, counter and
  toolkit, ``memory_search`` as the agent's tool, ``/compact``'s background summary, ``close``.
- **QwenPaw 2.2.2** (pins ``reme-ai==0.4.1.11``, AgentScope 2.0.10): its ReMe memory manager on the 0.4 face: the
  version and API gates, its config dict (plugins included), its AgentScope 2 model injected with
  ``update_component``, ``auto_memory`` with AgentScope 2 messages, ``memory_search``, the actions, ``close``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from host_sites import REPO, SITES, ensure_site, site_env

from reme.policy.audit import verify
from reme.policy.trajectory import read_records

SHARED = ["mcp>=1.13,<2", "anyio<4.13", "greenlet", "aiofiles", "python-dotenv", "json-repair", "shortuuid", "pyyaml",
          "python-frontmatter", "httpx", "fastapi", "uvicorn", "pydantic-settings", "a2a-sdk<1", "ag-ui-protocol",
          "jsonref", "asgiref", "psutil", "jinja2", "requests", "google-genai", "tqdm", "redis",
          "apscheduler>=3.11.2,<4"]  # fmt: skip
"""What the hosts' code paths import (their full requirements add services the tests never start)."""

HOSTS = {
    "copaw": (["agentscope==1.0.18", "openai>=2.8.1,<3", *SHARED], ["copaw==1.0.2", "agentscope-runtime==1.1.3"]),
    "qwenpaw1": (
        [
            "agentscope==1.0.20",
            "openai>=2.8.1,<=2.33",
            "agent-client-protocol==0.10.0",
            "orjson",
            "watchfiles",
            "keyring",
            *SHARED,
        ],
        ["qwenpaw==1.1.12", "agentscope-runtime==1.1.6"],
    ),
    "qwenpaw2": (
        [
            "agentscope==2.0.10",
            "openai>=2.0,<=2.33",
            "anyio>=4,<4.13",
            "mcp>=1.28,<2",
            "apscheduler>=3.11.2,<4",
            "python-dotenv",
            "fastapi",
            "httpx",
            "json-repair>=0.63.4",
            "jsonschema",
            "packaging",
            "pyyaml",
            "rich",
            "shortuuid",
            "aiofiles",
            "google-genai",
            "anthropic",
            "watchfiles",
            "psutil",
            "orjson",
            "keyring",
            "cryptography",
            "tzdata",
            "python-frontmatter",
            "uvicorn",
            "wcmatch",
            "pillow",
            "json5",
            "html2text",
            "playwright",
        ],
        ["qwenpaw==2.2.2"],
    ),
}


def drive(host: str, scratch: Path, driver: str | None = None) -> dict[str, Any]:
    """Run ``tests/hosts/<driver or host>_driver.py`` in ``host``'s site; its last ``REPORT`` line."""
    requirements, no_deps = HOSTS[host]
    site = ensure_site(SITES / f"{host}-site", requirements, no_deps)
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "hosts" / f"{driver or host}_driver.py"), str(scratch)],
        env=site_env(site, REPO / "tests"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-4000:]
    return dict(json.loads(lines[-1][len("REPORT ") :]))


def decisions(ws: Path) -> list[Any]:
    return [e.record for e in read_records(ws / "trajectories") if e.record is not None and e.record.type == "decision"]


def test_copaw_runs_its_memory_manager_on_this_project(tmp_path):
    report = drive("copaw", tmp_path)
    assert report["reme_light_module"] == "reme.reme_light.light"
    # history across turns: the session carries the memory, the model sees turn 1 at turn 2
    assert report["turn2_messages"] == 4 and report["turn2_sees_turn1"] and report["session_memory_messages"] == 4
    assert "messages: 4" in report["history"]
    assert "Empty" in report["long_term_memory"]  # the slot exists (it said "Not Available")
    # /compact: this project's compactor, with CoPaw's own chat model, and the summary writer in the background
    assert "Compact Complete" in report["compact"] and report["summary_after_compact"].startswith("## Goal")
    assert report["memory_file"] == "- 用户最喜欢的颜色是蓝色。\n"
    assert report["turn3_sees_summary"]
    # CoPaw's compaction hook before reasoning, and its forced memory search through _long_term_memory
    assert report["summary_after_auto_compact"].startswith("## Goal")
    assert report["turn5_recalled"]
    assert report["close"] is False  # what ReMe's close returns
    ws = Path(report["workspace"])
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in (ws / "dialog").glob("*.jsonl"))
    assert lines >= 4 + 3  # the messages /compact cleared, then those the hook compacted
    logged = decisions(ws)
    by_policy = {d.policy for d in logged}
    assert {"llm-compactor", "llm-writer", "heuristic-tail-reserve"} <= by_policy
    llm = [d for d in logged if d.policy.startswith("llm-")]
    assert llm and all(d.logprob is None and not d.trainable for d in llm)  # logged as such, not refused
    assert any(d.kind == "rank" for d in logged)  # the forced memory search
    assert verify(ws).ok


def test_qwenpaw1_runs_its_memory_manager_on_this_project(tmp_path):
    report = drive("qwenpaw1", tmp_path)
    assert report["reme_light_module"] == "reme.reme_light.light" and report["started"]
    assert report["summarize"] == "已记录 Alice 住在里斯本。"
    assert report["memory_file"] == "- Alice 住在里斯本。\n"
    assert report["writer_tools"] == ["read_file", "write_file", "edit_file"]
    assert report["search_result"] and "里斯本" in report["search_result"]
    assert report["turn2_sees_turn1"]
    assert "Compact Complete" in report["compact"]
    assert report["summarize_tasks"] == [["completed", "已记录 Alice 住在里斯本。", None]]
    assert report["writer_calls_after_compact"] == 2 and "completed" in report["summarize_status"]
    assert report["close"] is False
    ws = Path(report["workspace"])
    logged = decisions(ws)
    assert sum(d.policy == "llm-writer" for d in logged) == 4  # two runs: a write_file call and a final answer each
    assert any(d.kind == "rank" for d in logged)
    assert verify(ws).ok


def test_qwenpaw2_runs_its_reme_memory_manager_on_this_project(tmp_path):
    report = drive("qwenpaw2", tmp_path)
    assert report["reme_version"] == "0.4.1.11" and report["reme_module"].startswith(str(REPO))
    # the manager passed QwenPaw's version and API gates, built the app from its config, injected its model
    assert report["constructed"] and report["started"] and report["app_type"] == "reme.application.Application"
    assert report["injected_model"] == "OpenAIChatModel"
    # auto_memory: the model offered daily_write as a native tool, the note and the transcript written
    assert report["auto_memory"] == "Saved: the user prefers green tea." and report["memory_requests"] == 2
    assert report["tools_offered"] == ["daily_write"]
    session = "qpsid_sha256_" + __import__("hashlib").sha256(b"chat-42").hexdigest()
    assert any(n.endswith("/tea-preference.md") for n in report["notes"])
    assert report["note"].startswith("---\ndescription: The user prefers green tea\nname: tea-preference\n")
    assert f"session_id: {session}\n" in report["note"] and f"mem_session/dialog/{session}.jsonl" in report["note"]
    assert report["note"].endswith("- The user prefers green tea over coffee.\n")
    assert report["transcripts"] == [f"{session}.jsonl"] and report["transcript_lines"] == 2
    # a later turn through QwenPaw's own serial auto-memory worker updates the same note, confined to it
    assert report["worker_task"] == {"status": "completed", "trigger": "periodic", "error": "None"}
    assert report["update_tools"] == ["edit", "frontmatter_update", "read", "write"]
    assert report["note_after_update"].endswith("- The user prefers green tea over coffee, without sugar.\n")
    assert report["transcript_lines_after"] == 3  # merged by message id
    # memory_search: the host parsed this project's sections (and found the note at once: no watcher lag)
    assert report["search_state"] == "success" and "tea-preference.md" in report["search_text"]
    assert "==========" in report["search_text"] and "vector=" in report["search_text"]
    assert {"search", "auto_memory", "auto_dream", "status", "reindex", "read", "write"} <= set(report["actions"])
    assert report["status_success"] and {"components", "components_total", "process_rss"} <= set(
        report["status_memory_keys"]
    )
    assert report["version_answer"] == "0.4.1.11" and report["graph_nodes"] >= 3
    assert report["reindex"]["success"] and report["reindex"]["answer"]["scope"] == "bm25"
    assert report["search_policy"] == "heuristic-rrf" and report["read_rewarded"] >= 1
    assert report["dream_success"] and report["dream_answer"].startswith("AutoDream completed")
    assert report["digest"] == ["digest/personal/tea-preference.md"]
    assert report["proactive"]["topics"][0]["title"] == "Tea brewing"
    assert not report["plugin_job"]["success"] and "reme-daily-paper" in report["plugin_job"]["answer"]
    assert report["closed"] is True  # QwenPaw's close: True when ReMe closed
    ws = Path(report["index_dir"])
    logged = decisions(ws)
    policies = {d.policy for d in logged}
    assert {"heuristic-rrf", "llm-auto-memory", "llm-auto-dream"} <= policies
    assert all(d.logprob is None and not d.trainable for d in logged if d.policy.startswith("llm-"))
    rewards = [
        e.record for e in read_records(ws / "trajectories") if e.record is not None and e.record.type != "decision"
    ]
    assert rewards and all(r.source == "used" for r in rewards)
    assert verify(ws).ok


def test_agentscope2_agent_compacts_with_the_compact_policy_and_remembers_through_reme(tmp_path):
    """AgentScope 2.0.10 (QwenPaw 2's pin): its own ReMeMiddleware on this project's ReMe 0.4 face, and
    ReMeCompactMiddleware choosing what each compression keeps."""
    report = drive("qwenpaw2", tmp_path, driver="agentscope2")
    assert len(report["notes"]) == 2 and report["notes"][1].endswith("/drinks.md")  # the note and its day index
    assert report["recalled"]  # the agent's memory_search tool found the note auto_memory wrote
    assert report["seen"]["summary"] >= 2 and "Prefers green tea." in report["summary"]
    applied = report["applied"]
    assert len(applied) == report["seen"]["summary"]  # every compression went through the policy's decision
    assert all(a["kept"] == a["kept_by_policy"] for a in applied)  # and kept exactly what the policy kept
    assert report["rewards"] == len(report["pending"]) >= len(applied)
    ws = Path(report["policy_ws"])
    logged = decisions(ws)
    assert {d.decision_id for d in logged} == set(report["pending"])
    assert all(d.kind == "compact" and d.policy == "heuristic-tail-reserve" and d.logprob is not None for d in logged)
    assert verify(ws).ok and verify(Path(report["notes_index"])).ok


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_host_sites_do_not_carry_the_original_reme(host):
    site = SITES / f"{host}-site"
    if not site.is_dir():
        pytest.skip(f"{site} is built by the host's test")
    assert not (site / "reme").exists() and not list(site.glob("reme_ai-*"))
