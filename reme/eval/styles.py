"""The evaluation style suite: a rank policy measured on each kind of conversation the project generates, against
a baseline (the heuristic), so that a head that wins on one style and loses on another is seen before it serves.

A **style** is a named recipe that makes episodes from the project's own synthetic generators with a fixed
held-out seed (:data:`HELD_OUT_SEEDS`; no training recipe may use them):

- ``chat``: LoCoMo-like chat between two friends (``generate_synthetic(style="chat")``);
- ``assistant``: a user and an assistant with long replies (``generate_synthetic(style="assistant")``);
- ``agent``: task traces with tool results (``generate_synthetic(style="agent")``), present whenever the
  generator has that style (:func:`builtin_styles`);
- ``longmemeval``: LongMemEval JSON items with turns shaped like the real benchmark's
  (``generate_longmemeval_synthetic(shape="longmemeval")``), read by the LongMemEval loader; session recall is
  reported too.

User files (LoCoMo or LongMemEval JSON) join as extra styles, each named by its file stem.

Two scales (:data:`SCALES`): ``small`` (activation and tests: each style's candidates in seconds on 2 CPU cores)
and ``full`` (recipes and docs). A style's candidates and their features do not depend on the policy scored, so
they are built once (``question_states``, as ``reme eval retrieval`` and the trainers see them) and kept as an
``.npz`` in a cache folder (the workspace's ``cache/style-suite/`` for activation, ``~/.cache/reme/style-suite/``
for the command), keyed by style, scale, seed, embedder, package version, feature columns and a hash of the
episodes themselves; a file that does not load or whose key differs is rebuilt, never trusted. Scoring a policy is
then one greedy ordering per question.

``style_report`` compares a candidate with a baseline: per style turn recall@1/5/10 and NDCG@10 (and session
recall@5/10 for LongMemEval-format styles), the recall@10 difference, and ``loses`` when the candidate's
recall@10 is below the baseline's by more than ``margin``. Metric definitions are ``reme eval retrieval``'s
(``docs/evaluation.md``).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from reme.atomic import write_atomic
from reme.config import EmbeddingConfig
from reme.errors import BadInputError
from reme.eval.metrics import default_cache_path, ndcg_of_hits, question_states, recall_of_hits
from reme.policy.rank import RankState
from reme.policy.rank_features import RANK_FEATURES
from reme.retrieval.embedding import Encoder
from reme.schema import Episode

__all__ = [
    "HELD_OUT_SEEDS", "KS", "SCALES", "Scale", "StyleCases", "StyleReport", "StyleVerdict", "builtin_styles",
    "default_suite_dir", "evaluate_styles", "score_cases", "style_cases", "style_episodes", "style_report",
]  # fmt: skip

HELD_OUT_SEEDS: dict[str, int] = {"chat": 20_201, "assistant": 20_202, "agent": 20_203, "longmemeval": 20_204}
"""The seed of each built-in style. Held out: no training recipe, test fixture or documented training command may
generate data with these seeds (a test checks ``training/recipes/``), so the suite stays unseen by every head."""

KS = (1, 5, 10)
"""Turn recall cut-offs reported per style (the gate reads recall@10)."""

PER_SIDE = 60
"""FAISS and BM25 candidates per question, as ``reme eval retrieval`` (``3 * max(k)`` for its k up to 20) and the
rank trainers' default."""

SUITE_FORMAT = 1
"""Version of the cache files' layout (part of every key)."""


@dataclass(frozen=True)
class Scale:
    """How much data a scale generates per style."""

    conversations: int
    """Conversations of each ``generate_synthetic`` style."""
    sessions: int
    """Sessions per conversation."""
    lme_questions: int
    """Questions (episodes) of the LongMemEval style."""
    lme_haystack: int
    """Haystack sessions per LongMemEval question (evidence sessions are always kept)."""


SCALES: dict[str, Scale] = {
    "small": Scale(conversations=2, sessions=5, lme_questions=12, lme_haystack=6),
    "full": Scale(conversations=8, sessions=10, lme_questions=60, lme_haystack=20),
}
"""``small``: activation and tests (each style's candidates built in under ~20 s on 2 CPU cores with the default
embedder); ``full``: recipes and docs."""


def builtin_styles() -> tuple[str, ...]:
    """The built-in styles: every ``generate_synthetic`` style (``chat``, ``assistant``, ``agent`` when the generator
    has it), then ``longmemeval``."""
    from reme.datasets.synthetic.generator import STYLES

    return (*(s for s in ("chat", "assistant", "agent") if s in STYLES), "longmemeval")


def _check_scale(scale: str) -> Scale:
    if scale not in SCALES:
        raise BadInputError(f"unknown style scale {scale!r}: use {' or '.join(SCALES)}")
    return SCALES[scale]


def style_episodes(style: str, scale: str = "small") -> tuple[list[Episode], str]:
    """The episodes of a built-in style at a scale, and a line saying what they are."""
    from reme.datasets import generate_longmemeval_synthetic, generate_synthetic, parse_locomo, parse_longmemeval

    size = _check_scale(scale)
    if style not in builtin_styles():
        raise BadInputError(f"unknown evaluation style {style!r}: use one of {', '.join(builtin_styles())}")
    seed = HELD_OUT_SEEDS[style]
    if style == "longmemeval":
        items = generate_longmemeval_synthetic(size.lme_questions, seed, size.lme_haystack, shape="longmemeval")
        episodes, _ = parse_longmemeval(items, f"<style {style}>")
        source = f"synthetic LongMemEval, {size.lme_questions} questions, {size.lme_haystack} sessions, seed {seed}"
    else:
        items = generate_synthetic(size.conversations, size.sessions, seed, style)
        episodes, _ = parse_locomo(items, f"<style {style}>")
        source = f"synthetic {style}, {size.conversations} x {size.sessions} sessions, seed {seed}"
    return episodes, source


def default_suite_dir() -> Path:
    """The command's cache folder: ``style-suite/`` beside evaluation's embedding cache (``$REME_CACHE_DIR`` or
    ``~/.cache/reme``)."""
    return default_cache_path().parent / "style-suite"


@dataclass
class StyleCases:
    """Every scored question of one style as candidate rows (policy-independent): concatenated over questions,
    question ``i`` owning rows ``offsets[i]:offsets[i + 1]``."""

    style: str
    source: str
    format: str
    features: np.ndarray
    """``(rows, F)`` float32, ``feature_names`` columns."""
    relevant: np.ndarray
    """``(rows,)`` bool: the candidate is an evidence turn."""
    session: np.ndarray
    """``(rows,)`` int32: the candidate's session, numbered within its question."""
    offsets: np.ndarray
    """``(questions + 1,)`` int64."""
    n_evidence: np.ndarray
    """``(questions,)`` int32: evidence turns of the question (found among the candidates or not)."""
    answer_sessions: np.ndarray
    """Answer sessions of every question (their numbers), concatenated; question ``i`` owns
    ``answer_offsets[i]:answer_offsets[i + 1]``."""
    answer_offsets: np.ndarray
    feature_names: tuple[str, ...] = RANK_FEATURES
    from_cache: bool = False
    """Whether this came from the cache file (``False``: built now)."""

    @property
    def queries(self) -> int:
        return len(self.offsets) - 1


def _cases_from_episodes(
    style: str, source: str, episodes: Sequence[Episode], encoder: Encoder, embedding_cache: Path
) -> StyleCases:
    features, relevant, session, n_evidence, answers = [], [], [], [], []
    offsets, answer_offsets = [0], [0]
    for item in question_states(episodes, PER_SIDE, "dated", encoder=encoder, cache_path=embedding_cache):
        numbers: dict[str, int] = {}
        codes = [numbers.setdefault(item.session_of[t], len(numbers)) for t in item.turn_ids]
        answer = [numbers.setdefault(s, len(numbers)) for s in dict.fromkeys(item.question.answer_session_ids)]
        features.append(np.asarray(item.state.features, dtype=np.float32))
        relevant.append(item.relevant)
        session.append(np.asarray(codes, dtype=np.int32))
        n_evidence.append(len(set(item.question.evidence)))
        answers.extend(answer)
        offsets.append(offsets[-1] + len(codes))
        answer_offsets.append(len(answers))
    width = len(RANK_FEATURES)
    return StyleCases(
        style=style,
        source=source,
        format=episodes[0].format if episodes else "locomo",
        features=np.concatenate(features) if features else np.zeros((0, width), np.float32),
        relevant=np.concatenate(relevant) if relevant else np.zeros(0, bool),
        session=np.concatenate(session) if session else np.zeros(0, np.int32),
        offsets=np.asarray(offsets, dtype=np.int64),
        n_evidence=np.asarray(n_evidence, dtype=np.int32),
        answer_sessions=np.asarray(answers, dtype=np.int32),
        answer_offsets=np.asarray(answer_offsets, dtype=np.int64),
    )


_ARRAYS = ("features", "relevant", "session", "offsets", "n_evidence", "answer_sessions", "answer_offsets")


def _save(path: Path, key: dict[str, Any], cases: StyleCases) -> None:
    buffer = io.BytesIO()
    meta = {"key": key, "source": cases.source, "format": cases.format, "feature_names": list(cases.feature_names)}
    np.savez(buffer, meta=np.asarray(json.dumps(meta, sort_keys=True)), **{a: getattr(cases, a) for a in _ARRAYS})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buffer.getvalue())


def _load(path: Path, key: dict[str, Any], style: str) -> StyleCases | None:
    """The cached cases, or ``None`` when the file is missing, unreadable, of another key or inconsistent."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {a: np.asarray(data[a]) for a in _ARRAYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
        return None
    if not isinstance(meta, dict) or meta.get("key") != key or tuple(meta.get("feature_names", ())) != RANK_FEATURES:
        return None
    offsets, answer_offsets = arrays["offsets"], arrays["answer_offsets"]
    rows = len(arrays["features"])
    consistent = (
        arrays["features"].ndim == 2
        and arrays["features"].shape[1] == len(RANK_FEATURES)
        and len(offsets) >= 1
        and offsets[0] == 0
        and offsets[-1] == rows
        and bool(np.all(np.diff(offsets) >= 0))
        and len(arrays["relevant"]) == rows
        and len(arrays["session"]) == rows
        and len(arrays["n_evidence"]) == len(offsets) - 1
        and len(answer_offsets) == len(offsets)
        and answer_offsets[0] == 0
        and answer_offsets[-1] == len(arrays["answer_sessions"])
        and bool(np.all(np.diff(answer_offsets) >= 0))
        and bool(np.isfinite(arrays["features"]).all())
    )
    if not consistent:
        return None
    return StyleCases(
        style=style,
        source=str(meta.get("source", "")),
        format=str(meta.get("format", "locomo")),
        features=arrays["features"].astype(np.float32, copy=False),
        relevant=arrays["relevant"].astype(bool, copy=False),
        session=arrays["session"].astype(np.int32, copy=False),
        offsets=offsets.astype(np.int64, copy=False),
        n_evidence=arrays["n_evidence"].astype(np.int32, copy=False),
        answer_sessions=arrays["answer_sessions"].astype(np.int32, copy=False),
        answer_offsets=answer_offsets.astype(np.int64, copy=False),
        from_cache=True,
    )


def _episodes_hash(episodes: Sequence[Episode]) -> str:
    digest = hashlib.sha256()
    for episode in episodes:
        digest.update(json.dumps(episode.model_dump(mode="json"), sort_keys=True).encode())
    return digest.hexdigest()[:16]


class _LazyEncoder:
    """The encoder, built on the first cache miss only (a warm cache never loads the model)."""

    def __init__(self, encoder: Encoder | None, embedding: EmbeddingConfig | None):
        self._encoder = encoder
        self.embedding = embedding or EmbeddingConfig()
        self.model_id = encoder.model_id if encoder is not None else self.embedding.model_id

    def get(self) -> Encoder:
        if self._encoder is None:
            from reme.retrieval.embedding import build_encoder

            self._encoder = build_encoder(self.embedding)
        return self._encoder


def style_cases(
    style: str,
    scale: str = "small",
    cache_dir: str | Path | None = None,
    encoder: Encoder | None = None,
    embedding: EmbeddingConfig | None = None,
    *,
    _lazy: _LazyEncoder | None = None,
) -> StyleCases:
    """One style's candidates, from the cache (``cache_dir``, default :func:`default_suite_dir`) when a whole file
    with this key is there, else built and cached. ``style`` is a built-in name or a dataset file's path (then the
    style is the file's stem)."""
    from reme import __project_version__

    lazy = _lazy or _LazyEncoder(encoder, embedding)
    folder = Path(cache_dir) if cache_dir is not None else default_suite_dir()
    path_style = Path(style)
    if style in builtin_styles():
        episodes, source = style_episodes(style, scale)
        name, seed = style, HELD_OUT_SEEDS[style]
    elif path_style.suffix == ".json" or path_style.is_file():
        from reme.datasets import load_dataset

        episodes, _ = load_dataset(path_style)
        name, seed, source = path_style.stem, None, str(path_style)
        if name in builtin_styles():
            raise BadInputError(f"style file {style} is named like the built-in style {name!r}: rename it")
    else:
        raise BadInputError(f"unknown evaluation style {style!r}: use {', '.join(builtin_styles())} or a file")
    key = {
        "suite_format": SUITE_FORMAT,
        "style": name,
        "scale": scale if seed is not None else "file",
        "seed": seed,
        "embedder": lazy.model_id,
        "package": __project_version__,
        "features": hashlib.sha256(",".join(RANK_FEATURES).encode()).hexdigest()[:16],
        "per_side": PER_SIDE,
        "episodes": _episodes_hash(episodes),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    path = folder / f"{name}-{key['scale']}-{digest}.npz"
    cached = _load(path, key, name)
    if cached is not None:
        cached.source = source
        return cached
    cases = _cases_from_episodes(name, source, episodes, lazy.get(), folder / "embeddings.db")
    _save(path, key, cases)
    for stale in folder.glob(f"{name}-{key['scale']}-*.npz"):  # the same style under an older key
        if stale != path:
            stale.unlink(missing_ok=True)
    return cases


def _greedy_order(policy: Any, state: RankState) -> np.ndarray:
    return np.asarray(policy.decide(state, "greedy").action, dtype=np.int64)


def score_cases(cases: StyleCases, policy: Any) -> dict[str, float]:
    """The metrics of ``policy``'s greedy ordering of every candidate of each question: recall@1/5/10 and NDCG@10
    (``reme eval retrieval``'s definitions; a question without evidence turns adds no turn metric) and, for a
    LongMemEval-format style, session recall@5/10."""
    with_sessions = cases.format == "longmemeval"
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}

    def add(key: str, value: float) -> None:
        sums[key] = sums.get(key, 0.0) + value
        counts[key] = counts.get(key, 0) + 1

    for i in range(cases.queries):
        lo, hi = int(cases.offsets[i]), int(cases.offsets[i + 1])
        state = RankState(cases.features[lo:hi], hi - lo, [""] * (hi - lo), cases.feature_names)
        order = _greedy_order(policy, state)
        hits = cases.relevant[lo:hi][order]
        n_evidence = int(cases.n_evidence[i])
        if n_evidence:
            for k in KS:
                add(f"recall@{k}", recall_of_hits(hits[:k], n_evidence))
            add("ndcg@10", ndcg_of_hits(hits, n_evidence, 10))
        answer = set(cases.answer_sessions[cases.answer_offsets[i] : cases.answer_offsets[i + 1]].tolist())
        if with_sessions and answer:
            sessions = list(dict.fromkeys(cases.session[lo:hi][order].tolist()))
            for k in (5, 10):
                add(f"session_recall@{k}", len(answer.intersection(sessions[:k])) / len(answer))
    keys = [f"recall@{k}" for k in KS] + ["ndcg@10"] + (["session_recall@5", "session_recall@10"] * with_sessions)
    return {key: round(sums[key] / counts[key], 4) if counts.get(key) else 0.0 for key in keys}


def evaluate_styles(
    policies: Mapping[str, Any],
    scale: str = "small",
    extra_files: Sequence[str | Path] = (),
    cache_dir: str | Path | None = None,
    encoder: Encoder | None = None,
    embedding: EmbeddingConfig | None = None,
    styles: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every policy (label -> rank policy) on every style (``styles``, default :func:`builtin_styles`, then the
    ``extra_files``): ``{"scale", "styles": {name: {"source", "format", "queries", "results": {label:
    metrics}}}}``. ``progress`` is told each style's name before it is built or read."""
    if not policies:
        raise BadInputError("give at least one policy")
    _check_scale(scale)
    lazy = _LazyEncoder(encoder, embedding)
    names = [*(styles if styles is not None else builtin_styles()), *(str(f) for f in extra_files)]
    out: dict[str, Any] = {}
    for spec in names:
        if progress is not None:
            progress(Path(spec).stem if spec not in builtin_styles() else spec)
        cases = style_cases(spec, scale, cache_dir, _lazy=lazy)
        if cases.style in out:
            raise BadInputError(f"two evaluation styles are named {cases.style!r}")
        out[cases.style] = {
            "source": cases.source,
            "format": cases.format,
            "queries": cases.queries,
            "results": {label: score_cases(cases, policy) for label, policy in policies.items()},
        }
    return {"scale": scale, "styles": out}


class StyleVerdict(BaseModel):
    """One style: both policies' metrics, the recall@10 difference (candidate - baseline) and the verdict."""

    style: str
    source: str
    queries: int
    candidate: dict[str, float]
    baseline: dict[str, float]
    difference: float
    loses: bool


class StyleReport(BaseModel):
    """A candidate rank policy against a baseline on every style (``style_report``)."""

    candidate_version: str
    baseline_version: str
    scale: str
    margin: float
    styles: list[StyleVerdict]

    @property
    def failing(self) -> list[StyleVerdict]:
        return [s for s in self.styles if s.loses]

    @property
    def passed(self) -> bool:
        return not self.failing

    def summary(self) -> str:
        """One line per style, for the command line."""
        lines = []
        for s in self.styles:
            c, b = s.candidate, s.baseline
            extra = ""
            if "session_recall@10" in c:
                extra = f", session R@10 {c['session_recall@10']:.3f} vs {b['session_recall@10']:.3f}"
            lines.append(
                f"  {s.style}: {s.queries} queries, R@10 {c['recall@10']:.3f} vs {b['recall@10']:.3f} "
                f"({s.difference:+.3f}), R@1 {c['recall@1']:.3f} vs {b['recall@1']:.3f}, "
                f"R@5 {c['recall@5']:.3f} vs {b['recall@5']:.3f}{extra} {'LOSES' if s.loses else 'ok'}"
            )
        return "\n".join(lines)


def style_report(
    candidate: Any,
    baseline: Any | None = None,
    scale: str = "small",
    margin: float = 0.01,
    extra_files: Sequence[str | Path] = (),
    cache_dir: str | Path | None = None,
    encoder: Encoder | None = None,
    embedding: EmbeddingConfig | None = None,
    styles: Sequence[str] | None = None,
) -> StyleReport:
    """``candidate`` against ``baseline`` (default: the heuristic, ReMe 0.3.1's fusion) on every style; a style
    ``loses`` when the candidate's turn recall@10 is below the baseline's by more than ``margin``."""
    if baseline is None:
        from reme.policy.rank import HeuristicRankPolicy

        baseline = HeuristicRankPolicy()
    if margin < 0:
        raise BadInputError(f"the style margin must be >= 0, got {margin}")
    result = evaluate_styles(
        {"candidate": candidate, "baseline": baseline}, scale, extra_files, cache_dir, encoder, embedding, styles
    )
    verdicts = []
    for name, entry in result["styles"].items():
        c, b = entry["results"]["candidate"], entry["results"]["baseline"]
        difference = round(c["recall@10"] - b["recall@10"], 4)
        verdicts.append(
            StyleVerdict(
                style=name,
                source=entry["source"],
                queries=entry["queries"],
                candidate=c,
                baseline=b,
                difference=difference,
                loses=difference < -margin,
            )
        )
    return StyleReport(
        candidate_version=str(getattr(candidate, "version", "?")),
        baseline_version=str(getattr(baseline, "version", "?")),
        scale=scale,
        margin=margin,
        styles=verdicts,
    )
