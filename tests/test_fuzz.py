"""Bad input, property-based (hypothesis): every interface either works or raises the library's own error
(``ReMeError`` and its subclasses; exit code 2 with a one-line message on the CLI), never another exception, a
crash or a partial write.

Interfaces: ``Memory`` (add, add_many, update, search, feedback, list), compaction (``check_context`` over deep and
malformed message structures), dataset loading (malformed and mutated LoCoMo / LongMemEval files), policy
checkpoints (corrupted files), the ReMeLight writer's file tools (hostile paths), and the CLI. The HTTP service
is fuzzed from its OpenAPI schema in ``test_service_schema.py``.

Sizes: ``FUZZ_EXAMPLES`` examples per property (60; 1000 with ``pytest --long``). ``docs/reliability.md`` has the
counts.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reme.errors import ReMeError
from reme.memory import Memory
from reme.retrieval.embedding import RandomEncoder

LONG = os.environ.get("REME_LONG") == "1"
FUZZ_EXAMPLES = 1000 if LONG else 60
fuzz = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not LONG,
)

# ------------------------------------------------------------------------------------------ strategies
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
texts = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
    st.binary(max_size=60),
    st.sampled_from(["", " ", "\x00", "\n\t", "a" * 300_000, "💥" * 10, "\u202e\u200b"]),
    numbers,
    st.none(),
)
json_values = st.recursive(
    st.one_of(st.none(), numbers, st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
targets = st.one_of(
    st.none(),
    st.sampled_from(["user:alice", "task:t", "tool:x", "default", "user:", "../etc", "user:a/b", "USER:X", "*"]),
    st.text(max_size=20),
    numbers,
)


def check_library_error(exc: BaseException) -> None:
    """Only the library's errors may escape; their message must say something."""
    assert isinstance(exc, ReMeError), f"{type(exc).__name__}: {exc}"
    assert str(exc).strip()


@pytest.fixture(scope="module")
def memory(tmp_path_factory):
    mem = Memory(tmp_path_factory.mktemp("fuzz") / "ws", encoder=RandomEncoder(16))
    mem.add("Alice moved to Lisbon in May 2024.", "user:alice")
    yield mem
    mem.close()


def snapshot(mem: Memory) -> list[tuple[str, str, str]]:
    return sorted((n.memory_id, n.content, json.dumps(n.metadata, sort_keys=True)) for n in mem.list())


# ------------------------------------------------------------------------------------------ Memory API
@fuzz
@given(content=texts, target=targets, metadata=st.one_of(st.none(), json_values), when=texts, time=texts)
def test_add_writes_all_or_nothing(memory, content, target, metadata, when, time):
    before = snapshot(memory)
    try:
        node = memory.add(content, target, metadata=metadata, when_to_use=when, message_time=time)
    except BaseException as exc:
        check_library_error(exc)
        assert snapshot(memory) == before  # nothing half-written
        return
    if node is not None:
        stored = memory.get(node.memory_id)
        assert stored.content == node.content and stored.metadata == node.metadata
        json.dumps(stored.model_dump(), allow_nan=False)  # what is stored can always be served as JSON


@fuzz
@given(items=st.lists(st.one_of(texts, st.dictionaries(st.sampled_from(["content", "memory_target", "score",
                                                                        "metadata", "memory_type"]), json_values)),
                      min_size=1, max_size=5))  # fmt: skip
def test_add_many_validates_everything_first(memory, items):
    before = snapshot(memory)
    try:
        memory.add_many(items, "user:batch")
    except BaseException as exc:
        check_library_error(exc)
        assert snapshot(memory) == before


@fuzz
@given(query=texts, limit=st.one_of(numbers, st.none()), target=targets, min_score=st.one_of(st.none(), numbers))
def test_search_returns_hits_or_a_clear_error(memory, query, limit, target, min_score):
    try:
        hits = memory.search(query, limit, target, min_score=min_score)
    except BaseException as exc:
        check_library_error(exc)
        return
    assert isinstance(hits, list)
    for hit in hits:
        assert math.isfinite(hit.score)


@fuzz
@given(value=numbers, decision_id=st.one_of(st.none(), texts), memory_id=st.one_of(st.none(), texts))
def test_feedback_never_logs_a_non_finite_reward(memory, value, decision_id, memory_id):
    try:
        event = memory.feedback(value, decision_id=decision_id, memory_id=memory_id)
    except BaseException as exc:
        check_library_error(exc)
        return
    assert math.isfinite(event.value)


@fuzz
@given(content=texts, metadata=st.one_of(st.none(), json_values), score=st.one_of(st.none(), numbers))
def test_update_is_all_or_nothing(memory, content, metadata, score):
    node = memory.add("Bob adopted a beagle called Pixel.", "user:bob")
    assert node is not None
    before = snapshot(memory)
    try:
        memory.update(node.memory_id, content, metadata=metadata, score=score)
    except BaseException as exc:
        check_library_error(exc)
        assert snapshot(memory) == before


@fuzz
@given(limit=st.one_of(numbers, st.none()), target=targets)
def test_list_bounds(memory, limit, target):
    try:
        memory.list(target, limit)
    except BaseException as exc:
        check_library_error(exc)


# ------------------------------------------------------------------------------------------ compaction
message = st.fixed_dictionaries(
    {},
    optional={
        "role": st.one_of(st.sampled_from(["user", "assistant", "system", "tool"]), json_values),
        "content": st.one_of(texts, json_values, st.lists(st.dictionaries(st.sampled_from(["type", "text", "id",
                                                                                          "name", "input"]),
                                                                         json_values), max_size=3)),
        "tool_calls": json_values,
        "tool_call_id": json_values,
        "name": json_values,
    },
)  # fmt: skip


@fuzz
@given(messages=st.one_of(st.lists(message, max_size=8), json_values), threshold=numbers, reserve=numbers)
def test_check_context_rejects_malformed_messages_cleanly(messages, threshold, reserve):
    from reme.reme_light.context import check_context

    try:
        to_compact, to_keep, valid, _ = check_context(messages, threshold, reserve)
    except BaseException as exc:
        check_library_error(exc)
        return
    if valid:
        assert len(to_compact) + len(to_keep) == len(messages)


# ------------------------------------------------------------------------------------------ datasets
def _valid_locomo() -> dict[str, Any]:
    from reme.datasets import generate_synthetic

    return dict(generate_synthetic(1, sessions=2, seed=3)[0])


def _mutate(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """A copy of ``value`` with random fields deleted, retyped or replaced."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            choice = data.draw(st.integers(0, 9))
            if choice == 0:
                continue  # delete the field
            if choice == 1:
                out[key] = data.draw(json_values)  # retype it
            else:
                out[key] = _mutate(item, data, depth + 1) if depth < 4 else item
        return out
    if isinstance(value, list):
        return [_mutate(v, data, depth + 1) for v in value[: data.draw(st.integers(0, len(value)))]]
    return value


@fuzz
@given(data=st.data())
def test_mutated_dataset_files_load_or_fail_clearly(tmp_path_factory, data):
    from reme.datasets import load_dataset

    path = tmp_path_factory.mktemp("ds") / "data.json"
    kind = data.draw(st.integers(0, 2))
    if kind == 0:
        path.write_bytes(data.draw(st.binary(max_size=200)))
    elif kind == 1:
        path.write_text(json.dumps(data.draw(json_values)), encoding="utf-8")
    else:
        path.write_text(json.dumps([_mutate(_valid_locomo(), data)]), encoding="utf-8")
    fmt = data.draw(st.sampled_from(["auto", "locomo", "longmemeval"]))
    try:
        episodes, _ = load_dataset(path, fmt)
    except BaseException as exc:
        check_library_error(exc)
        return
    for ep in episodes:
        for q in ep.questions:
            assert q.question.strip()


# ------------------------------------------------------------------------------------------ checkpoints
@fuzz
@given(data=st.data())
def test_corrupted_checkpoints_are_refused(tmp_path_factory, data):
    from reme.policy.rank import MLPRankPolicy, RankState

    root = tmp_path_factory.mktemp("ckpt") / "policy"
    MLPRankPolicy(hidden=4, seed=0).save(root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    victim = files[data.draw(st.integers(0, len(files) - 1))]
    blob = victim.read_bytes()
    how = data.draw(st.integers(0, 3))
    if how == 0:
        victim.write_bytes(blob[: data.draw(st.integers(0, max(len(blob) - 1, 0)))])  # truncated
    elif how == 1:
        at = data.draw(st.integers(0, max(len(blob) - 1, 0)))
        victim.write_bytes(blob[:at] + bytes([blob[at] ^ 0xFF]) + blob[at + 1 :] if blob else b"x")  # bit flip
    elif how == 2:
        victim.write_bytes(data.draw(st.binary(max_size=300)))
    else:
        victim.unlink()
    try:
        policy = MLPRankPolicy.load(root)
    except BaseException as exc:
        check_library_error(exc)
        return
    # a flipped byte can land in a float and still load: then the policy must still produce valid decisions
    rows = np.random.default_rng(0).normal(size=(6, len(policy.feature_names))).astype(np.float32)
    state = RankState(features=rows, k=3)
    try:
        decision = policy.decide(state)
    except BaseException as exc:
        check_library_error(exc)
        return
    assert decision.logprob is None or math.isfinite(decision.logprob)


# ------------------------------------------------------------------------------------------ file tools
@fuzz
@given(
    path=st.one_of(
        texts,
        st.sampled_from(
            [
                "../x.md",
                "/etc/passwd",
                "memory/../../x.md",
                "link/x.md",
                "~/.ssh/k",
                "memory/../MEMORY.md",
                ".reme/records.sqlite",
                "trajectories/a",
            ]
        ),
    )
)
def test_writer_file_tools_stay_in_the_workspace(tmp_path_factory, path):  # fmt: skip
    from reme.reme_light.writer import FileTools

    root = tmp_path_factory.mktemp("light")
    outside = tmp_path_factory.mktemp("outside")
    (root / "link").symlink_to(outside, target_is_directory=True)
    tools = FileTools(root)
    try:
        tools.write_file(path, "- a fact")
    except BaseException as exc:
        check_library_error(exc)
    assert not any(outside.iterdir()), "a write escaped the workspace"
    for name in ("records.sqlite", "trajectories"):
        assert not (root / name).exists() or (root / name).is_dir()


# ------------------------------------------------------------------------------------------ CLI
@settings(
    max_examples=max(FUZZ_EXAMPLES // 3, 20),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not LONG,
)
@given(text=st.text(max_size=80), target=st.text(max_size=12), limit=st.text(max_size=6))
def test_cli_add_and_search_never_trace_back(tmp_path_factory, text, target, limit):  # fmt: skip
    from typer.testing import CliRunner

    from reme.cli import app

    ws = str(tmp_path_factory.getbasetemp() / "cli-ws")
    runner = CliRunner()
    for args in (
        ["--workspace", ws, "add", text, "--target", target],
        ["--workspace", ws, "search", text, "--target", target, "--limit", limit],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code in (0, 2), (args, result.exit_code, result.output)
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            assert result.output.strip()


def test_the_sizes_are_recorded():
    """The example counts docs/reliability.md quotes."""
    assert (1000 if LONG else 60) == FUZZ_EXAMPLES
    assert Path(__file__).name == "test_fuzz.py"
