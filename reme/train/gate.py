"""The per-target activation gate: a rank head that would hurt one target's users is not served.

Rewards come from many targets (tenants) into one log, and the rank head is shared. A head trained on that log can
win overall while losing on one target, whether by honest disagreement or because one tenant flooded rewards on its
own searches. Before ``reme policy activate`` serves a rank head, each target's own slice of the log (its sampled,
rewarded decisions, at least ``policies.target_min_decisions`` of them) is scored by off-policy evaluation
(``reme.train.ope``, the pseudoinverse estimator) under the candidate and under the serving policy; the activation
is refused when the candidate's estimate is below the serving policy's by more than ``policies.target_margin`` on
any judged target.

The style gate (``reme.eval.styles``) judges the same head on data instead of the log: on every evaluation style
(synthetic chat, assistant, agent traces, LongMemEval-shaped haystacks, held-out seeds, ``policies.style_scale``;
plus any ``--style-file``) it must not lose more than ``policies.style_margin`` turn recall@10 to the heuristic.
Either gate refuses; ``--force`` overrides both, and the registry's history records both reports and that it was
forced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reme.errors import ReMeError
from reme.eval.styles import StyleReport, style_report
from reme.retrieval.embedding import Encoder
from reme.train.logs import LoggedRankSample, logged_rank_samples
from reme.train.ope import evaluate_offpolicy

__all__ = [
    "ActivationRefusedError", "GateReport", "TargetVerdict", "gated_activate", "style_cache_dir", "target_gate",
]  # fmt: skip


class ActivationRefusedError(ReMeError):
    """The gate refused an activation (the message holds the per-target report)."""


class TargetVerdict(BaseModel):
    """One target's slice: its size, both estimates and the verdict (``judged`` false: too few decisions)."""

    target: str
    decisions: int
    judged: bool
    candidate: float | None = None
    serving: float | None = None
    difference: float | None = None
    loses: bool = False


class GateReport(BaseModel):
    candidate_version: str
    serving_version: str
    margin: float
    min_decisions: int
    targets: list[TargetVerdict]

    @property
    def failing(self) -> list[TargetVerdict]:
        return [t for t in self.targets if t.loses]

    @property
    def passed(self) -> bool:
        return not self.failing

    def summary(self) -> str:
        """One line per target, for the command line."""
        lines = []
        for t in self.targets:
            if not t.judged:
                lines.append(f"  {t.target}: {t.decisions} decisions (fewer than {self.min_decisions}: not judged)")
                continue
            verdict = "LOSES" if t.loses else "ok"
            lines.append(
                f"  {t.target}: {t.decisions} decisions, candidate {t.candidate:.4f} vs serving {t.serving:.4f} "
                f"({t.difference:+.4f}) {verdict}"
            )
        return "\n".join(lines)


def target_gate(
    workspace: str | Path,
    candidate: Any,
    serving: Any,
    margin: float,
    min_decisions: int,
    samples: list[LoggedRankSample] | None = None,
    monte_carlo: int = 2000,
    seed: int = 0,
) -> GateReport:
    """Score ``candidate`` against ``serving`` on each target's slice of ``workspace``'s log (see the module)."""
    if samples is None:
        samples = logged_rank_samples(workspace)
    by_target: dict[str, list[LoggedRankSample]] = defaultdict(list)
    for s in samples:
        by_target[s.target].append(s)
    verdicts = []
    for target in sorted(by_target):
        rows = by_target[target]
        if len(rows) < min_decisions:
            verdicts.append(TargetVerdict(target=target, decisions=len(rows), judged=False))
            continue
        estimates = []
        for policy in (candidate, serving):
            result = evaluate_offpolicy(
                rows, policy, workspace=workspace, monte_carlo=monte_carlo, bootstrap=200, seed=seed
            )
            estimates.append(float(result["estimate"]))
        difference = estimates[0] - estimates[1]
        verdicts.append(
            TargetVerdict(
                target=target,
                decisions=len(rows),
                judged=True,
                candidate=round(estimates[0], 4),
                serving=round(estimates[1], 4),
                difference=round(difference, 4),
                loses=difference < -margin,
            )
        )
    return GateReport(
        candidate_version=str(getattr(candidate, "version", "?")),
        serving_version=str(getattr(serving, "version", "?")),
        margin=margin,
        min_decisions=min_decisions,
        targets=verdicts,
    )


def style_cache_dir(workspace: str | Path) -> Path:
    """Where activation keeps the style suite's candidates: ``WORKSPACE/cache/style-suite/``."""
    return Path(workspace) / "cache" / "style-suite"


def gated_activate(
    workspace: str | Path,
    source: str,
    force: bool = False,
    style_files: Sequence[str | Path] = (),
    encoder: Encoder | None = None,
    target_report: GateReport | None = None,
) -> tuple[str, str, GateReport | None, StyleReport | None]:
    """``registry.activate`` behind the per-target gate and the style gate (learned rank heads only: heuristics
    need no gate, other kinds have no estimate yet). Raises ``ActivationRefusedError`` naming the losing targets
    and styles, with their figures, unless ``force``; the history entry records both reports and ``forced``.
    ``style_files`` are extra evaluation styles; ``encoder`` builds missing style candidates (default: the default
    embedder, loaded only on a cache miss). ``target_report``: per-target verdicts the caller measured on live
    traffic (``reme learn``'s canary), used instead of the off-policy ones. Returns ``(kind, version, target report,
    style report)``."""
    from reme.policy.registry import activate, load_active, load_source
    from reme.settings import load_settings

    candidate = load_source(workspace, source)
    if candidate.kind != "rank" or not hasattr(candidate, "save"):
        kind, version = activate(workspace, source)
        return kind, version, None, None
    policies = load_settings(workspace).policies
    serving = load_active(workspace, "rank", policies.rank)
    report = target_report or target_gate(
        workspace, candidate, serving, policies.target_margin, policies.target_min_decisions
    )
    styles = style_report(
        candidate,
        scale=policies.style_scale,
        margin=policies.style_margin,
        extra_files=style_files,
        cache_dir=style_cache_dir(workspace),
        encoder=encoder,
    )
    note: dict[str, Any] = {"gate": report.model_dump(), "style_gate": styles.model_dump()}
    if not report.passed or not styles.passed:
        if not force:
            reasons = []
            if not report.passed:
                names = ", ".join(t.target for t in report.failing)
                reasons.append(
                    f"on the log it loses more than {report.margin} to the serving policy on {names}\n"
                    f"{report.summary()}"
                )
            if not styles.passed:
                names = ", ".join(s.style for s in styles.failing)
                reasons.append(
                    f"it loses more than {styles.margin} recall@10 to the heuristic on the evaluation style(s) "
                    f"{names} ({styles.scale} scale)\n{styles.summary()}"
                )
            raise ActivationRefusedError(
                f"refusing to serve rank head {report.candidate_version}: "
                + "\nand ".join(reasons)
                + "\n(--force serves it anyway, and the registry records that it was forced)"
            )
        note["forced"] = True
    kind, version = activate(workspace, source, note=note)
    return kind, version, report, styles
