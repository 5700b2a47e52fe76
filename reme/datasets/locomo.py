"""LoCoMo loader: one :class:`Episode` per conversation.

LoCoMo (Maharana et al., ACL 2024; CC BY-NC 4.0) is passed by path and never shipped with this package.
Each item has ``sample_id``, ``conversation`` (``speaker_a``, ``speaker_b``, ``session_N`` turn lists and
``session_N_date_time``), ``qa``, ``observation``, ``session_summary`` and ``event_summary``.
"""

from __future__ import annotations

import os
import re
from typing import Any

from reme.datasets._common import as_text, check_format, clip, collect_episodes, read_json_items
from reme.schema import DatasetReport, Episode, Question, Turn

FORMAT = "locomo"

_DIA_ID = re.compile(r"D(\d+):(\d+)")
_SESSION_KEY = re.compile(r"session_(\d+)")
_OBSERVATION_KEY = re.compile(r"session_(\d+)_observation")
_SUMMARY_KEY = re.compile(r"session_(\d+)_summary")
_ID_SEPARATORS = re.compile(r"[;,\s]+")


def load_locomo(path: str | os.PathLike[str]) -> tuple[list[Episode], DatasetReport]:
    """Load a LoCoMo JSON file; bad entries are skipped and listed in the report's warnings.

    Raises :class:`~reme.errors.DatasetError` when the file is missing, unreadable, not a JSON list, empty,
    or not LoCoMo.
    """
    items = read_json_items(path)
    check_format(items, FORMAT, path)
    return parse_locomo(items, os.fspath(path))


def parse_locomo(items: list[Any], path: str = "<data>") -> tuple[list[Episode], DatasetReport]:
    """Turn already-parsed LoCoMo items into episodes and a report (never raises on bad entries)."""
    return collect_episodes(items, _parse_item, "sample_id", FORMAT, path)


def parse_dia_ids(
    raw: Any, known: set[str] | dict[str, Any], where: str, warnings: list[str], what: str = "evidence"
) -> list[str]:
    """Valid, de-duplicated turn ids from an evidence value.

    Accepts a list of strings or one string; each string may hold several ids separated by ``;``, ``,`` or
    whitespace (``"D8:6; D9:17"`` gives two ids). Ids must read ``D<int>:<int>`` (leading zeros are
    dropped) and name a turn in ``known``. Every split, malformed or unknown entry adds a line to
    ``warnings`` (``what`` names the field in them); nothing raises.

    >>> warnings = []
    >>> parse_dia_ids(["D1:2; D1:3", "D:9", "D7:1"], {"D1:2", "D1:3"}, "conv-1 q0", warnings)
    ['D1:2', 'D1:3']
    >>> len(warnings)
    3
    """
    if raw is None:
        return []
    entries = raw if isinstance(raw, list) else [raw]
    ids: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            warnings.append(f"{where}: {what} entry {clip(entry)} is not a string; skipped")
            continue
        parts = [part for part in _ID_SEPARATORS.split(entry.strip()) if part]
        if not parts:
            warnings.append(f"{where}: empty {what} entry {entry!r}; skipped")
            continue
        if len(parts) > 1:
            warnings.append(f"{where}: {what} entry {entry!r} holds {len(parts)} ids; split")
        for part in parts:
            match = _DIA_ID.fullmatch(part)
            if match is None:
                warnings.append(f"{where}: malformed {what} id {part!r} (expected D<session>:<turn>); skipped")
                continue
            dia_id = f"D{int(match.group(1))}:{int(match.group(2))}"
            if dia_id not in known:
                warnings.append(f"{where}: {what} id {dia_id!r} names no turn of the conversation; skipped")
                continue
            if dia_id not in ids:
                ids.append(dia_id)
    return ids


def _parse_item(item: Any, position: int, warnings: list[str]) -> Episode | None:
    """One conversation, or ``None`` (with a warning) when the item is unusable."""
    if not isinstance(item, dict):
        warnings.append(f"item {position}: not a JSON object; skipped")
        return None
    sample_id = item.get("sample_id")
    if isinstance(sample_id, int) and not isinstance(sample_id, bool):
        sample_id = str(sample_id)
    if not isinstance(sample_id, str) or not sample_id.strip():
        warnings.append(f"item {position}: missing or invalid sample_id {clip(sample_id)}; skipped")
        return None
    conversation = item.get("conversation")
    if not isinstance(conversation, dict):
        warnings.append(f"{sample_id}: 'conversation' is missing or not an object; skipped")
        return None
    turns, session_dates = _parse_turns(sample_id, conversation, warnings)
    if not turns:
        warnings.append(f"{sample_id}: no usable turns; skipped")
        return None
    turn_ids = {turn.turn_id: turn for turn in turns}
    speakers = [conversation[key] for key in ("speaker_a", "speaker_b") if isinstance(conversation.get(key), str)]
    return Episode(
        episode_id=sample_id,
        format=FORMAT,
        speakers=speakers,
        turns=turns,
        questions=_parse_questions(sample_id, item.get("qa"), turn_ids, warnings),
        session_dates=session_dates,
        observations=_parse_observations(sample_id, item.get("observation"), turn_ids, warnings),
        session_summaries=_parse_summaries(sample_id, item.get("session_summary"), warnings),
    )


def _session_keys(conversation: dict[str, Any]) -> list[tuple[int, str]]:
    """``(number, key)`` for every ``session_N`` key, in numeric order."""
    keys = []
    for key in conversation:
        match = _SESSION_KEY.fullmatch(key)
        if match:
            keys.append((int(match.group(1)), key))
    return sorted(keys)


def _parse_turns(
    sample_id: str, conversation: dict[str, Any], warnings: list[str]
) -> tuple[list[Turn], dict[str, str]]:
    """All turns of all sessions in numeric session order, and the date of each session that has turns."""
    turns: list[Turn] = []
    dates: dict[str, str] = {}
    seen: set[str] = set()
    session_index = 0
    for number, key in _session_keys(conversation):
        raw_turns = conversation[key]
        if not isinstance(raw_turns, list):
            warnings.append(f"{sample_id}: {key} is not a list of turns; skipped")
            continue
        date = conversation.get(f"{key}_date_time")
        date = date.strip() if isinstance(date, str) else ""
        session_turns = []
        for turn_index, raw in enumerate(raw_turns):
            turn = _parse_turn(raw, f"{sample_id} {key} turn {turn_index}", warnings)
            if turn is None:
                continue
            if turn["dia_id"] in seen:
                warnings.append(f"{sample_id} {key} turn {turn_index}: duplicate dia_id {turn['dia_id']!r}; skipped")
                continue
            seen.add(turn["dia_id"])
            session_turns.append(
                Turn(
                    turn_id=turn["dia_id"],
                    session_id=key,
                    session_index=session_index,
                    turn_index=turn_index,
                    speaker=turn["speaker"],
                    text=turn["text"],
                    date=date,
                    image_caption=turn["caption"],
                )
            )
        if session_turns:
            turns.extend(session_turns)
            dates[key] = date
            session_index += 1
        else:
            warnings.append(f"{sample_id}: {key} has no usable turns (session {number})")
    return turns, dates


def _parse_turn(raw: Any, where: str, warnings: list[str]) -> dict[str, str] | None:
    """The fields of one raw turn as strings, or ``None`` (with a warning) when it is unusable."""
    if not isinstance(raw, dict):
        warnings.append(f"{where}: not a JSON object; skipped")
        return None
    dia_id, speaker, text = raw.get("dia_id"), raw.get("speaker"), raw.get("text")
    if not isinstance(dia_id, str) or _DIA_ID.fullmatch(dia_id.strip()) is None:
        warnings.append(f"{where}: missing or malformed dia_id {clip(dia_id)}; skipped")
        return None
    if not isinstance(speaker, str) or not speaker.strip():
        warnings.append(f"{where} ({dia_id}): missing speaker; skipped")
        return None
    if not isinstance(text, str) or not text.strip():
        warnings.append(f"{where} ({dia_id}): missing, empty or non-string text; skipped")
        return None
    caption = raw.get("blip_caption")
    return {
        "dia_id": dia_id.strip(),
        "speaker": speaker,
        "text": text,
        "caption": caption.strip() if isinstance(caption, str) else "",
    }


def _parse_questions(sample_id: str, qa: Any, turns: dict[str, Turn], warnings: list[str]) -> list[Question]:
    """The ``qa`` list as questions with repaired evidence."""
    if qa is None:
        return []
    if not isinstance(qa, list):
        warnings.append(f"{sample_id}: 'qa' is not a list; no questions loaded")
        return []
    questions = []
    for index, raw in enumerate(qa):
        where = f"{sample_id} q{index}"
        if not isinstance(raw, dict):
            warnings.append(f"{where}: not a JSON object; skipped")
            continue
        text = raw.get("question")
        if not isinstance(text, str) or not text.strip():
            warnings.append(f"{where}: missing or empty question; skipped")
            continue
        answer = raw.get("answer")
        if answer is None:
            answer = raw.get("adversarial_answer")
        if answer is None:
            warnings.append(f"{where}: no answer or adversarial_answer")
        category = raw.get("category")
        if category is None:
            warnings.append(f"{where}: no category")
        evidence = parse_dia_ids(raw.get("evidence"), turns, where, warnings)
        sessions = sorted({turns[dia_id].session_index: turns[dia_id].session_id for dia_id in evidence}.items())
        questions.append(
            Question(
                question_id=f"{sample_id}:q{index}",
                question=text,
                answer=as_text(answer),
                category=as_text(category),
                evidence=evidence,
                answer_session_ids=[session_id for _, session_id in sessions],
                adversarial=as_text(category) == "5",
            )
        )
    return questions


def _parse_observations(sample_id: str, raw: Any, turns: dict[str, Turn], warnings: list[str]) -> dict[str, list[str]]:
    """``observation`` as facts per source turn id.

    The file holds ``{"session_N_observation": {speaker: [[fact, source], ...]}}`` where ``source`` is one id,
    a list of ids, or (rarely) several ids in one string.
    """
    facts: dict[str, list[str]] = {}
    if raw is None:
        return facts
    if not isinstance(raw, dict):
        warnings.append(f"{sample_id}: 'observation' is not an object; ignored")
        return facts
    keyed = sorted((int(m.group(1)), key) for key in raw if (m := _OBSERVATION_KEY.fullmatch(key)))
    for _, key in keyed:
        by_speaker = raw[key]
        if not isinstance(by_speaker, dict):
            warnings.append(f"{sample_id} {key}: not an object; ignored")
            continue
        for speaker, entries in by_speaker.items():
            if not isinstance(entries, list):
                warnings.append(f"{sample_id} {key} {speaker}: not a list; ignored")
                continue
            for position, entry in enumerate(entries):
                where = f"{sample_id} {key} {speaker} fact {position}"
                if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
                    warnings.append(f"{where}: expected [fact, source id]; skipped")
                    continue
                for dia_id in parse_dia_ids(entry[1], turns, where, warnings, what="source"):
                    facts.setdefault(dia_id, []).append(entry[0])
    return facts


def _parse_summaries(sample_id: str, raw: Any, warnings: list[str]) -> dict[str, str]:
    """``session_summary`` keyed by session id (``session_N``)."""
    summaries: dict[str, str] = {}
    if raw is None:
        return summaries
    if not isinstance(raw, dict):
        warnings.append(f"{sample_id}: 'session_summary' is not an object; ignored")
        return summaries
    for key, text in raw.items():
        match = _SUMMARY_KEY.fullmatch(key)
        if match is None or not isinstance(text, str):
            warnings.append(f"{sample_id}: session summary {clip(key)} is not 'session_N_summary' text; ignored")
            continue
        summaries[f"session_{match.group(1)}"] = text
    return summaries
