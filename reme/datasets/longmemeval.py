"""LongMemEval loader: one :class:`Episode` per question, its haystack sessions as the turns.

Each item of the official JSON has ``question_id``, ``question_type``, ``question``, ``answer``,
``question_date``, ``haystack_session_ids``, ``haystack_dates``, ``haystack_sessions`` (a list of sessions,
each a list of ``{role, content, has_answer?}``) and ``answer_session_ids``. Abstention questions have an id
ending in ``_abs``.
"""

from __future__ import annotations

import os
from typing import Any

from reme.datasets._common import as_text, check_format, clip, collect_episodes, read_json_items
from reme.schema import DatasetReport, Episode, Question, Turn

FORMAT = "longmemeval"

_REQUIRED = (
    "question_id",
    "question_type",
    "question",
    "answer",
    "haystack_session_ids",
    "haystack_dates",
    "haystack_sessions",
)


def load_longmemeval(path: str | os.PathLike[str]) -> tuple[list[Episode], DatasetReport]:
    """Load a LongMemEval JSON file; bad items, sessions and turns are skipped and listed in the warnings.

    Raises :class:`~reme.errors.DatasetError` when the file is missing, unreadable, not a JSON list, empty,
    or not LongMemEval.
    """
    items = read_json_items(path)
    check_format(items, FORMAT, path)
    return parse_longmemeval(items, os.fspath(path))


def parse_longmemeval(items: list[Any], path: str = "<data>") -> tuple[list[Episode], DatasetReport]:
    """Turn already-parsed LongMemEval items into episodes and a report (never raises on bad entries)."""
    return collect_episodes(items, _parse_item, "question_id", FORMAT, path)


def _parse_item(item: Any, position: int, warnings: list[str]) -> Episode | None:
    """One question and its haystack, or ``None`` (with a warning) when the item is unusable."""
    if not isinstance(item, dict):
        warnings.append(f"item {position}: not a JSON object; skipped")
        return None
    question_id = item.get("question_id")
    if isinstance(question_id, int) and not isinstance(question_id, bool):
        question_id = str(question_id)
    where = f"item {position} ({question_id})" if isinstance(question_id, str) else f"item {position}"
    missing = [key for key in _REQUIRED if key not in item]
    if missing:
        warnings.append(f"{where}: missing {', '.join(missing)}; skipped")
        return None
    if not isinstance(question_id, str) or not question_id.strip():
        warnings.append(f"{where}: question_id {clip(question_id)} is not a non-empty string; skipped")
        return None
    question = item["question"]
    if not isinstance(question, str) or not question.strip():
        warnings.append(f"{where}: question is not a non-empty string; skipped")
        return None
    session_ids, dates, sessions = item["haystack_session_ids"], item["haystack_dates"], item["haystack_sessions"]
    for name, value in (
        ("haystack_session_ids", session_ids),
        ("haystack_dates", dates),
        ("haystack_sessions", sessions),
    ):
        if not isinstance(value, list):
            warnings.append(f"{where}: {name} is not a list; skipped")
            return None
    if not len(session_ids) == len(dates) == len(sessions):
        warnings.append(
            f"{where}: haystack lengths differ (session ids {len(session_ids)}, dates {len(dates)}, "
            f"sessions {len(sessions)}); skipped"
        )
        return None
    turns, session_dates = _parse_haystack(where, session_ids, dates, sessions, warnings)
    if not turns:
        warnings.append(f"{where}: no usable turns in the haystack; skipped")
        return None
    speakers = list(dict.fromkeys(turn.speaker for turn in turns))
    return Episode(
        episode_id=question_id,
        format=FORMAT,
        speakers=speakers,
        turns=turns,
        questions=[_parse_question(item, question_id, question, turns, session_dates, where, warnings)],
        session_dates=session_dates,
    )


def _parse_haystack(
    where: str, session_ids: list[Any], dates: list[Any], sessions: list[Any], warnings: list[str]
) -> tuple[list[Turn], dict[str, str]]:
    """Turns of every usable haystack session, and each kept session's date."""
    turns: list[Turn] = []
    session_dates: dict[str, str] = {}
    session_index = 0
    for position, (session_id, date, session) in enumerate(zip(session_ids, dates, sessions, strict=True)):
        here = f"{where} session {position}"
        if not isinstance(session_id, str) or not session_id.strip():
            warnings.append(f"{here}: session id {clip(session_id)} is not a non-empty string; session skipped")
            continue
        if session_id in session_dates:
            warnings.append(f"{here}: duplicate session id {session_id!r}; session skipped")
            continue
        if not isinstance(session, list):
            warnings.append(f"{here} ({session_id}): not a list of turns; session skipped")
            continue
        if not isinstance(date, str):
            warnings.append(f"{here} ({session_id}): date {clip(date)} is not a string; left empty")
            date = ""
        kept = [
            turn
            for turn_index, raw in enumerate(session)
            if (turn := _parse_turn(raw, session_id, session_index, turn_index, date, here, warnings)) is not None
        ]
        if not kept:
            warnings.append(f"{here} ({session_id}): no usable turns; session skipped")
            continue
        turns.extend(kept)
        session_dates[session_id] = date
        session_index += 1
    return turns, session_dates


def _parse_turn(
    raw: Any, session_id: str, session_index: int, turn_index: int, date: str, where: str, warnings: list[str]
) -> Turn | None:
    """One haystack turn, or ``None`` (with a warning) when it is unusable."""
    here = f"{where} ({session_id}) turn {turn_index}"
    if not isinstance(raw, dict):
        warnings.append(f"{here}: not a JSON object; skipped")
        return None
    role, content = raw.get("role"), raw.get("content")
    if not isinstance(role, str) or not role.strip():
        warnings.append(f"{here}: missing or non-string role; skipped")
        return None
    if not isinstance(content, str):
        warnings.append(f"{here}: content is {clip(content, 30)}, not a string; skipped")
        return None
    if not content.strip():
        warnings.append(f"{here}: empty content; skipped")
        return None
    has_answer = raw.get("has_answer", False)
    if not isinstance(has_answer, bool):
        warnings.append(f"{here}: has_answer {clip(has_answer, 30)} is not a boolean; read as {bool(has_answer)}")
        has_answer = bool(has_answer)
    return Turn(
        turn_id=f"{session_id}:{turn_index}",
        session_id=session_id,
        session_index=session_index,
        turn_index=turn_index,
        speaker=role,
        text=content,
        date=date,
        has_answer=has_answer,
    )


def _parse_question(
    item: dict[str, Any],
    question_id: str,
    question: str,
    turns: list[Turn],
    session_dates: dict[str, str],
    where: str,
    warnings: list[str],
) -> Question:
    """The item's one question: evidence = turns marked ``has_answer``; unknown answer sessions are dropped."""
    answer_sessions: list[str] = []
    raw_sessions = item.get("answer_session_ids", [])
    if not isinstance(raw_sessions, list):
        warnings.append(f"{where}: answer_session_ids is not a list; ignored")
        raw_sessions = []
    for session_id in raw_sessions:
        if not isinstance(session_id, str) or session_id not in session_dates:
            warnings.append(f"{where}: answer session {clip(session_id)} is not in the haystack; dropped")
        elif session_id not in answer_sessions:
            answer_sessions.append(session_id)
    question_date = item.get("question_date", "")
    if not isinstance(question_date, str):
        warnings.append(f"{where}: question_date {clip(question_date)} is not a string; left empty")
        question_date = ""
    return Question(
        question_id=question_id,
        question=question,
        answer=as_text(item["answer"]),
        category=as_text(item["question_type"]),
        evidence=[turn.turn_id for turn in turns if turn.has_answer],
        answer_session_ids=answer_sessions,
        question_date=question_date,
        adversarial=question_id.endswith("_abs"),
    )
