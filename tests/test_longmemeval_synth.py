"""The synthetic LongMemEval-format generator: determinism, loadability, evidence marks, distractors and the cap."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from reme.datasets import generate_longmemeval_synthetic, load_dataset
from reme.datasets.dates import parse_date
from reme.datasets.first_person import first_person
from reme.datasets.longmemeval_synth import (
    ABSTENTION_ANSWER,
    QUESTION_TYPES,
    SESSIONS_PER_CONVERSATION,
    lme_date,
    write_longmemeval_synthetic,
)
from reme.errors import BadInputError
from reme.eval import is_scored


@pytest.fixture(scope="module")
def default_items() -> list[dict[str, Any]]:
    return generate_longmemeval_synthetic()


def _conversation(session_id: str) -> int:
    """``sess_{conv}_{n}`` -> ``conv``."""
    return int(session_id.split("_")[1])


def _marked_sessions(item: dict[str, Any]) -> list[str]:
    return [
        sid
        for sid, session in zip(item["haystack_session_ids"], item["haystack_sessions"])
        if any(turn.get("has_answer") for turn in session)
    ]


def _when(text: str) -> datetime:
    iso = parse_date(text)
    assert iso, text
    return datetime.fromisoformat(iso)


def test_deterministic_per_seed() -> None:
    a = generate_longmemeval_synthetic(n_questions=12, seed=5, haystack_sessions=10)
    assert a == generate_longmemeval_synthetic(n_questions=12, seed=5, haystack_sessions=10)
    assert a != generate_longmemeval_synthetic(n_questions=12, seed=6, haystack_sessions=10)


def test_deterministic_across_processes() -> None:
    """Hash randomization (PYTHONHASHSEED) must not change the output."""
    code = (
        "import hashlib, json; from reme.datasets import generate_longmemeval_synthetic as g; "
        "print(hashlib.sha256(json.dumps(g(n_questions=20, seed=3), sort_keys=True).encode()).hexdigest())"
    )
    root = Path(__file__).resolve().parents[1]
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for hash_seed in ("1", "12345")
    }
    local = generate_longmemeval_synthetic(n_questions=20, seed=3)
    assert digests == {hashlib.sha256(json.dumps(local, sort_keys=True).encode()).hexdigest()}


def test_loads_without_warnings(tmp_path: Path, default_items: list[dict[str, Any]]) -> None:
    path = write_longmemeval_synthetic(tmp_path / "sub" / "lme.json")
    assert json.loads(path.read_text(encoding="utf-8")) == default_items
    episodes, report = load_dataset(path)
    assert report.format == "longmemeval"
    assert report.warnings == []
    assert report.episodes == report.questions == 60
    abstentions = [ep for ep in episodes if ep.questions[0].adversarial]
    assert 1 <= len(abstentions) <= 6
    assert sum(is_scored(ep.questions[0], "longmemeval") for ep in episodes) == 60 - len(abstentions)
    for episode in episodes:
        question = episode.questions[0]
        assert question.evidence == [t.turn_id for t in episode.turns if t.has_answer]
        assert bool(question.evidence) != question.adversarial


def test_item_shape(default_items: list[dict[str, Any]]) -> None:
    ids = [item["question_id"] for item in default_items]
    assert len(set(ids)) == len(ids) == 60
    types = {item["question_type"] for item in default_items}
    assert types == set(QUESTION_TYPES.values())
    for item in default_items:
        assert isinstance(item["answer"], str) and item["answer"]
        assert len(set(item["haystack_session_ids"])) == len(item["haystack_session_ids"])
        assert len(item["haystack_dates"]) == len(item["haystack_sessions"]) == len(item["haystack_session_ids"])
        dates = [_when(d) for d in item["haystack_dates"]]
        assert all(a <= b for a, b in pairwise(dates)), "haystack not in date order"
        assert _when(item["question_date"]) > dates[-1]
        for session in item["haystack_sessions"]:
            assert session and all(turn["role"] in ("user", "assistant") and turn["content"] for turn in session)
    assert lme_date(datetime(2023, 5, 20, 2, 21)) == "2023/05/20 (Sat) 02:21"


def test_answer_sessions_match_has_answer(default_items: list[dict[str, Any]]) -> None:
    for item in default_items:
        answer_sessions = item["answer_session_ids"]
        assert set(answer_sessions) <= set(item["haystack_session_ids"])
        assert sorted(_marked_sessions(item)) == sorted(answer_sessions)
        if item["question_id"].endswith("_abs"):
            assert answer_sessions == []
            assert item["answer"] == ABSTENTION_ANSWER
        else:
            assert answer_sessions
        # marks only sit on turns of the question's own conversation
        assert len({_conversation(sid) for sid in answer_sessions}) <= 1


def test_distractors_come_from_other_conversations(default_items: list[dict[str, Any]]) -> None:
    sources = set()
    for item in default_items:
        if item["question_id"].endswith("_abs"):
            continue
        own = _conversation(item["answer_session_ids"][0])
        sources.add(own)
        by_conversation: dict[int, list[str]] = {}
        for sid in item["haystack_session_ids"]:
            by_conversation.setdefault(_conversation(sid), []).append(sid)
        # the whole own conversation fits under the default cap of 20, the rest are distractors
        assert len(by_conversation.pop(own)) == SESSIONS_PER_CONVERSATION
        distractors = [sid for sids in by_conversation.values() for sid in sids]
        assert len(distractors) == 20 - SESSIONS_PER_CONVERSATION
        assert len(by_conversation) >= 2
    assert len(sources) >= 5, "questions should come from several conversations"


@pytest.mark.parametrize("cap", [1, 3, 12])
def test_cap_holds_and_keeps_evidence(cap: int) -> None:
    items = generate_longmemeval_synthetic(n_questions=30, seed=2, haystack_sessions=cap)
    full = {item["question_id"]: item for item in generate_longmemeval_synthetic(n_questions=30, seed=2)}
    spilled = 0
    for item in items:
        n_evidence = len(item["answer_session_ids"])
        assert len(item["haystack_session_ids"]) == max(cap, n_evidence)
        spilled += n_evidence > cap
        assert sorted(_marked_sessions(item)) == sorted(item["answer_session_ids"])
        # the same evidence sessions as with the default cap
        assert sorted(item["answer_session_ids"]) == sorted(full[item["question_id"]]["answer_session_ids"])
        if not item["question_id"].endswith("_abs") and cap > n_evidence:
            own = _conversation(item["answer_session_ids"][0])
            others = [sid for sid in item["haystack_session_ids"] if _conversation(sid) != own]
            # own sessions come first, distractors only fill what is left
            assert len(others) == max(0, cap - SESSIONS_PER_CONVERSATION)
    if cap == 1:
        assert spilled, "some multi-session question should exceed a cap of one"


@pytest.mark.parametrize(
    "kw",
    [
        {"n_questions": 0},
        {"haystack_sessions": 0},
        {"n_questions": 2.5},
        {"seed": True},
        {"haystack_sessions": 5000},
        {"shape": "locomo"},
    ],
)
def test_rejects_bad_arguments(kw: dict[str, Any]) -> None:
    with pytest.raises(BadInputError):
        generate_longmemeval_synthetic(**kw)


def _lengths(items: list[dict[str, Any]], role: str) -> list[int]:
    return [len(t["content"]) for it in items for s in it["haystack_sessions"] for t in s if t["role"] == role]


def test_turns_are_shaped_like_longmemeval(default_items: list[dict[str, Any]]) -> None:
    """Real LongMemEval_S: user turns of ~183 characters and assistant replies of ~1,715 at the median, every
    evidence turn a user turn. The plain shape keeps the conversations' short turns."""
    from statistics import median

    assert 140 <= median(_lengths(default_items, "user")) <= 240
    assert 1300 <= median(_lengths(default_items, "assistant")) <= 2200
    marked = [t for it in default_items for s in it["haystack_sessions"] for t in s if t.get("has_answer")]
    assert marked and all(t["role"] == "user" for t in marked)
    plain = generate_longmemeval_synthetic(shape="plain")
    assert median(_lengths(plain, "assistant")) < 700 and median(_lengths(plain, "user")) < 100
    # the same questions (in the first person), sessions and evidence; only the text differs
    for a, b in zip(default_items, plain, strict=True):
        assert a["question"] == first_person(b["question"]) and a["answer_session_ids"] == b["answer_session_ids"]
        assert [len(s) for s in a["haystack_sessions"]] == [len(s) for s in b["haystack_sessions"]]
        for sa, sb in zip(a["haystack_sessions"], b["haystack_sessions"], strict=True):
            for ta, tb in zip(sa, sb, strict=True):
                assert ta.get("has_answer") == tb.get("has_answer")
                assert ta["content"].startswith(tb["content"].split(". ")[0])


def test_assistant_replies_echo_the_user_turn(default_items: list[dict[str, Any]]) -> None:
    """A shaped reply talks about what the user just said: it shares content words with the user turn before it."""
    from reme.datasets.longmemeval_synth import _content_words

    shared = total = 0
    for item in default_items[:10]:
        for session in item["haystack_sessions"]:
            for user, reply in pairwise(session):
                if user["role"] == "user" and reply["role"] == "assistant":
                    total += 1
                    shared += bool(set(_content_words(user["content"])) & set(_content_words(reply["content"])))
    assert total and shared / total > 0.9


def test_shaped_questions_are_the_users_own_in_the_first_person():
    """LongMemEval's questions say "I" and "my"; "the user" in a question would make speaker_in_query fire on every
    user turn, a cue real questions never give."""
    shaped = generate_longmemeval_synthetic(n_questions=30, seed=5)
    plain = generate_longmemeval_synthetic(n_questions=30, seed=5, shape="plain")
    assert not any(re.search(r"\bthe user\b|\btheir\b|\bthey\b", item["question"], re.I) for item in shaped)
    assert sum(bool(re.search(r"\b(I|my|me)\b", item["question"])) for item in shaped) >= 25
    assert sum("the user" in item["question"] for item in plain) >= 20  # the plain file keeps the old phrasing
    assert [i["question_id"] for i in shaped] == [i["question_id"] for i in plain]
    assert first_person("What present did the user receive from their sibling?") == (
        "What present did I receive from my sibling?"
    )
    assert first_person("Is the user likely to know it?") == "Am I likely to know it?"
    assert first_person("Where does the user's cousin take the user to eat?") == "Where does my cousin take me to eat?"
