"""End-to-end question answering: each conversation goes into a workspace, each question is searched, an answering
model answers from the retrieved memories, and an LLM judge grades the answer against the gold one: the "J"
score that ReMe, mem0 and others report on LoCoMo, alongside token F1, per category.

The run is also a source of rewards: every question's search is a logged rank decision, the answer is an
``llm-answer`` decision with its token log-probabilities, and the judge's verdict (1 correct, 0 wrong) is recorded
with ``Memory.feedback`` on the search decision, so a kept workspace (``keep_dir``) holds trajectories that
``reme train-policy`` can learn from.

Definitions:

- memories: one per turn, ``Turn.render(text_format)``, in the target ``user:<episode id>``, added through the
  workspace's write policy (ReMe's add rule by default: every turn stored);
- context: the top ``k`` hits of ``Memory.search`` (no score floor), oldest first by turn order, one per line;
- ``J``: share of judged questions whose verdict is ``CORRECT`` (the judge's first word; anything else is wrong);
- ``F1``: token F1 between the answer and the gold answer after lower-casing and dropping punctuation and the
  articles a / an / the (SQuAD's normalisation, as LoCoMo's scorer does);
- ``recall@k``: share of the question's evidence turns among the hits (the retrieval behind the answer).

The prompts are this project's own.
"""

from __future__ import annotations

import logging
import re
import string
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reme.errors import BadInputError
from reme.eval.metrics import is_scored
from reme.llm.decisions import llm_decision
from reme.progress import progress_bar
from reme.schema import Episode

log = logging.getLogger("reme.eval.qa")

__all__ = ["answer_messages", "evaluate_qa", "f1_score", "judge_messages", "normalize_answer", "parse_verdict"]

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def f1_score(prediction: str, gold: str) -> float:
    """Token F1 of the normalised strings (0 when either is empty)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if not pred or not ref or same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def answer_messages(question: str, memories: Sequence[str], question_date: str = "") -> list[dict[str, str]]:
    """The answering model's chat: the retrieved memories, then the question; a short answer is asked for."""
    context = "\n".join(f"- {m}" for m in memories) or "(no memories found)"
    when = f" The question is asked on {question_date}." if question_date else ""
    return [
        {
            "role": "system",
            "content": "Answer the question from the memories of a conversation. Reply with a short answer (a few "
            "words, a name, a date or a number), no explanation. Resolve relative dates against the dates in "
            f"the memories.{when} If the memories do not say, reply: not mentioned.",
        },
        {"role": "user", "content": f"Memories:\n{context}\n\nQuestion: {question}\nAnswer:"},
    ]


def judge_messages(question: str, gold: str, answer: str) -> list[dict[str, str]]:
    """The judge's chat: is the answer the gold answer, allowing paraphrase and other formats of the same date?"""
    return [
        {
            "role": "system",
            "content": "You grade answers. An answer is CORRECT when it states the same fact as the gold answer, "
            "even in other words or another date format, and WRONG when it differs, is missing the point, or "
            "says the information is not available when the gold answer gives it. Reply with one word: CORRECT "
            "or WRONG.",
        },
        {"role": "user", "content": f"Question: {question}\nGold answer: {gold}\nAnswer: {answer}\nGrade:"},
    ]


def parse_verdict(text: str) -> bool:
    """The judge's first word is CORRECT (case-insensitive, punctuation ignored)."""
    words = re.findall(r"[A-Za-z]+", text or "")
    return bool(words) and words[0].upper() == "CORRECT"


def evaluate_qa(
    episodes: Sequence[Episode],
    answer_llm: Any,
    judge_llm: Any = None,
    *,
    rank_policy: Any = None,
    encoder: Any = None,
    k: int = 10,
    text_format: str = "dated",
    max_questions: int | None = None,
    keep_dir: str | Path | None = None,
    answer_max_tokens: int = 64,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Answer and judge every scored question (at most ``max_questions`` in all); ``judge_llm`` defaults to the
    answering model. Returns ``{"format", "queries", "k", "results": {"overall": {...}, "<category>": {...}}}``
    with ``J``, ``F1``, ``recall@k`` and ``questions`` per row (rounded to 4 places), and ``failed`` (model calls
    that raised; those questions count as wrong with F1 0)."""
    from reme.memory import Memory

    if k < 1:
        raise BadInputError(f"k must be >= 1, got {k}")
    judge = judge_llm or answer_llm
    todo = [(ep, q) for ep in episodes for q in ep.questions if is_scored(q, ep.format)]
    if max_questions is not None:
        todo = todo[: max(0, int(max_questions))]
    if not todo:
        raise BadInputError("no scored questions to answer")
    rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    failed = 0
    tmp = None if keep_dir is not None else tempfile.TemporaryDirectory(prefix="reme-qa-")
    root = Path(keep_dir if keep_dir is not None else tmp.name)  # type: ignore[union-attr]
    try:
        by_episode: dict[str, list[Any]] = defaultdict(list)
        for ep, q in todo:
            by_episode[ep.episode_id].append(q)
        with progress_bar("answering", total=len(todo), enabled=show_progress) as advance:
            for ep in episodes:
                questions = by_episode.get(ep.episode_id)
                if not questions:
                    continue
                target = f"user:{ep.episode_id}"[:261]
                with Memory(root / _safe(ep.episode_id), encoder=encoder, rank_policy=rank_policy) as memory:
                    if memory.count(target) == 0:
                        memory.add_many(
                            [
                                {"content": t.render(text_format), "metadata": {"turn_id": t.turn_id}}
                                for t in ep.turns
                                if t.text.strip() or t.image_caption
                            ],
                            target=target,
                        )
                    for q in questions:
                        j, f1, recall, ok = _one_question(
                            memory, target, q, answer_llm, judge, k, answer_max_tokens, ep.episode_id
                        )
                        failed += 0 if ok else 1
                        for key in ("overall", q.category or "-"):
                            rows[key].append((j, f1, recall))
                        advance(1)
    finally:
        if tmp is not None:
            tmp.cleanup()
    results = {
        key: {
            "J": round(sum(r[0] for r in vals) / len(vals), 4),
            "F1": round(sum(r[1] for r in vals) / len(vals), 4),
            f"recall@{k}": round(sum(r[2] for r in vals) / len(vals), 4),
            "questions": len(vals),
        }
        for key, vals in sorted(rows.items(), key=lambda kv: (kv[0] != "overall", kv[0]))
    }
    formats = sorted({ep.format for ep in episodes})
    return {"format": ",".join(formats), "queries": len(todo), "k": k, "failed": failed, "results": results}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "episode"


def _one_question(
    memory: Any, target: str, q: Any, answer_llm: Any, judge: Any, k: int, max_tokens: int, episode_id: str
) -> tuple[float, float, float, bool]:
    """``(J, F1, recall, model calls succeeded)`` of one question; the verdict becomes a reward on the search."""
    hits = memory.search(q.question, k, target, min_score=float("-inf"), episode_id=episode_id)
    found = {str(h.memory.metadata.get("turn_id", "")) for h in hits}
    evidence = set(q.evidence)
    recall = len(evidence & found) / len(evidence) if evidence else 0.0
    ordered = sorted(hits, key=lambda h: h.memory.time_created)
    try:
        asked = answer_messages(q.question, [h.memory.content for h in ordered], q.question_date)
        result = answer_llm.chat(asked, max_tokens=max_tokens)
        answer = result.text.strip()
        decision = llm_decision("rank", "llm-answer", "answer", result, extra={"question_id": q.question_id},
                                prompt=asked)  # fmt: skip
        decision.episode_id = episode_id
        decision.memory_ids = [h.memory.memory_id for h in hits]
        memory.log_decision(decision)
        verdict = judge.chat(judge_messages(q.question, q.answer, answer), max_tokens=8)
    except Exception as exc:  # one failed call costs one question, not the run
        log.warning(
            "question %s: the model call failed (%s: %s); counted as wrong", q.question_id, type(exc).__name__, exc
        )
        return 0.0, 0.0, recall, False
    correct = parse_verdict(verdict.text)
    if hits and hits[0].decision_id:
        memory.feedback(1.0 if correct else 0.0, decision_id=hits[0].decision_id)
    return float(correct), f1_score(answer, q.answer), recall, True
