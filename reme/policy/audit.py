"""Replay and audit of a workspace's trajectory log: ``reme trajectories verify`` and ``stats``.

``verify`` re-scores every recorded decision under the policy that took it (a heuristic rebuilt from its
recorded parameters, or the registry version it names) and compares with the recorded log-probability.
Decisions of an external LLM (``policy`` starting with ``llm``) are checked against the sum of their recorded
token log-probabilities when they carry them; untrainable decisions (``logprob: null``) are counted, not failed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reme.policy.decision import Decision
from reme.policy.registry import policy_for_record
from reme.policy.rewards import has_propensity, has_return, join_rewards
from reme.policy.trajectory import RewardEvent, read_records

TOLERANCE = 1e-4
LLM_TOLERANCE = 1e-3
"""Largest gap allowed per token between a generated token's log-probability (incremental, over the KV cache) and
the same token scored teacher-forced over the whole sequence: float32 sums in another order."""


class VerifyReport(BaseModel):
    checked: int = 0
    llm_rescored: int = 0
    """LLM decisions whose tokens the model that drew them scored again (``rescore_llm``)."""
    untrainable: int = 0
    rewards: int = 0
    problems: list[str] = []

    @property
    def ok(self) -> bool:
        return not self.problems


def _where(path: Path, line: int, root: Path) -> str:
    try:
        return f"{path.relative_to(root)}:{line}"
    except ValueError:
        return f"{path}:{line}"


def verify(workspace: str | Path, log: Any = None, rescore_llm: Any = None) -> VerifyReport:
    """Re-score every decision of the workspace's log (``log``: another source for ``read_records``, such as the
    PostgreSQL log; default its ``trajectories/`` folder); each problem is ``file:line: reason``. ``rescore_llm(
    decision, cache)`` (``reme.llm.replay.rescore``, given by the command: the LLM layer sits above this one)
    re-runs the model of an LLM decision that kept its replay record and returns its tokens' log-probabilities."""
    root = Path(workspace)
    report = VerifyReport()
    cache: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for entry in read_records(root / "trajectories" if log is None else log):
        where = _where(entry.path, entry.line, root)
        if entry.error is not None or entry.record is None:
            report.problems.append(f"{where}: {entry.error}")
            continue
        record = entry.record
        if not isinstance(record, Decision):
            report.rewards += isinstance(record, RewardEvent)
            continue
        if record.logprob is None:
            report.untrainable += 1
            continue
        report.checked += 1
        if record.policy.startswith("llm"):
            tokens = record.extra.get("token_logprobs")
            if isinstance(tokens, list) and abs(sum(float(t) for t in tokens) - record.logprob) > TOLERANCE:
                report.problems.append(
                    f"{where}: logprob {record.logprob} is not the sum of its token log-probabilities"
                )
            elif rescore_llm is not None and isinstance(tokens, list) and "replay" in record.extra:
                try:
                    again = rescore_llm(record, models)
                except Exception as exc:  # a model that cannot be loaded or run is a finding, not a crash
                    report.problems.append(f"{where}: cannot re-run the model of {record.decision_id}: {exc}")
                    continue
                report.llm_rescored += 1
                worst = max((abs(a - float(b)) for a, b in zip(again or [], tokens)), default=0.0)
                if again is None or len(again) != len(tokens) or worst > LLM_TOLERANCE:
                    report.problems.append(
                        f"{where}: the model re-scores {record.decision_id}'s tokens differently (largest gap "
                        f"{worst:.2e} over {len(tokens)} tokens)"
                    )
            continue
        try:
            policy = policy_for_record(root, record, cache)
            rescored = policy.logprob(policy.state_from_record(record), record.action)
        except Exception as exc:  # any failure to rebuild or re-score is a finding, not a crash
            report.problems.append(f"{where}: cannot re-score {record.kind} decision {record.decision_id}: {exc}")
            continue
        if abs(rescored - record.logprob) > TOLERANCE:
            report.problems.append(
                f"{where}: {record.kind} decision {record.decision_id} re-scores to {rescored:.6f}, "
                f"recorded {record.logprob:.6f}"
            )
    return report


def stats(workspace: str | Path, log: Any = None) -> dict[str, Any]:
    """Counts over the log (``log`` as for ``verify``), in the shape ``reme trajectories stats --json`` prints."""
    decisions: Counter[str] = Counter()
    policies: Counter[str] = Counter()
    modes: Counter[str] = Counter({"sample": 0, "greedy": 0})
    logprob_sums: dict[str, float] = defaultdict(float)
    logprob_counts: Counter[str] = Counter()
    records = []
    for entry in read_records(Path(workspace) / "trajectories" if log is None else log):
        if entry.record is None:  # unreadable lines are verify's business
            continue
        records.append(entry.record)
        if isinstance(entry.record, Decision):
            d = entry.record
            decisions[d.kind] += 1
            policies[f"{d.policy}@{d.version}"] += 1
            modes[d.mode] += 1
            if d.logprob is not None:
                logprob_sums[d.kind] += d.logprob
                logprob_counts[d.kind] += 1
    joined = join_rewards(records)
    return {
        "decisions": dict(decisions),
        "policies": dict(policies),
        "modes": dict(modes),
        "mean_logprob": {k: round(logprob_sums[k] / logprob_counts[k], 6) for k in logprob_counts},
        "rewards": joined.rewards,
        "rewards_joined": joined.rewards_joined,
        "untrainable": joined.untrainable,
        "learnable": learnable(records, joined.samples),
    }


NOT_EXPLORED = "greedy, exploration off"
"""``learnable``'s reason for a decision taken greedily with its kind's epsilon at 0 (its action had probability 1)."""


def learnable(records: list[Any], samples: list[Any]) -> dict[str, dict[str, int]]:
    """Per kind, how many decisions an off-policy learner (``reme learn``, ``train-policy --from-trajectories``)
    can use, and why the others cannot: ``usable`` (a real propensity and a return), ``greedy, exploration off``
    (set ``mode: sample`` or ``policies.exploration.KIND`` above 0), ``no reward yet``, ``no log-probability``
    (an LLM answer without token log-probabilities)."""
    returned = {s.decision.decision_id for s in samples if has_return(s)}
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for d in records:
        if not isinstance(d, Decision):
            continue
        if d.logprob is None or not d.trainable:
            reason = "no log-probability"
        elif not has_propensity(d):
            reason = NOT_EXPLORED
        elif d.decision_id not in returned:
            reason = "no reward yet"
        else:
            reason = "usable"
        out[d.kind][reason] += 1
    return {kind: dict(counts) for kind, counts in out.items()}
