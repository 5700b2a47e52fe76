"""Dataset loaders: the real LoCoMo file (when present), hand-written fixtures, and every bad-input case."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from reme.datasets import load_dataset, load_locomo, load_longmemeval, parse_dia_ids
from reme.errors import BadInputError, DatasetError
from reme.schema import Episode

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCOMO_PATH = Path(os.environ.get("REME_LOCOMO_PATH", REPO_ROOT / "../shared/data/locomo/locomo_train.json"))


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------
# The real LoCoMo file


@pytest.fixture(scope="module")
def real_locomo() -> tuple[list[Episode], Any]:
    if not LOCOMO_PATH.is_file():
        pytest.skip(f"LoCoMo file not found at {LOCOMO_PATH} (set REME_LOCOMO_PATH)")
    return load_locomo(LOCOMO_PATH)


def test_real_locomo_counts(real_locomo: tuple[list[Episode], Any]) -> None:
    episodes, report = real_locomo
    assert report.format == "locomo"
    assert report.episodes == len(episodes) == 6
    assert [e.episode_id for e in episodes] == ["conv-26", "conv-30", "conv-41", "conv-42", "conv-43", "conv-44"]
    assert sum(len(e.turns) for e in episodes) == 3435
    assert report.questions == sum(len(e.questions) for e in episodes) == 1157
    with_evidence = [q for e in episodes for q in e.questions if q.category in {"1", "2", "3", "4"} and q.evidence]
    assert len(with_evidence) == 883


def test_real_locomo_repairs_and_warnings(real_locomo: tuple[list[Episode], Any]) -> None:
    episodes, report = real_locomo
    by_id = {q.question_id: q for e in episodes for q in e.questions}
    split = by_id["conv-26:q37"]
    assert split.evidence == ["D8:6", "D9:17"]
    assert split.answer_session_ids == ["session_8", "session_9"]
    text = "\n".join(report.warnings)
    assert "conv-26 q37" in text and "'D8:6; D9:17'" in text
    assert "conv-42 q58" in text and "'D10:19'" in text
    assert "conv-42 q88" in text and "malformed evidence id 'D'" in text
    assert "conv-43 q18" in text and "'D:11:26'" in text
    for episode in episodes:
        turn_ids = {t.turn_id for t in episode.turns}
        assert len(turn_ids) == len(episode.turns)
        assert all(set(q.evidence) <= turn_ids for q in episode.questions)


def test_real_locomo_sessions_in_numeric_order(real_locomo: tuple[list[Episode], Any]) -> None:
    episodes, _ = real_locomo
    conv41 = next(e for e in episodes if e.episode_id == "conv-41")
    order = list(dict.fromkeys(t.session_id for t in conv41.turns))
    assert len(order) == 32
    assert order == [f"session_{n}" for n in range(1, 33)]
    assert [t.session_index for t in conv41.turns] == sorted(t.session_index for t in conv41.turns)
    assert conv41.session_dates["session_32"]


def test_real_locomo_fields(real_locomo: tuple[list[Episode], Any]) -> None:
    episodes, _ = real_locomo
    conv26 = episodes[0]
    assert conv26.speakers == ["Caroline", "Melanie"]
    first = conv26.turns[0]
    assert (first.turn_id, first.session_id, first.session_index, first.turn_index) == ("D1:1", "session_1", 0, 0)
    assert first.date == "1:56 pm on 8 May, 2023"
    assert any(t.image_caption for t in conv26.turns)
    questions = {q.question_id: q for q in conv26.questions}
    assert questions["conv-26:q1"].answer == "2022"  # an int in the file
    adversarial = [q for q in conv26.questions if q.adversarial]
    assert adversarial and all(q.category == "5" and q.answer for q in adversarial)
    assert "D1:3" in conv26.observations and conv26.observations["D1:3"][0].startswith("Caroline attended")
    assert set(conv26.session_summaries) == {f"session_{n}" for n in range(1, 20)}
    conv44 = episodes[-1]
    fact = "Andrew shared photos of a national park"  # its source string holds three ids
    multi = [dia for dia in ("D26:14", "D26:34", "D26:42") if any(fact in f for f in conv44.observations.get(dia, []))]
    assert multi == ["D26:14", "D26:34", "D26:42"]


# ---------------------------------------------------------------------------------------------------------
# A hand-written LoCoMo fixture


def _locomo_item(sample_id: str = "conv-x", qa: list[Any] | None = None) -> dict[str, Any]:
    return {
        "sample_id": sample_id,
        "conversation": {
            "speaker_a": "Ann",
            "speaker_b": "Bo",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a puppy."},
                {"speaker": "Bo", "dia_id": "D1:2", "text": "Cute!", "blip_caption": "a photo of a puppy"},
                {"speaker": "Ann", "dia_id": "D1:3", "text": "His name is Pixel."},
            ],
            "session_10_date_time": "2:00 pm on 1 July, 2023",
            "session_10": [{"speaker": "Bo", "dia_id": "D10:1", "text": "I moved to Lisbon."}],
            "session_2_date_time": "9:00 am on 20 May, 2023",
            "session_2": [{"speaker": "Bo", "dia_id": "D2:1", "text": "I ran a 10K."}],
            "session_3_date_time": "10:00 am on 1 June, 2023",
        },
        "qa": qa if qa is not None else [],
        "observation": {
            "session_1_observation": {
                "Ann": [["Ann adopted a puppy.", "D1:1"], ["The puppy is Pixel.", ["D1:1", "D1:3"]]],
                "Bo": [["Bo likes puppies.", "D1:2, D9:9"], "not a pair"],
            }
        },
        "session_summary": {"session_1_summary": "Ann adopted a puppy.", "session_2_summary": "Bo ran."},
    }


def test_locomo_evidence_repair(tmp_path: Path) -> None:
    qa = [
        {"question": "Split?", "answer": "both", "evidence": ["D1:2; D1:3"], "category": 1},
        {"question": "Unknown?", "answer": "x", "evidence": ["D9:9", "D1:1"], "category": 4},
        {"question": "Malformed?", "answer": "x", "evidence": ["D", "D:1:1", "1:1", "D1-1"], "category": 4},
        {"question": "Spaces and zeros?", "answer": "x", "evidence": [" D2:1 ", "D01:03", "D1:3"], "category": 2},
        {"question": "A bare string?", "answer": "x", "evidence": "D10:1", "category": 3},
        {"question": "Not strings?", "answer": "x", "evidence": [7, None, "D1:1"], "category": 4},
        {"question": "Commas?", "answer": "x", "evidence": ["D1:1,D2:1"], "category": 1},
        {"question": "None?", "answer": "x", "evidence": [], "category": 4},
    ]
    episodes, report = load_locomo(_write(tmp_path / "l.json", [_locomo_item(qa=qa)]))
    evidence = [q.evidence for q in episodes[0].questions]
    assert evidence == [
        ["D1:2", "D1:3"],
        ["D1:1"],
        [],
        ["D2:1", "D1:3"],
        ["D10:1"],
        ["D1:1"],
        ["D1:1", "D2:1"],
        [],
    ]
    warnings = report.warnings
    assert "conv-x q0: evidence entry 'D1:2; D1:3' holds 2 ids; split" in warnings
    assert any("conv-x q1" in w and "'D9:9'" in w and "names no turn" in w for w in warnings)
    for bad in ("'D'", "'D:1:1'", "'1:1'", "'D1-1'"):
        assert any("conv-x q2" in w and bad in w and "malformed" in w for w in warnings), bad
    assert any("conv-x q5" in w and "7" in w for w in warnings)
    assert not any("q3" in w or "q4" in w or "q7" in w for w in warnings)
    assert episodes[0].questions[3].answer_session_ids == ["session_1", "session_2"]


def test_parse_dia_ids_directly() -> None:
    warnings: list[str] = []
    assert parse_dia_ids("D1:1; D1:1 ;", {"D1:1"}, "c q0", warnings) == ["D1:1"]
    assert parse_dia_ids(None, {"D1:1"}, "c q1", warnings) == []
    assert parse_dia_ids([""], {"D1:1"}, "c q2", warnings) == []
    assert any("empty" in w and "c q2" in w for w in warnings)


def test_locomo_structure(tmp_path: Path) -> None:
    qa = [
        {"question": "Year?", "answer": 2022, "evidence": ["D1:1"], "category": 2},
        {"question": "Trap?", "adversarial_answer": "Pixel", "evidence": ["D1:3"], "category": 5},
        {"question": "Both?", "answer": "No", "adversarial_answer": "Yes", "evidence": [], "category": 5},
        {"question": "", "answer": "x", "evidence": [], "category": 4},
        "not an object",
    ]
    episodes, report = load_locomo(_write(tmp_path / "l.json", [_locomo_item(qa=qa)]))
    (episode,) = episodes
    assert episode.episode_id == "conv-x" and episode.format == "locomo"
    assert episode.speakers == ["Ann", "Bo"]
    # Sessions in numeric order (1, 2, 10); session_3 has a date but no turns and is not a session.
    assert [t.turn_id for t in episode.turns] == ["D1:1", "D1:2", "D1:3", "D2:1", "D10:1"]
    assert [t.session_index for t in episode.turns] == [0, 0, 0, 1, 2]
    assert [t.turn_index for t in episode.turns] == [0, 1, 2, 0, 0]
    assert episode.session_dates == {
        "session_1": "1:56 pm on 8 May, 2023",
        "session_2": "9:00 am on 20 May, 2023",
        "session_10": "2:00 pm on 1 July, 2023",
    }
    assert episode.turns[1].image_caption == "a photo of a puppy"
    assert episode.turns[3].date == "9:00 am on 20 May, 2023"
    questions = episode.questions
    assert [q.question_id for q in questions] == ["conv-x:q0", "conv-x:q1", "conv-x:q2"]
    assert [q.answer for q in questions] == ["2022", "Pixel", "No"]
    assert [q.adversarial for q in questions] == [False, True, True]
    assert [q.category for q in questions] == ["2", "5", "5"]
    assert any("conv-x q3" in w for w in report.warnings) and any("conv-x q4" in w for w in report.warnings)
    assert episode.observations == {
        "D1:1": ["Ann adopted a puppy.", "The puppy is Pixel."],
        "D1:3": ["The puppy is Pixel."],
        "D1:2": ["Bo likes puppies."],
    }
    assert any("source id 'D9:9'" in w for w in report.warnings)
    assert episode.session_summaries == {"session_1": "Ann adopted a puppy.", "session_2": "Bo ran."}
    assert report.episodes == 1 and report.questions == 3


def test_locomo_bad_items_and_turns_are_skipped(tmp_path: Path) -> None:
    good = _locomo_item("good")
    good["conversation"]["session_2"] = [
        {"speaker": "Bo", "dia_id": "D2:1", "text": "Fine."},
        {"speaker": "Bo", "dia_id": "D2:1", "text": "Duplicate id."},
        {"speaker": "Bo", "dia_id": "D2:2"},
        {"speaker": "Bo", "dia_id": "oops", "text": "Bad id."},
        {"dia_id": "D2:5", "text": "No speaker."},
        "not a turn",
    ]
    no_turns = _locomo_item("empty")
    no_turns["conversation"] = {"speaker_a": "A", "speaker_b": "B", "session_1": []}
    data = [good, 42, {"conversation": {}, "qa": []}, no_turns, _locomo_item("good"), {"sample_id": "x", "qa": []}]
    episodes, report = load_locomo(_write(tmp_path / "l.json", data))
    assert [e.episode_id for e in episodes] == ["good"]
    assert [t.turn_id for t in episodes[0].turns if t.session_id == "session_2"] == ["D2:1"]
    text = "\n".join(report.warnings)
    for expected in ("duplicate dia_id", "non-string text", "malformed dia_id", "missing speaker", "item 1", "item 2"):
        assert expected in text, expected
    assert "empty: no usable turns" in text
    assert "duplicate sample_id 'good'" in text
    assert all("\n" not in w for w in report.warnings)


# ---------------------------------------------------------------------------------------------------------
# A hand-written LongMemEval fixture


def _lme_items() -> list[dict[str, Any]]:
    return [
        {
            "question_id": "q-user-1",
            "question_type": "single-session-user",
            "question": "What breed is my dog?",
            "answer": "a beagle",
            "question_date": "2023/05/30 (Tue) 23:40",
            "haystack_session_ids": ["s-a", "s-b"],
            "haystack_dates": ["2023/05/20 (Sat) 02:21", "2023/05/22 (Mon) 10:00"],
            "haystack_sessions": [
                [
                    {"role": "user", "content": "Any tips for my new beagle?", "has_answer": True},
                    {"role": "assistant", "content": "Beagles love long walks and puzzle feeders."},
                ],
                [
                    {"role": "user", "content": "Plan a trip to Lisbon.", "has_answer": False},
                    {"role": "assistant", "content": "Here is a three-day plan."},
                ],
            ],
            "answer_session_ids": ["s-a"],
        },
        {
            "question_id": "q-multi-2",
            "question_type": "multi-session",
            "question": "How many races did I run?",
            "answer": 2,
            "question_date": "2023/06/01 (Thu) 09:00",
            "haystack_session_ids": ["s-c", "s-d"],
            "haystack_dates": ["2023/05/01 (Mon) 08:00", "2023/05/15 (Mon) 08:00"],
            "haystack_sessions": [
                [{"role": "user", "content": "I ran a 10K today.", "has_answer": True}],
                [
                    {"role": "user", "content": "I ran a half marathon.", "has_answer": True},
                    {"role": "assistant", "content": "Congratulations!"},
                ],
            ],
            "answer_session_ids": ["s-c", "s-d"],
        },
        {
            "question_id": "q-user-3_abs",
            "question_type": "single-session-user",
            "question": "What is the name of my cat?",
            "answer": "You did not mention a cat.",
            "question_date": "2023/05/30 (Tue) 23:40",
            "haystack_session_ids": ["s-a"],
            "haystack_dates": ["2023/05/20 (Sat) 02:21"],
            "haystack_sessions": [[{"role": "user", "content": "Any tips for my new beagle?"}]],
            "answer_session_ids": [],
        },
    ]


def test_longmemeval_fixture(tmp_path: Path) -> None:
    episodes, report = load_longmemeval(_write(tmp_path / "lme.json", _lme_items()))
    assert report.format == "longmemeval" and report.episodes == 3 and report.questions == 3
    assert report.warnings == []
    first, multi, abstain = episodes
    assert first.episode_id == "q-user-1" and first.format == "longmemeval"
    assert [t.turn_id for t in first.turns] == ["s-a:0", "s-a:1", "s-b:0", "s-b:1"]
    assert [t.session_index for t in first.turns] == [0, 0, 1, 1]
    assert [t.speaker for t in first.turns[:2]] == ["user", "assistant"]
    assert first.speakers == ["user", "assistant"]
    assert first.turns[2].date == "2023/05/22 (Mon) 10:00"
    assert first.session_dates == {"s-a": "2023/05/20 (Sat) 02:21", "s-b": "2023/05/22 (Mon) 10:00"}
    assert [t.has_answer for t in first.turns] == [True, False, False, False]
    (question,) = first.questions
    assert question.question_id == "q-user-1"
    assert question.evidence == ["s-a:0"]
    assert question.answer_session_ids == ["s-a"]
    assert question.category == "single-session-user"
    assert question.question_date == "2023/05/30 (Tue) 23:40"
    assert not question.adversarial
    assert multi.questions[0].answer == "2"
    assert multi.questions[0].evidence == ["s-c:0", "s-d:0"]
    assert abstain.questions[0].adversarial
    assert abstain.questions[0].evidence == [] and abstain.questions[0].answer_session_ids == []


def test_longmemeval_bad_items_become_warnings(tmp_path: Path) -> None:
    items = _lme_items()
    items[0]["haystack_dates"] = items[0]["haystack_dates"][:1]  # lengths differ
    del items[1]["haystack_sessions"]  # missing key
    bad_turns = _lme_items()[1]
    bad_turns["question_id"] = "q-turns"
    bad_turns["haystack_sessions"][1] = [
        {"role": "user", "content": ["not", "a", "string"]},
        {"role": "user", "content": "Kept.", "has_answer": "yes"},
        {"content": "no role"},
        {"role": "assistant", "content": "   "},
        "not a turn",
    ]
    bad_turns["answer_session_ids"] = ["s-c", "s-zzz"]
    duplicate = dict(items[2])
    dup_sessions = _lme_items()[0]
    dup_sessions["question_id"] = "q-dup-sessions"
    dup_sessions["haystack_session_ids"] = ["s-a", "s-a"]
    episodes, report = load_longmemeval(
        _write(tmp_path / "lme.json", [*items, bad_turns, duplicate, dup_sessions, "junk", {"question_id": 5}])
    )
    assert [e.episode_id for e in episodes] == ["q-user-3_abs", "q-turns", "q-dup-sessions"]
    turns = episodes[1].turns
    assert [t.turn_id for t in turns] == ["s-c:0", "s-d:1"]
    assert turns[1].has_answer
    assert episodes[1].questions[0].answer_session_ids == ["s-c"]
    assert [t.session_id for t in episodes[2].turns] == ["s-a", "s-a"]
    text = "\n".join(report.warnings)
    for expected in (
        "haystack lengths differ",
        "missing haystack_sessions",
        "not a string",
        "has_answer 'yes' is not a boolean",
        "missing or non-string role",
        "empty content",
        "'s-zzz' is not in the haystack",
        "duplicate question_id 'q-user-3_abs'",
        "duplicate session id 's-a'",
        "item 6: not a JSON object",
        "missing question_type",
    ):
        assert expected in text, expected
    assert all("\n" not in w for w in report.warnings)


# ---------------------------------------------------------------------------------------------------------
# load_dataset: detection and whole-file errors


def test_auto_detection(tmp_path: Path) -> None:
    locomo = _write(tmp_path / "a.json", [_locomo_item(qa=[{"question": "Q?", "answer": "A", "category": 4}])])
    lme = _write(tmp_path / "b.json", _lme_items())
    episodes, report = load_dataset(locomo)
    assert report.format == "locomo" and episodes[0].format == "locomo"
    episodes, report = load_dataset(str(lme))
    assert report.format == "longmemeval" and len(episodes) == 3
    assert load_dataset(locomo, format="locomo")[1].format == "locomo"
    assert load_dataset(lme, format="longmemeval")[1].path == str(lme)


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str, str]]:
    """name -> (path, format, expected fragment of the message)."""
    bad_utf8 = tmp_path / "bad_utf8.json"
    bad_utf8.write_bytes(b'[{"sample_id": "\xff\xfe"}]')
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('[\n  {"a": 1,,}\n]', encoding="utf-8")
    (tmp_path / "folder").mkdir()
    return {
        "missing": (tmp_path / "nope.json", "auto", "not found"),
        "directory": (tmp_path / "folder", "auto", "is a directory"),
        "utf8": (bad_utf8, "auto", "not valid UTF-8"),
        "json": (bad_json, "auto", "line 2, column"),
        "object": (_write(tmp_path / "obj.json", {"qa": []}), "auto", "not a JSON object"),
        "string": (_write(tmp_path / "str.json", "text"), "auto", "not a JSON string"),
        "empty": (_write(tmp_path / "empty.json", []), "auto", "empty list"),
        "unknown content": (_write(tmp_path / "ints.json", [1, 2]), "auto", "cannot tell the format"),
        "mixed": (_write(tmp_path / "mixed.json", [_locomo_item(), _lme_items()[0]]), "auto", "mixes"),
        "unknown format": (_write(tmp_path / "ok.json", _lme_items()), "csv", "unknown dataset format 'csv'"),
        "mismatch": (_write(tmp_path / "lme.json", _lme_items()), "locomo", "looks like longmemeval, not locomo"),
        "mismatch 2": (_write(tmp_path / "loc.json", [_locomo_item()]), "longmemeval", "looks like locomo"),
        "neither": (_write(tmp_path / "other.json", [{"x": 1}]), "locomo", "is not locomo"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "directory",
        "utf8",
        "json",
        "object",
        "string",
        "empty",
        "unknown content",
        "mixed",
        "unknown format",
        "mismatch",
        "mismatch 2",
        "neither",
    ],
)
def test_bad_input_raises_dataset_error(tmp_path: Path, case: str) -> None:
    path, fmt, fragment = _bad_files(tmp_path)[case]
    with pytest.raises(DatasetError) as info:
        load_dataset(path, format=fmt)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert isinstance(info.value, BadInputError)


def test_specific_loaders_refuse_the_other_format(tmp_path: Path) -> None:
    lme = _write(tmp_path / "lme.json", _lme_items())
    locomo = _write(tmp_path / "loc.json", [_locomo_item()])
    with pytest.raises(DatasetError, match="looks like longmemeval, not locomo"):
        load_locomo(lme)
    with pytest.raises(DatasetError, match="looks like locomo, not longmemeval"):
        load_longmemeval(locomo)
    with pytest.raises(DatasetError, match="not found"):
        load_locomo(tmp_path / "missing.json")


def test_path_must_be_a_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="must be a string or path"):
        load_dataset(42)  # type: ignore[arg-type]


def test_json_error_reports_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"sample_id": "a"}\n, {"sample_id": }]', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"line 2, column 17"):
        load_dataset(path)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_lme_items()).encode())
    assert load_dataset(path)[1].episodes == 3
