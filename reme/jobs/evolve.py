"""ReMe 0.4.x's writing jobs: ``auto_memory`` (a session's daily note), ``auto_dream`` (digest notes and topics from
recent daily notes), ``proactive`` (the topics of a day). The prompts are this project's own.

``auto_memory`` saves the conversation to ``<session_dir>/dialog/<session_id>.jsonl`` (merged by message id; tool
results and inline images dropped), then lets the LLM write the session's note of the day with ``daily_write``, or
update the existing one with ``read`` / ``edit`` / ``frontmatter_update`` / ``write`` (confined to that note). Each
model output is a write decision (``reme.jobs.agent``); the note remembers them, so a later ``search`` + ``read``
of it rewards them.

``auto_dream`` asks the LLM once for the units of knowledge in the daily notes changed within ``scan_days`` (a JSON
object: ``units`` with ``name``, ``bucket`` (``procedure`` / ``personal`` / ``wiki``), ``summary``, ``paths``;
``topics`` with ``title``, ``reason``, ``keywords``); that reply is the write decision. Each unit becomes or extends
``<digest_dir>/<bucket>/<slug>.md`` (linking its sources); the topics go to ``<daily_dir>/<date>/interests.yaml``,
without titles chosen within ``topic_diversity_days``. ReMe ran one agent per unit; here the unit's summary is
written as given (see ``docs/migrating-from-reme.md``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import yaml

from reme.jobs.agent import llm_client, run_tools
from reme.jobs.files import source_conversation
from reme.jobs.notes import check_name, day_notes, read_note, refresh_day_index, render_note
from reme.jobs.steps import JobRun
from reme.messages import block_messages, block_text

__all__ = ["STEPS", "format_history"]

BUCKETS = ("procedure", "personal", "wiki")


# ----------------------------------------------------------------------------------------------- messages
def format_history(messages: list[dict[str, Any]]) -> str:
    """``[name @ time]`` then the text of each message with text, blank-line separated (``(empty)`` if none)."""
    parts = [f"[{m.get('name') or m.get('role')} @ {m.get('created_at', '')}]\n{block_text(m)}" for m in messages
             if block_text(m)]  # fmt: skip
    return "\n\n".join(parts) or "(empty)"


def _keep_block(block: Any) -> bool:
    if not isinstance(block, dict):
        return False
    if block.get("type") == "tool_result":
        return False
    source = block.get("source")
    return not (block.get("type") == "data" and isinstance(source, dict) and source.get("type") == "base64")


def save_transcript(run: JobRun, session_id: str, messages: list[dict[str, Any]]) -> Path:
    """Merge ``messages`` into the session's transcript (by id, ordered by time) and write it."""
    path = run.root / run.folder("session_dir") / "dialog" / f"{session_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    merged: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                old = json.loads(line)
            except ValueError:
                continue
            if isinstance(old, dict) and old.get("id"):
                merged[str(old["id"])] = old
    for message in messages:
        merged[message["id"]] = {**message, "content": [b for b in message["content"] if _keep_block(b)]}
    ordered = sorted(merged.values(), key=lambda m: str(m.get("created_at", "")))
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in ordered), encoding="utf-8")
    tmp.replace(path)
    return path


def _day_of(run: JobRun, messages: list[dict[str, Any]]) -> str:
    days = []
    for message in messages:
        stamp = message.get("created_at", "")
        try:
            when = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is not None:
            local = run.now().tzinfo
            days.append(when.astimezone(local).date().isoformat())
        else:
            days.append(str(stamp)[:10])
    return max(days) if days else run.today()


# ----------------------------------------------------------------------------------------------- auto_memory
SYSTEM = {
    "en": "You keep a daily memory note for each conversation session. Record what is worth remembering later "
    "(facts about the user, decisions, preferences, tasks and their outcomes) as short Markdown bullet points. "
    "Use the tools; write nothing for small talk.",
    "zh": "你为每个会话维护一篇当天的记忆笔记。用简短的 Markdown 要点记下以后值得记住的内容"
    "（用户的事实、决定、偏好、任务及其结果）。使用工具；闲聊不必记录。",
}
CREATE = (
    "Today is {today}. Extra instruction: {hint}\n\nConversation (session {session_id}):\n{history}\n\n"
    "If something here is worth remembering, call daily_write once with a short kebab-case name, a one-line "
    "description and the bullet points as content. Otherwise answer 'nothing to remember' without calling a tool."
)
UPDATE = (
    "Today is {today}. Extra instruction: {hint}\n\nThis session already has today's note {note_path}. "
    "Conversation (session {session_id}):\n{history}\n\nRead the note, then add or correct its bullet points with "
    "edit (or rewrite it with write), and refresh its name and description with frontmatter_update if they no "
    "longer fit. Answer with a one-line summary when done."
)


def _language(run: JobRun) -> str:
    return "zh" if str(run.app.config.language).lower().startswith("zh") else "en"


async def auto_memory_step(run: JobRun, **_: Any) -> None:
    raw_session = str(run.arg("session_id", "") or "").strip()
    if not raw_session:
        return run.fail("session_id is required")
    session_id = check_name(raw_session, "session_id")
    messages = block_messages(run.arg("messages", []))
    given_day = str(run.arg("date", "") or "")
    if given_day:
        try:
            dt.date.fromisoformat(given_day)
        except ValueError:
            return run.fail("date must be YYYY-MM-DD", date=given_day, modified=False, n_messages=len(messages))
    day = given_day or _day_of(run, messages)
    if not messages:
        run.response.answer = "Skipped: no messages"
        run.response.metadata.update(date=day, modified=False, n_messages=0)
        return None
    transcript = save_transcript(run, session_id, messages)
    source = source_conversation(run, session_id)
    existing = _session_note(run, day, session_id, source)
    llm = llm_client(run.app)
    if llm is None:
        return run.fail("no LLM: configure as_llm (a model name and credential.base_url) or inject a chat model",
                        date=day, modified=False, n_messages=len(messages))  # fmt: skip
    before = (run.root / existing).read_bytes() if existing else None
    values = {"today": day, "hint": str(run.arg("memory_hint", "") or "") or "(none)", "session_id": session_id,
              "note_path": existing or "", "history": format_history(messages),
              "session_file": transcript.relative_to(run.root).as_posix()}  # fmt: skip
    if existing:
        agent = await run_tools(run, llm, SYSTEM[_language(run)], UPDATE.format(**values),
                                ["read", "edit", "frontmatter_update", "write"], policy="llm-auto-memory",
                                injected={"_allowed_paths": [existing]})  # fmt: skip
    else:
        agent = await run_tools(run, llm, SYSTEM[_language(run)], CREATE.format(**values), ["daily_write"],
                                policy="llm-auto-memory", injected={"session_id": session_id, "date": day})  # fmt: skip
    note = existing or _session_note(run, day, session_id, source)
    modified = False
    if note:
        meta, body = read_note(run.root / note)
        if meta.get("session_id") != session_id or meta.get("source_conversation") != source:
            meta.update(session_id=session_id, source_conversation=source)
            (run.root / note).write_text(render_note(meta, body), encoding="utf-8")
            run.file_store.invalidate()
        modified = before != (run.root / note).read_bytes()
        if agent.decision_ids:
            run.file_store.note_written(note, agent.decision_ids)
    index = refresh_day_index(run, day)
    run.response.answer = agent.text or ("Updated " if existing else "Wrote ") + str(note or "nothing")
    run.response.metadata.update(
        date=day, path=note, created=bool(note and not existing), modified=modified, n_messages=len(messages),
        source_conversation=source, index=index, decision_ids=agent.decision_ids, trainable=agent.trainable,
    )  # fmt: skip
    return None


def _session_note(run: JobRun, day: str, session_id: str, source: str) -> str | None:
    for note in day_notes(run, day):
        if note.get("session_id") == session_id or note.get("source_conversation") == source:
            return str(note["path"])
    return None


# ----------------------------------------------------------------------------------------------- auto_resource
RESOURCE = (
    "Today is {today}. A file was {change} in the workspace's resources: {path}\n\n{text}\n\n"
    "If it holds something worth remembering, call daily_write once with a short kebab-case name, a one-line "
    "description and the key points as content. Otherwise answer 'nothing to remember' without calling a tool."
)
MAX_RESOURCE_CHARS = 20000


async def auto_resource_step(run: JobRun, **_: Any) -> None:
    """Each added or modified text file under ``resource_dir`` becomes (at most) one daily note, written by the LLM
    with ``daily_write`` and linked to its source (front matter ``source_resource``); deleted files are listed."""
    changes = run.arg("changes")
    if not isinstance(changes, list) or not changes:
        return run.fail("changes must be a non-empty list")
    llm = llm_client(run.app)
    if llm is None:
        return run.fail("no LLM: configure as_llm (a model name and credential.base_url) or inject a chat model")
    from reme.jobs.notes import resolve

    resource = run.root / run.folder("resource_dir")
    results: list[dict[str, Any]] = []
    for change in changes:
        raw = str((change or {}).get("path") or (change or {}).get("file_path") or "")
        kind = str((change or {}).get("change") or "modified")
        path = resolve(run, raw, markdown=False)
        rel = path.relative_to(run.root).as_posix()
        if resource not in path.parents:
            results.append({"path": rel, "skipped": f"not under {run.folder('resource_dir')}/"})
            continue
        if kind == "deleted" or not path.is_file():
            results.append({"path": rel, "change": "deleted", "note": None})
            continue
        try:
            text = path.read_text(encoding="utf-8")[:MAX_RESOURCE_CHARS]
        except (OSError, UnicodeDecodeError):
            results.append({"path": rel, "skipped": "not a UTF-8 text file"})
            continue
        prompt = RESOURCE.format(today=run.today(), change=kind, path=rel, text=text)
        agent = await run_tools(run, llm, SYSTEM[_language(run)], prompt, ["daily_write"],
                                policy="llm-auto-resource", injected={"session_id": "resource", "date": run.today(),
                                "metadata": {"source_resource": f"[[{rel}]]"}})  # fmt: skip
        note = next((p for p in agent.written if p.endswith(".md")), None)
        if note and agent.decision_ids:
            run.file_store.note_written(note, agent.decision_ids)
        results.append({"path": rel, "change": kind, "note": note, "decision_ids": agent.decision_ids})
    written = [r["note"] for r in results if r.get("note")]
    run.response.answer = f"{len(written)} note(s) from {len(changes)} change(s)"
    run.response.metadata.update(results=results, modified=bool(written))
    return None


# ----------------------------------------------------------------------------------------------- auto_dream
DREAM = (
    "Below are daily memory notes. Extract at most {max_units} units of lasting knowledge, each a bucket "
    "'procedure' (how to do something), 'personal' (about the user) or 'wiki' (facts about the world), and at most "
    "{topic_count} topics the user is likely to care about next. Extra instruction: {hint}\n\n{notes}\n\n"
    'Answer with one JSON object only: {{"units": [{{"name": "...", "bucket": "...", "summary": "...", '
    '"paths": ["..."]}}], "topics": [{{"title": "...", "reason": "...", "keywords": ["..."]}}]}}'
)
_FENCED = re.compile(r"```(?:json|yaml)?\s*(.*?)```", re.S)


def parse_object(text: str) -> dict[str, Any] | None:
    """The JSON (or YAML) object in a reply, fenced or not."""
    for candidate in [*(m.group(1) for m in _FENCED.finditer(text)), text]:
        start, end = candidate.find("{"), candidate.rfind("}")
        for chunk in ([candidate[start : end + 1]] if 0 <= start < end else []) + [candidate]:
            for loader in (json.loads, yaml.safe_load):
                try:
                    value = loader(chunk)
                except Exception:  # not this format
                    continue
                if isinstance(value, dict):
                    return value
    return None


def _catalog_path(run: JobRun) -> Path:
    return run.file_store.index_dir / "dream_catalog.json"


def _slug(text: str) -> str:
    slug = re.sub(r"[^\w-]+", "-", text.strip().lower(), flags=re.U).strip("-")
    return slug[:80] or "note"


async def dream_extract_step(run: JobRun, **_: Any) -> None:
    from reme.llm.decisions import llm_decision

    day = str(run.arg("date", "") or "") or run.today()
    try:
        end = dt.date.fromisoformat(day)
    except ValueError:
        return run.fail("date must be YYYY-MM-DD")
    scan = max(1, int(run.arg("scan_days", 2) or 2))
    try:
        catalog = json.loads(_catalog_path(run).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        catalog = {}
    daily = run.root / run.folder("daily_dir")
    changed: dict[str, float] = {}
    for offset in range(scan):
        d = (end - dt.timedelta(days=offset)).isoformat()
        for path in sorted((daily / d).glob("*.md")) if (daily / d).is_dir() else []:
            rel = path.relative_to(run.root).as_posix()
            if catalog.get(rel) != path.stat().st_mtime:
                changed[rel] = path.stat().st_mtime
    state: dict[str, Any] = {"date": day, "inputs": sorted(changed), "units": [], "topics": [], "modified_paths": [],
                             "deleted_paths": [], "errors": [], "decision_ids": []}  # fmt: skip
    run.state["dream"] = state
    run.state["catalog"] = {**catalog, **changed}
    if not changed:
        run.response.answer = f"No changed dream input for {day}"
        run.response.metadata.update(modified=False, dream=state)
        run.stopped = True
        return None
    llm = llm_client(run.app)
    if llm is None:
        return run.fail("no LLM: configure as_llm or inject a chat model", modified=False, dream=state)
    notes = "\n\n".join(f"## {rel}\n{read_note(run.root / rel)[1]}" for rel in sorted(changed))
    prompt = DREAM.format(max_units=int(run.arg("max_units", 5) or 5), topic_count=int(run.arg("topic_count", 3) or 3),
                          hint=str(run.arg("hint", "") or "") or "(none)", notes=notes)  # fmt: skip
    parsed = None
    for attempt in range(2):  # one retry of a reply that holds no object
        result = await llm.achat([{"role": "user", "content": prompt}])
        parsed = parse_object(result.text)
        decision = llm_decision("write", "llm-auto-dream", parsed if parsed is not None else "invalid", result,
                                extra={"job": run.job, "attempt": attempt})  # fmt: skip
        run.file_store.memory.log_decision(decision)
        state["decision_ids"].append(decision.decision_id)
        if parsed is not None:
            break
    if parsed is None:
        state["errors"].append("the model's reply held no JSON object")
        return None
    units = [u for u in parsed.get("units", []) if isinstance(u, dict) and str(u.get("summary", "")).strip()]
    state["units"] = units[: int(run.arg("max_units", 5) or 5)]
    state["topics"] = [t for t in parsed.get("topics", []) if isinstance(t, dict) and t.get("title")]
    return None


async def dream_integrate_step(run: JobRun, **_: Any) -> None:
    state = run.state.get("dream", {})
    digest = run.root / run.folder("digest_dir")
    for unit in state.get("units", []):
        bucket = unit.get("bucket") if unit.get("bucket") in BUCKETS else "procedure"
        name = str(unit.get("name") or unit["summary"][:40])
        path = digest / bucket / f"{_slug(name)}.md"
        sources = [str(p) for p in unit.get("paths", []) or state.get("inputs", [])]
        links = "\n".join(f"- [[{p}]]" for p in sources)
        summary = str(unit["summary"]).strip()
        if path.is_file():
            meta, body = read_note(path)
            if summary in body:
                unit["action"] = "CORROBORATE"
                continue
            body = f"{body.rstrip()}\n\n{summary}\n\nSources:\n{links}"
            unit["action"] = "REFINE"
        else:
            meta, body = {"name": name, "description": summary.splitlines()[0][:200]}, f"{summary}\n\nSources:\n{links}"
            unit["action"] = "CREATE"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_note(meta, body), encoding="utf-8")
        run.file_store.invalidate()
        rel = path.relative_to(run.root).as_posix()
        state["modified_paths"].append(rel)
        run.file_store.note_written(rel, state.get("decision_ids", []))


async def dream_topics_step(run: JobRun, **_: Any) -> None:
    state = run.state.get("dream", {})
    if not state.get("topics"):
        return None
    day = dt.date.fromisoformat(state["date"])
    daily = run.root / run.folder("daily_dir")
    recent = set()
    for offset in range(1, max(1, int(run.arg("topic_diversity_days", 7) or 7)) + 1):
        old = daily / (day - dt.timedelta(days=offset)).isoformat() / "interests.yaml"
        if old.is_file():
            data = yaml.safe_load(old.read_text(encoding="utf-8")) or {}
            recent |= {str(t.get("title", "")).lower() for t in data.get("topics", []) if isinstance(t, dict)}
    topics = [t for t in state["topics"] if str(t["title"]).lower() not in recent]
    topics = topics[: int(run.arg("topic_count", 3) or 3)]
    path = daily / state["date"] / "interests.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"date": state["date"], "topic_count": len(topics),
           "diversity_days": int(run.arg("topic_diversity_days", 7) or 7), "topics": topics}  # fmt: skip
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    state["topics"] = topics
    state["modified_paths"].append(path.relative_to(run.root).as_posix())
    return None


async def dream_finish_step(run: JobRun, **_: Any) -> None:
    state = run.state.get("dream", {})
    target = _catalog_path(run)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not state.get("errors"):
        target.write_text(json.dumps(run.state.get("catalog", {}), indent=1, sort_keys=True), encoding="utf-8")
    lines = [f"AutoDream completed for {state.get('date')}: {len(state.get('units', []))} unit(s), "
             f"{len(state.get('topics', []))} topic(s)"]  # fmt: skip
    lines += [f"- {u.get('action', '?')} {u.get('name', '')}" for u in state.get("units", [])]
    lines += [f"- error: {e}" for e in state.get("errors", [])]
    run.response.answer = "\n".join(lines)
    run.response.success = not state.get("errors")
    run.response.metadata.update(modified=bool(state.get("modified_paths")), dream=state)


async def proactive_step(run: JobRun, **_: Any) -> None:
    day = str(run.arg("date", "") or "") or run.today()
    path = run.root / run.folder("daily_dir") / day / "interests.yaml"
    if not path.is_file():
        run.response.answer = f"Skipped: no topics for {day}"
        run.response.metadata.update(date=day, topics=[])
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    topics = data.get("topics", [])
    answer: dict[str, Any] = {"summary": f"{len(topics)} topic(s) for {day}", "topics": topics}
    if run.arg("include_content", True):
        answer["content"] = "\n".join(f"- {t.get('title')}: {t.get('reason', '')}" for t in topics)
    run.response.answer = answer
    run.response.metadata.update(date=day, **answer)
    return None


STEPS = {
    "auto_memory_step": auto_memory_step,
    "auto_resource_step": auto_resource_step,
    "dream_extract_step": dream_extract_step,
    "dream_integrate_step": dream_integrate_step,
    "dream_topics_step": dream_topics_step,
    "dream_finish_step": dream_finish_step,
    "proactive_step": proactive_step,
}
