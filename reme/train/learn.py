"""``reme learn``: each decision learns from the workspace's own log, and a new version serves only when the log
says it is better.

For each decision kind in turn (``rank``, ``write``, ``compact``):

1. **join**: the log's decisions and rewards through the credit rules (``reme.policy.rewards.join_rewards``); the
   samples are the kind's trainable decisions with a return (a write always has one; other kinds once rewarded)
   whose behaviour probability is known: taken in ``sample`` mode or under exploration (``extra["exploration"]``,
   ``policies.exploration``), so that an importance weight exists. A greedy decision's action had probability 1,
   which says nothing about the actions it did not take.
2. **split by time**: the oldest ``1 - holdout`` share trains, the most recent ``holdout`` share evaluates.
3. **train** a candidate off-policy from the serving version: the rank head with the decoupled PPO of
   ``reme.train.rank_ppo``; the write and compact policies with the same clipped surrogate (``clipped_surrogate``,
   the behaviour weight ``pi_prox / mu`` capped) over single decisions. A heuristic has no weights to continue
   from: the candidate is then the kind's learned policy, first cloned on the heuristic's logged actions.
4. **estimate** the candidate's and the serving version's value on the held-back slice: for write and compact,
   self-normalised importance sampling (SNIPS) and doubly robust (DR, with the training slice's mean return per
   action as the reward model); for rank, the pseudoinverse estimator of ``reme.train.ope`` (importance weights
   over whole orderings degenerate). Each with a percentile bootstrap interval.
5. **promote** the candidate only when its paired lower bound beats the serving version's estimate: the serving
   estimate plus the lower end of the interval of *candidate minus serving*, computed term by term on the same
   held-back decisions (``paired_difference``; for rank with the same Monte Carlo draws for both). Where the two
   versions act alike their terms cancel, so this bound is far tighter than the candidate's own interval (which the
   runs still report), and it is a proper bound on the gain: the rule reads ``difference.low > 0``. And
   on no target's own slice (``extra["target"]``, at least ``min_target_decisions`` decisions) it loses by more
   than ``target_margin``: no tenant's rewards can buy a version that hurts another. A rank head also passes the
   activation gates of ``reme policy activate`` (``gated_activate``: the per-target gate on the whole log and the
   style gate). Either way, the registry's history and ``learn/runs.jsonl`` record why.
6. **watch**: every run first judges the latest activation of the kind (the learner's, or anyone's: a version
   served with ``reme policy activate --force`` too), once the version it serves has ``watch_decisions`` rewarded
   decisions: their mean return against that of as many decisions before the activation, at the same age (the
   returns the log held when those were as old; a write's return grows for weeks as its memory is found). When it
   is lower by more than ``rollback_margin`` the learner rolls back (``registry.rollback``) by itself; the watch
   goes on at every pass while that activation is the latest.

A run holds ``WORKSPACE/learn/lock`` (a second learner is refused, never interleaved); a kind whose log has not
changed since the last run is skipped; training is seeded, so a re-run over the same log gives the same candidate.
A learner that fails on a kind leaves that kind's serving version alone and says why in its row.
"""

from __future__ import annotations

import copy
import fcntl
import json
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from reme.errors import BadInputError, WorkspaceError
from reme.policy.rewards import (
    DAY_SECONDS,
    Sample,
    from_llm,
    has_propensity,
    has_return,
    join_rewards,
    record_time,
)  # fmt: skip
from reme.schema import utc_now
from reme.store.open import learner_session
from reme.train.common import clipped_surrogate
from reme.train.logs import LoggedRankSample, UsedRanking, credit_of, logged_records, rank_samples, used_rankings
from reme.train.ope import bootstrap_interval

__all__ = [
    "Estimate", "KindReport", "LearnConfig", "learn", "learn_dir", "learn_in_background", "learner_lock",
    "plot_rewards", "read_runs", "reward_over_time",
]  # fmt: skip

log = logging.getLogger(__name__)

Kind = Literal["rank", "write", "compact"]
KINDS: tuple[Kind, ...] = ("rank", "write", "compact")


class LearnConfig(BaseModel):
    """What ``reme learn`` does per decision; every field has the default ``reme learn`` uses."""

    kinds: list[Kind] = Field(default_factory=lambda: list(KINDS))
    holdout: float = Field(0.3, gt=0.0, lt=1.0)
    """The most recent share of the samples, held back for the estimates."""
    min_samples: int = Field(40, ge=2)
    """Fewer usable samples than this (training and held-back together): the kind is skipped."""
    steps: int = Field(200, ge=1)
    lr: float = Field(3e-3, gt=0.0)
    epsilon: float = Field(0.2, gt=0.0)
    """Clipping range of the ratio to the proximal policy."""
    importance_cap: float = Field(5.0, gt=0.0)
    """Cap of the behaviour weight ``pi_prox / mu``."""
    clone_steps: int = Field(150, ge=0)
    """Behaviour-cloning steps on the logged actions when the serving version is a heuristic (write, compact)."""
    target_margin: float = Field(0.02, ge=0.0)
    min_target_decisions: int = Field(20, ge=1)
    bootstrap: int = Field(500, ge=50)
    confidence: float = Field(0.9, gt=0.5, lt=1.0)
    """Two-sided interval; the promotion rule uses its lower end."""
    watch_decisions: int = Field(50, ge=1)
    rollback_margin: float = Field(0.05, ge=0.0)
    write_maturity_days: float = Field(7.0, ge=0.0)
    """Writes younger than this (to the log's latest record) are left out of training and estimates: their
    memories have not had the time to be searched for, so their returns are not yet known (a store then looks
    like pure storage cost). They count in later runs."""
    min_action_samples: int = Field(20, ge=0)
    """Write: an action with fewer logged samples than this is valued at the worst logged return in the doubly
    robust estimate (``reward_model``); 0 values it at the mean."""
    kl_coef: float = Field(0.1, ge=0.0)
    """Write: weight of ``KL(candidate || start)`` over each training state's actions, so that training reshapes the
    serving writer's choices rather than moving its mass to actions the log never tried."""
    rank_residual_bound: float = Field(2.0, gt=0.0)
    """When the heuristic serves rank, the candidate is a bounded residual on ReMe's fusion with this bound
    (``MLPRankPolicy(residual_bound=...)``), starting at the heuristic's ordering exactly: issue 20's robust design,
    and what "starting from the serving version" means for a rule with no weights."""
    used_residual_bounds: list[float] = Field(default_factory=lambda: [2.0, 1.0, 0.5, 0.25])
    """Rank from ``used`` rewards while a rule serves: the residual bounds tried, largest first; the first head that
    passes the style gate is the one tried as a canary (a larger bound learns more of this workspace's traffic and
    risks more on other styles: on ``benchmarks/simulate_use.py``'s log, a bound of 2 gained 0.18 there and lost
    0.05 recall@10 on the agent-trace style)."""
    canary_min_searches: int = Field(20, ge=2)
    """Rank canary: rewarded searches drawn between the canary and the serving version (the ones where their top k
    differ), at least a quarter of them on each side, before the canary is judged."""
    canary_max_searches: int = Field(400, ge=2)
    """Rank canary: after this many drawn searches without a verdict, the canary ends undecided."""
    gamma: float | None = Field(None, gt=0.0, le=1.0)
    """Overrides the discount of the workspace's credit rules (``credit`` of its settings) when given."""
    seed: int = 0


class Estimate(BaseModel):
    """An off-policy value estimate on the held-back slice."""

    method: str
    value: float
    low: float
    high: float
    n: int
    snips: float | None = None
    ess: float | None = None
    units: list[list[float]] = Field(default_factory=list, exclude=True, repr=False)
    """The estimate's terms, one list per resampling unit (a decision; for rank, a question's samples): what a
    paired difference with another version's estimate on the same slice subtracts (not written to the runs)."""


class KindReport(BaseModel):
    """One kind's row of a run (appended to ``learn/runs.jsonl``)."""

    time: str
    kind: Kind
    outcome: Literal["promoted", "kept", "skipped", "failed", "rolled_back", "watch_passed", "canary"]
    """``canary``: a rank candidate the log cannot judge is tried on live searches (started, or still running)."""
    why: str
    serving: str = ""
    candidate: str | None = None
    train_samples: int = 0
    holdout_samples: int = 0
    serving_estimate: Estimate | None = None
    candidate_estimate: Estimate | None = None
    difference: Estimate | None = None
    """Candidate minus serving, paired on the held-back slice's decisions: what the promotion rule reads."""
    targets: list[dict[str, Any]] = Field(default_factory=list)
    log_records: int = 0
    """How many records the log held when the row was written (where the plot marks it)."""


def learn_dir(workspace: str | Path) -> Path:
    """``WORKSPACE/learn/``: the lock, the state between runs, the runs' rows, candidate checkpoints."""
    return Path(workspace) / "learn"


@contextmanager
def learner_lock(workspace: str | Path) -> Iterator[None]:
    """Hold ``learn/lock`` (an exclusive ``flock``) or raise ``WorkspaceError`` at once: one learner at a time."""
    root = learn_dir(workspace)
    root.mkdir(parents=True, exist_ok=True)
    with (root / "lock").open("a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceError(
                f"another `reme learn` holds {root / 'lock'}; try again when it has finished"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _read_state(workspace: str | Path) -> dict[str, Any]:
    path = learn_dir(workspace) / "state.json"
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise WorkspaceError(f"{path} is not valid JSON ({exc.msg}); delete it to start the learner afresh") from None
    return state if isinstance(state, dict) else {}


def _write_state(workspace: str | Path, state: dict[str, Any]) -> None:
    from reme.atomic import write_atomic

    write_atomic(learn_dir(workspace) / "state.json", json.dumps(state, indent=2, sort_keys=True).encode("utf-8"))


def _append_run(workspace: str | Path, row: KindReport) -> None:
    path = learn_dir(workspace) / "runs.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(row.model_dump_json() + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_runs(workspace: str | Path) -> list[KindReport]:
    """Every row ``reme learn`` appended, oldest first."""
    path = learn_dir(workspace) / "runs.jsonl"
    if not path.is_file():
        return []
    return [KindReport.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# ----------------------------------------------------------------------------------------------- samples


def usable_samples(samples: Sequence[Sample], kind: str) -> list[Sample]:
    """The kind's samples with a known behaviour probability and a known return, oldest first; not an LLM's."""
    rows = [
        s for s in samples
        if s.decision.kind == kind and has_propensity(s.decision) and has_return(s) and not from_llm(s.decision)
    ]  # fmt: skip
    return sorted(rows, key=lambda s: s.decision.time)


def split_by_time(rows: Sequence[Any], holdout: float) -> tuple[list[Any], list[Any]]:
    """The oldest ``1 - holdout`` share and the most recent ``holdout`` share (each at least one row)."""
    cut = min(max(1, round(len(rows) * (1.0 - holdout))), len(rows) - 1)
    return list(rows[:cut]), list(rows[cut:])


# ----------------------------------------------------------------------------------------------- estimates


def paired_difference(candidate: Estimate, serving: Estimate, config: LearnConfig) -> Estimate:
    """Candidate minus serving on the same held-back decisions, term by term, with its bootstrap interval (whole
    units resampled together). Where the two versions act alike their terms are alike and cancel, so the difference
    is known far more tightly than either value: in benchmarks/simulate_use.py a rank candidate's own lower bound
    sat a median 0.49 below its estimate (last ten simulated days, on a reward in [0, 1])."""
    if len(candidate.units) != len(serving.units):
        raise ValueError("a paired difference needs both estimates on the same decisions")
    units = [np.asarray(c) - np.asarray(s) for c, s in zip(candidate.units, serving.units, strict=True)]
    low, high = bootstrap_interval(units, np.random.default_rng(config.seed), config.bootstrap, config.confidence)
    return Estimate(
        method=f"paired {candidate.method}",
        value=round(float(np.concatenate(units).mean()), 4),
        low=round(low, 4),
        high=round(high, 4),
        n=candidate.n,
    )


def _action_key(action: Any) -> str:
    return json.dumps(action, sort_keys=True, default=str)


def single_decision_estimate(
    policy: Any, rows: Sequence[Sample], reward_model: dict[str, float], baseline: float, config: LearnConfig
) -> Estimate:
    """Doubly robust (DR) and SNIPS estimates of ``policy`` on logged single decisions (write, compact).

    With ``w_i = pi(a_i | s_i) / mu(a_i | s_i)`` and the reward model ``q(a)`` (the training slice's mean return of
    action ``a``, ``baseline`` for an action it never saw):

        DR    = mean_i [ sum_a pi(a | s_i) q(a)  +  w_i (r_i - q(a_i)) ]
        SNIPS = sum w_i r_i / sum w_i

    The sum over actions runs over the actions a write state lists; for the compaction's combinatorial actions it
    is ``q`` of the policy's greedy action. DR is unbiased when either the reward model or the propensities are
    right; SNIPS is reported beside it, but not used to promote: when the candidate takes actions the log never
    took, its self-normalisation drops them and it overestimates (measured on a write log without discards:
    SNIPS 0.98 where DR gave 0.57, what the candidate earns). The interval is DR's percentile bootstrap."""
    rng = np.random.default_rng(config.seed)
    log_w, rets, direct, q_logged = [], [], [], []
    for sample in rows:
        state = policy.state_from_record(sample.decision)
        action = sample.decision.action
        log_w.append(policy.logprob(state, action) - sample.behaviour_logprob)
        rets.append(sample.ret)
        q_logged.append(reward_model.get(_action_key(action), baseline))
        direct.append(_direct_term(policy, state, reward_model, baseline))
    w = np.exp(np.clip(np.asarray(log_w, dtype=np.float64), -50.0, 50.0))
    r = np.asarray(rets, dtype=np.float64)
    terms = np.asarray(direct, dtype=np.float64) + w * (r - np.asarray(q_logged, dtype=np.float64))
    low, high = bootstrap_interval(
        [terms[i : i + 1] for i in range(len(terms))], rng, config.bootstrap, config.confidence
    )
    return Estimate(
        method="dr",
        value=round(float(terms.mean()), 4),
        low=round(low, 4),
        high=round(high, 4),
        n=len(rows),
        snips=round(float((w * r).sum() / w.sum()), 4) if w.sum() > 0 else None,
        ess=round(float(w.sum() ** 2 / (w**2).sum()), 1) if w.sum() > 0 else 0.0,
        units=[[float(t)] for t in terms],
    )


def _direct_term(policy: Any, state: Any, reward_model: dict[str, float], baseline: float) -> float:
    allowed = getattr(state, "allowed", None)
    if allowed is not None:  # a write state: its few actions can be listed
        total = 0.0
        for action in allowed:
            total += float(np.exp(policy.logprob(state, action))) * reward_model.get(_action_key(action), baseline)
        return total
    greedy = policy.decide(state, mode="greedy").action
    return reward_model.get(_action_key(greedy), baseline)


def reward_model(rows: Sequence[Sample], min_action_samples: int = 0) -> tuple[dict[str, float], float]:
    """The training slice's mean return per action, and the value of any other action: the overall mean, or, with
    ``min_action_samples``, the worst return the slice holds, and the actions with fewer samples than that count as
    other actions. That is the pessimistic reward model of the write decision (``LearnConfig.min_action_samples``):
    an action the log has hardly tried (a writer that never updates) gets the worst value the log has seen, not the
    average, so a candidate cannot win its estimate by moving to it (measured in benchmarks/simulate_use.py: with
    the mean, every promoted writer had learned to update where the serving one discarded, overwriting stored
    evidence)."""
    by_action: dict[str, list[float]] = defaultdict(list)
    for s in rows:
        by_action[_action_key(s.decision.action)].append(s.ret)
    if not rows:
        return {}, 0.0
    if min_action_samples > 0:
        worst = float(min(s.ret for s in rows))
        return {a: float(np.mean(v)) for a, v in by_action.items() if len(v) >= min_action_samples}, worst
    return {a: float(np.mean(v)) for a, v in by_action.items()}, float(np.mean([s.ret for s in rows]))


# ----------------------------------------------------------------------------------------------- training


def _learned_start(kind: str, serving: Any) -> Any:
    """The policy a candidate starts from: a copy of a learned serving version, or a fresh learned policy."""
    if hasattr(serving, "torch_module"):
        return copy.deepcopy(serving)
    if kind == "write":
        from reme.policy.write_mlp import PacedMLPWritePolicy

        return PacedMLPWritePolicy()
    from reme.policy.compact_mlp import RankedMLPCompactPolicy

    return RankedMLPCompactPolicy()


def _logprobs(policy: Any, states: Sequence[Any], actions: Sequence[Any]) -> Any:
    import torch

    if policy.kind == "write":
        return policy.logprob_torch(list(states), list(actions))
    return torch.stack([policy.logprob_torch(s, a) for s, a in zip(states, actions)])


def _write_kl(policy: Any, states: Sequence[Any], reference: Any) -> Any:
    """Mean over states of ``KL(policy || reference)`` over the allowed write actions (``reference``: log-probs,
    ``-inf`` where not allowed)."""
    import torch

    logp = policy.masked_logprobs(*policy.batch_inputs(list(states)))
    allowed = torch.isfinite(reference) & torch.isfinite(logp)
    zero = torch.zeros_like(logp)
    logp, reference = torch.where(allowed, logp, zero), torch.where(allowed, reference, zero)  # no inf in the graph
    return torch.where(allowed, logp.exp() * (logp - reference), zero).sum(1).mean()


def train_single_decisions(
    start: Any, rows: Sequence[Sample], config: LearnConfig, clone: bool
) -> tuple[Any, list[dict[str, float]]]:
    """Off-policy training of a write or compact policy on logged decisions (see the module); ``clone`` first
    fits the logged actions (the heuristic's), so training improves the serving rule rather than a random one."""
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    policy = start
    module = policy.torch_module()
    states = [policy.state_from_record(s.decision) for s in rows]
    actions = [s.decision.action for s in rows]
    logp_mu = torch.tensor([s.behaviour_logprob for s in rows], dtype=torch.float64)
    rets = np.asarray([s.ret for s in rows], dtype=np.float64)
    adv_all = (rets - rets.mean()) / (rets.std() + 1e-6)
    optimizer = torch.optim.Adam(module.parameters(), lr=config.lr)
    batch = min(64, len(rows))
    history: list[dict[str, float]] = []
    for step in range(config.clone_steps if clone else 0):
        idx = rng.choice(len(rows), batch, replace=False)
        loss = -_logprobs(policy, [states[i] for i in idx], [actions[i] for i in idx]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append({"step": step + 1, "clone_loss": round(loss.item(), 6)})
    prox = copy.deepcopy(policy)
    reference = None
    if policy.kind == "write" and config.kl_coef > 0:
        with torch.no_grad():
            reference = policy.masked_logprobs(*policy.batch_inputs(states))
    for step in range(1, config.steps + 1):
        if step % 10 == 1:
            prox.torch_module().load_state_dict(module.state_dict())
        idx = rng.choice(len(rows), batch, replace=False)
        s_b, a_b = [states[i] for i in idx], [actions[i] for i in idx]
        with torch.no_grad():
            logp_prox = _logprobs(prox, s_b, a_b)
            weight = (logp_prox - logp_mu[idx]).exp().clamp(max=config.importance_cap)
        logp_new = _logprobs(policy, s_b, a_b)
        adv = torch.as_tensor(adv_all[idx], dtype=torch.float64)
        loss, _ = clipped_surrogate(logp_new - logp_prox, adv, config.epsilon, weight)
        if reference is not None:
            loss = loss + config.kl_coef * _write_kl(policy, s_b, reference[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(
            {"step": step, "loss": round(loss.item(), 6), "behaviour_weight": round(weight.mean().item(), 4)}
        )
    if hasattr(policy, "refresh_version"):
        policy.refresh_version()
    return policy, history


# ----------------------------------------------------------------------------------------------- one kind


def _targets_check(
    per_target: dict[str, tuple[Estimate, Estimate]], config: LearnConfig
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each target's verdict (the activation gate's ``TargetVerdict``, as a row) and the targets that lose."""
    from reme.train.gate import TargetVerdict

    verdicts = []
    for target, (cand, serv) in sorted(per_target.items()):
        judged = cand.n >= config.min_target_decisions
        diff = round(cand.value - serv.value, 4)
        verdicts.append(
            TargetVerdict(target=target, decisions=cand.n, judged=judged, candidate=cand.value, serving=serv.value,
                          difference=diff, loses=judged and diff < -config.target_margin)
        )  # fmt: skip
    return [v.model_dump() for v in verdicts], [v.target for v in verdicts if v.loses]


def _judge(
    kind: Kind,
    serving_name: str,
    serving: Any,
    candidate: Any,
    held: Sequence[Any],
    train_size: int,
    estimate: Callable[[Any, list[Any]], Estimate],
    target_of: Callable[[Any], str],
    config: LearnConfig,
) -> tuple[KindReport, Any | None]:
    """Step 4-5 of the module for any kind: both versions estimated on the held-back slice overall and per target,
    and the promotion rule. Returns the row, and the candidate when it should serve."""
    cand_est, serv_est = estimate(candidate, list(held)), estimate(serving, list(held))
    by_target: dict[str, list[Any]] = defaultdict(list)
    for row in held:
        by_target[target_of(row)].append(row)
    per_target = (
        {t: (estimate(candidate, r), estimate(serving, r)) for t, r in by_target.items()} if len(by_target) > 1 else {}
    )
    targets, losing = _targets_check(per_target, config)
    difference = paired_difference(cand_est, serv_est, config)
    report = KindReport(
        time=utc_now(), kind=kind, outcome="kept", why="", serving=serving_name, candidate=candidate.version,
        train_samples=train_size, holdout_samples=len(held), serving_estimate=serv_est, candidate_estimate=cand_est,
        difference=difference, targets=targets,
    )  # fmt: skip
    if difference.low <= 0.0:
        report.why = (
            f"the candidate's paired lower bound {serv_est.value + difference.low:.4f} (serving estimate plus the "
            f"lower end {difference.low:+.4f} of candidate minus serving) does not beat the serving version's "
            f"estimate {serv_est.value:.4f}"
        )
        return report, None
    if losing:
        report.why = f"it loses more than {config.target_margin} on the slice of {', '.join(losing)}"
        return report, None
    return report, candidate


def _single_kind(
    kind: Kind, serving_name: str, serving: Any, rows: list[Sample], config: LearnConfig
) -> tuple[KindReport, Any | None]:
    """Write or compact: train from single logged decisions, estimate by DR."""
    train, held = split_by_time(rows, config.holdout)
    model, baseline = reward_model(train, config.min_action_samples if kind == "write" else 0)
    clone = not hasattr(serving, "torch_module")
    candidate, _ = train_single_decisions(_learned_start(kind, serving), train, config, clone)

    def estimate(policy: Any, sample_rows: list[Sample]) -> Estimate:
        return single_decision_estimate(policy, sample_rows, model, baseline, config)

    def target_of(sample: Sample) -> str:
        return str(sample.decision.extra.get("target", ""))

    return _judge(kind, serving_name, serving, candidate, held, len(train), estimate, target_of, config)


def _rank_kind(
    workspace: Path,
    serving_name: str,
    serving: Any,
    rows: list[LoggedRankSample],
    config: LearnConfig,
) -> tuple[KindReport, Any | None]:
    """Rank: the decoupled PPO of ``rank_ppo`` from the serving head (or a bounded residual on ReMe's fusion, which
    starts at its ordering), the pseudoinverse estimator of ``ope``."""
    from reme.policy.rank import MLPRankPolicy
    from reme.train.ope import evaluate_offpolicy
    from reme.train.rank_ppo import PPOConfig, train_ppo

    train, held = split_by_time(rows, config.holdout)
    if hasattr(serving, "head"):
        start = copy.deepcopy(serving)
    else:
        start = MLPRankPolicy(seed=config.seed, residual_bound=config.rank_residual_bound)
    ppo = PPOConfig(steps=config.steps, lr=config.lr, epsilon=config.epsilon, importance_cap=config.importance_cap,
                    seed=config.seed, eval_every=config.steps + 1)  # fmt: skip
    candidate = train_ppo(train, ppo, policy=start).policy
    candidate.refresh_version()

    def estimate(policy: Any, sample_rows: list[LoggedRankSample]) -> Estimate:
        out = evaluate_offpolicy(
            sample_rows, policy, workspace=workspace, bootstrap=config.bootstrap, seed=config.seed, terms=True
        )  # the same seed for every policy: common random numbers, so the paired difference cancels them
        return Estimate(method=str(out["method"]), value=float(out["estimate"]), low=float(out.get("ci_low", 0.0)),
                        high=float(out.get("ci_high", 0.0)), n=len(sample_rows), snips=out["snis"]["estimate"],
                        ess=out.get("ess"), units=[t.tolist() for t in out["terms"]])  # fmt: skip

    def target_of(sample: LoggedRankSample) -> str:
        return sample.target

    return _judge("rank", serving_name, serving, candidate, held, len(train), estimate, target_of, config)


# ---------------------------------------------------------------------------------------------- the rank canary
def train_from_used(serving: Any, rows: Sequence[UsedRanking], config: LearnConfig, bound: float = 2.0) -> Any:
    """A rank candidate from the ``used`` rewards on shown memories: the listwise cross-entropy of
    ``reme.train.rank_supervised`` with the used memories of each search as its target, over the memories it showed,
    from the serving head (or, when a rule serves, a residual bounded by ``bound`` on ReMe's fusion that starts at its
    ordering). It learns which of what was shown proved useful; the whole-ordering PPO learns from one reward per
    search, which says nothing about the memories the serving policy never showed (benchmarks/rank_ope_truth.py)."""
    from reme.policy.rank import MLPRankPolicy
    from reme.train.rank_data import RankExample
    from reme.train.rank_supervised import SupervisedConfig, train_supervised

    start = (
        copy.deepcopy(serving) if hasattr(serving, "head") else MLPRankPolicy(seed=config.seed, residual_bound=bound)
    )
    examples = [RankExample(r.decision_id, r.decision_id, r.features, r.used, int(r.used.sum())) for r in rows]
    supervised = SupervisedConfig(steps=config.steps, lr=config.lr, seed=config.seed, eval_every=config.steps + 1)
    candidate = train_supervised(examples, supervised, policy=start).policy
    candidate.refresh_version()
    return candidate


def _canary_draw(sample: Sample, version: str) -> bool | None:
    """Whether the canary ``version`` answered this search (``None``: the search was not drawn between them)."""
    from reme.policy.explore import exploration_of

    found = exploration_of(sample.decision)
    return found.canary_served if found is not None and found.canary == version else None


def canary_difference(rows: Sequence[tuple[bool, float]], share: float, config: LearnConfig) -> Estimate:
    """Canary minus serving on the searches drawn between them (``(canary answered, return)``): the inverse
    propensity estimate ``mean_i r_i ([canary_i] / share - [serving_i] / (1 - share))``, with its percentile
    bootstrap over searches; ``snips`` is the difference of the two sides' means."""
    terms = np.asarray([r * (1.0 / share if c else -1.0 / (1.0 - share)) for c, r in rows], dtype=np.float64)
    low, high = bootstrap_interval(
        [terms[i : i + 1] for i in range(len(terms))], np.random.default_rng(config.seed), config.bootstrap,
        config.confidence,
    )  # fmt: skip
    ours = [r for c, r in rows if c]
    theirs = [r for c, r in rows if not c]
    return Estimate(
        method="canary ips",
        value=round(float(terms.mean()), 4),
        low=round(low, 4),
        high=round(high, 4),
        n=len(rows),
        snips=round(float(np.mean(ours) - np.mean(theirs)), 4) if ours and theirs else None,
    )


def _judge_canary(
    root: Path, serving_name: str, joined: Sequence[Sample], canary: Any, config: LearnConfig
) -> tuple[KindReport, dict[str, Any] | None]:
    """The running canary (``registry.Canary``) against the serving version on the searches drawn between them since
    it began (inverse-propensity difference, canary minus serving, and the same per target: a target loses when its
    point estimate is below ``-target_margin`` and its interval wholly below 0).

    A candidate canary is promoted (through the style gate, with these per-target verdicts) when the lower bound is
    above 0, the replaced version then held back on the same share; it ends when the upper bound is below 0, a
    target loses more than ``target_margin``, or after ``canary_max_searches`` undecided. A holdback watches the
    promotion: the promoted version is rolled back when the holdback is better with confidence (the upper bound of
    promoted minus holdback below 0), when that difference over all searches is below ``-rollback_margin``, or
    when it loses a target; the holdback ends when the promoted version is better with confidence or after
    ``canary_max_searches``. Else the canary goes on."""
    from reme.policy.registry import clear_canary, rollback, set_holdback
    from reme.settings import load_settings
    from reme.train.gate import ActivationRefusedError, GateReport, TargetVerdict, gated_activate

    version, since, holdback = canary.version, canary.since, canary.holdback
    share = load_settings(root).policies.exploration.canary
    since_rows = [s for s in joined if s.decision.kind == "rank" and s.decision.time >= since and s.rewards > 0]
    drawn = [(s, c) for s in since_rows if (c := _canary_draw(s, version)) is not None]
    name = "holdback" if holdback else "canary"
    row = KindReport(time=utc_now(), kind="rank", outcome="canary", serving=serving_name, candidate=version, why="",
                     holdout_samples=len(drawn))  # fmt: skip
    sides = sum(c for _, c in drawn), sum(not c for _, c in drawn)
    if len(drawn) < config.canary_min_searches or min(sides) < config.canary_min_searches // 4 or not 0 < share < 1:
        row.why = (
            f"{name} {version}: {sides[0]} searches answered by it, {sides[1]} by the serving version where they "
            f"differ (of {len(since_rows)} rewarded searches since {since}); {config.canary_min_searches} needed"
        )
        return row, None
    differ = len(drawn) / max(len(since_rows), 1)
    sign = -1.0 if holdback else 1.0  # a holdback is judged the other way: the serving version is the newcomer
    on_drawn = canary_difference([(c, sign * s.ret) for s, c in drawn], share, config)
    low, high = (on_drawn.low, on_drawn.high)
    # the gain over all searches: where the two agree the difference is 0
    row.difference = Estimate(method=f"{name} ips, all searches", value=round(on_drawn.value * differ, 4),
                              low=round(low * differ, 4), high=round(high * differ, 4), n=len(since_rows),
                              snips=on_drawn.snips)  # fmt: skip
    agree = [s.ret for s in since_rows if _canary_draw(s, version) is None]
    serving_value = float(np.mean([s.ret for s, c in drawn if not c] or [0.0]))
    serving_value = (float(np.mean(agree)) if agree else serving_value) * (1 - differ) + serving_value * differ
    row.serving_estimate = Estimate(method="on-policy", value=round(serving_value, 4), low=0.0, high=0.0,
                                    n=len(since_rows))  # fmt: skip
    row.candidate_estimate = Estimate(method=f"on-policy + {name} ips", value=round(serving_value + sign *
                                      row.difference.value, 4), low=0.0, high=0.0, n=len(since_rows))  # fmt: skip
    by_target: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    for s, c in drawn:
        by_target[str(s.decision.extra.get("target", ""))].append((c, sign * s.ret))
    verdicts = []
    for target, pairs in sorted(by_target.items()):
        judged = len(pairs) >= config.min_target_decisions and 0 < sum(c for c, _ in pairs) < len(pairs)
        own = canary_difference(pairs, share, config) if judged else None
        # a target loses when its own slice shows it: beyond the margin, and its interval wholly below 0 (on ~20
        # drawn searches a point estimate alone is below -0.02 by chance about half the time)
        loses = own is not None and own.value < -config.target_margin and own.high < 0
        verdicts.append(TargetVerdict(target=target, decisions=len(pairs), judged=judged,
                                      difference=None if own is None else own.value, loses=loses))  # fmt: skip
    row.targets = [v.model_dump() for v in verdicts]
    losing = [v.target for v in verdicts if v.loses]
    what = f"serving {serving_name} minus holdback {version}" if holdback else f"canary {version} minus serving"
    what += f" where they differ {on_drawn.value:+.4f} [{low:+.4f}, {high:+.4f}] over {len(drawn)} searches "
    what += f"({sides[0]} answered by the {name}; they differ on {differ:.0%} of {len(since_rows)})"
    if holdback:
        if high < 0 or row.difference.value < -config.rollback_margin or losing:
            previous = rollback(root, "rank")
            clear_canary(root, "rank", why=f"{what}; rolled back")
            row.outcome = "rolled_back"
            row.why = what + (f"; it loses on {', '.join(losing)}" if losing else "") + f": serving {previous} again"
        elif low > 0 or len(drawn) >= config.canary_max_searches:
            clear_canary(root, "rank", why=what)
            row.outcome = "watch_passed"
            row.why = what + ": the holdback ends"
        else:
            row.why = what + ": the holdback goes on"
        return row, None
    if high < 0 or losing or (len(drawn) >= config.canary_max_searches and low <= 0):
        clear_canary(root, "rank", why=what)
        row.outcome = "kept"
        row.why = what + (f"; it loses on {', '.join(losing)}" if losing else "") + ": the canary ends"
        return row, None
    if low <= 0:
        row.why = what + ": the canary goes on"
        return row, None
    report = GateReport(candidate_version=version, serving_version=serving_name, margin=config.target_margin,
                        min_decisions=config.min_target_decisions, targets=verdicts)  # fmt: skip
    try:
        gated_activate(root, version, target_report=report)
    except ActivationRefusedError as exc:
        clear_canary(root, "rank", why=f"{what}; the activation gates refuse it")
        row.outcome = "kept"
        row.why = f"{what}, but the activation gates refuse it: {exc}"
        return row, None
    clear_canary(root, "rank", why=f"{what}; promoted")
    held = set_holdback(root, "rank", serving_name)
    row.outcome = "promoted"
    row.why = what + f": promoted, {serving_name} held back on the same share to watch it"
    return row, {"version": version, "since": utc_now(), "baseline": serving_value, "holdback": held}


def _start_canary(
    root: Path, serving: Any, used: Sequence[UsedRanking], row: KindReport, config: LearnConfig
) -> KindReport:
    """Train rank candidates from the ``used`` rewards (the serving head's, or one per ``used_residual_bounds``
    while a rule serves) and make the first that passes the style gate the canary: a head that loses on another
    style would never be promoted, so it is shown to no one."""
    from reme.eval.styles import style_report
    from reme.policy.registry import set_canary
    from reme.settings import load_settings
    from reme.train.gate import style_cache_dir

    policies = load_settings(root).policies
    if not 0 < policies.exploration.canary < 1:
        row.why += "; no canary (policies.exploration.canary is not between 0 and 1)"
        return row
    refused = []
    bounds: list[float | None] = [None] if hasattr(serving, "head") else list(config.used_residual_bounds)
    for bound in bounds:
        candidate = train_from_used(serving, used, config, bound or 0.0)
        styles = style_report(candidate, scale=policies.style_scale, margin=policies.style_margin,
                              cache_dir=style_cache_dir(root))  # fmt: skip
        if styles.passed:
            break
        names = ", ".join(f"{s.style} {s.difference:+.3f}" for s in styles.failing)
        refused.append(f"{'the serving head' if bound is None else f'bound {bound:g}'} ({names})")
    else:
        row.why += f"; not tried as a canary: loses more than {policies.style_margin} recall@10 on " + "; ".join(
            refused
        )
        return row
    folder = learn_dir(root) / "candidates" / f"rank-{candidate.version}"
    candidate.save(folder)
    _, row.candidate = set_canary(root, str(folder), note={"source_detail": "reme learn", "bound": bound})
    row.outcome = "canary"
    where = (
        "" if bound is None else f" (residual bound {bound:g}{'; refused: ' + '; '.join(refused) if refused else ''})"
    )
    row.why += (
        f"; tried as a canary{where} on {policies.exploration.canary:.0%} of the searches where its top k differs"
    )
    return row


def _promote(workspace: Path, kind: Kind, candidate: Any, report: KindReport) -> str:
    """Save the candidate under ``learn/candidates/`` and serve it (a rank head through the activation gates)."""
    from reme.policy.registry import activate
    from reme.train.gate import gated_activate

    folder = learn_dir(workspace) / "candidates" / f"{kind}-{candidate.version}"
    candidate.save(folder)
    note = {"source_detail": "reme learn", "learn": report.model_dump(exclude={"targets"})}
    if kind == "rank":
        gated_activate(workspace, str(folder))
    else:
        activate(workspace, str(folder), note=note)
    return str(candidate.version)


def _served_by(workspace: Path, kind: str, setting: str) -> tuple[str, str]:
    """``("policy", name)`` for a heuristic setting (its decisions match by policy name, whatever their
    parameters), else ``("version", version)``."""
    from reme.policy.registry import HEURISTIC, heuristic_for, resolve

    if setting == HEURISTIC:
        return "policy", str(heuristic_for(kind).name)
    version = resolve(workspace, kind, setting)
    if version == HEURISTIC:
        return "policy", str(heuristic_for(kind).name)
    return "version", version


def _returns_of(samples: Sequence[Sample], kind: str, by: tuple[str, str] | None) -> list[tuple[str, float]]:
    """``(time, return)`` of the kind's decisions with a return, taken by ``by`` (``(field, value)``) or any."""
    return [(s.decision.time, s.ret) for s in samples
            if s.decision.kind == kind and has_return(s) and not from_llm(s.decision)
            and (by is None or getattr(s.decision, by[0]) == by[1])]  # fmt: skip


def _returns_at_the_same_age(
    samples: Sequence[Sample],
    kind: str,
    since: str,
    live_rows: Sequence[tuple[str, float]],
    latest: str,
    join_before: Callable[[str], Sequence[Sample]],
) -> list[float]:
    """The returns of the kind's last ``len(live_rows)`` decisions before the activation (the replaced version's,
    and before it the versions it replaced, when it served only briefly), as the log stood when the youngest of them
    was as old as the new version's youngest is now: the log's records before ``youngest_before + (latest -
    youngest_new)``."""
    times = sorted(t for t, _ in _returns_of(samples, kind, None) if t < since)[-len(live_rows) :]
    youngest_new, youngest_before, end = (
        record_time(max(t for t, _ in live_rows)), record_time(times[-1]) if times else None, record_time(latest)
    )  # fmt: skip
    if youngest_new is None or youngest_before is None or end is None:
        return []
    cutoff = datetime.fromtimestamp(youngest_before + max(end - youngest_new, 0.0), UTC).isoformat(timespec="seconds")
    return [r for t, r in _returns_of(join_before(cutoff), kind, None) if times[0] <= t < since]


def _watch(
    workspace: Path,
    kind: Kind,
    samples: Sequence[Sample],
    kind_state: dict[str, Any],
    config: LearnConfig,
    join_before: Callable[[str], Sequence[Sample]],
    latest: str,
) -> KindReport | None:
    """Judge the latest activation of ``kind`` (the learner's or anyone's, forced ones included) once the version
    it serves has ``watch_decisions`` rewarded decisions: their mean return against the replaced version's, at the
    same age (or, without such decisions, the learner's estimate of it when the learner promoted). Rolls back when
    lower by more than ``rollback_margin``. The watch goes on at every pass while the activation is the latest, on
    all its decisions so far: a version that passed its first judgement and then fell behind is still rolled back
    (measured in benchmarks/simulate_use.py: a random rank head earned 0.43 and 0.50 on its first two days, within
    the margin, then 0.31-0.36). Only its first pass and its rollback are reported.

    *The same age*: the new version's decisions were taken since the activation, and their returns hold only what
    arrived since (a memory written today has not been searched for yet). The replaced version is measured on as
    many of its decisions, its last before the activation, with the returns the log held when they were as old
    (``join_before``: the join of the records before a time; ``_returns_at_the_same_age``), so both sides have had
    the same time to be credited. Without that, a new write version always looks worse than the
    old one, whose memories had months to be used."""
    from reme.policy.registry import activations, rollback

    entries = activations(workspace, kind)
    if not entries or entries[-1].get("rollback"):
        return None
    entry = entries[-1]
    since = str(entry["time"])
    if kind == "rank":
        from reme.policy.registry import canary_of, clear_canary

        held = canary_of(workspace, kind)
        if held is not None and held.holdback:
            if held.since >= since:
                return None  # the holdback judges this activation on the same searches (``_judge_canary``)
            clear_canary(workspace, kind, why="a later activation replaced the version it watched")
    new = _served_by(workspace, kind, str(entry.get("serves") or entry["version"]))
    live_rows = [(t, r) for t, r in _returns_of(samples, kind, new) if t >= since]
    live = [r for _, r in live_rows]
    if len(live) < config.watch_decisions:
        return None
    before = _returns_at_the_same_age(samples, kind, since, live_rows, latest, join_before)
    if before:
        base, source = float(np.mean(before)), f"the mean return at the same age of the last {len(before)} before it"
    elif kind_state.get("baseline") is not None:
        base, source = float(kind_state["baseline"]), "the learner's estimate of it"
    else:
        return None
    first = kind_state.get("judged") != since
    kind_state["judged"] = since
    mean = float(np.mean(live))
    row = KindReport(time=utc_now(), kind=kind, outcome="watch_passed", serving=new[1], why="")
    if mean >= base - config.rollback_margin and not first:
        return None  # still within the margin: reported once
    if mean < base - config.rollback_margin:
        previous = rollback(workspace, kind)
        row.outcome = "rolled_back"
        row.why = (
            f"live mean return {mean:.4f} over {len(live)} decisions fell below the replaced version's {base:.4f} "
            f"({source}) by more than {config.rollback_margin}; serving {previous} again"
        )
    else:
        row.why = (
            f"live mean return {mean:.4f} over {len(live)} decisions; the replaced version's {base:.4f} ({source})"
        )
    return row


def _log_mark(records: Sequence[Any]) -> str:
    last = records[-1] if records else None
    ident = getattr(last, "decision_id", None) or getattr(last, "reward_id", "")
    return f"{len(records)}:{ident}"


def matured(rows: Sequence[Sample], latest: str, days: float) -> list[Sample]:
    """The samples whose decisions are at least ``days`` older than ``latest`` (all of them when a time is
    unreadable)."""
    end = record_time(latest)
    if end is None or days <= 0:
        return list(rows)
    cutoff = datetime.fromtimestamp(end - days * DAY_SECONDS, UTC).isoformat(timespec="seconds")
    return [s for s in rows if s.decision.time <= cutoff]


def _learn_kind(
    root: Path,
    kind: Kind,
    joined: Sequence[Sample],
    config: LearnConfig,
    latest: str = "",
    records: Sequence[Any] = (),
) -> tuple[KindReport, dict[str, Any] | None]:
    """Steps 2-5 of the module for one kind: its row, and the watch to keep when it promoted. ``records``: the log
    (the rank learner reads its ``used`` rewards)."""
    from reme.policy.registry import load_active, resolve
    from reme.settings import load_settings

    settings = load_settings(root)
    setting = getattr(settings.policies, kind)
    serving_name = resolve(root, kind, setting)
    serving = load_active(root, kind, setting)
    if kind == "rank":
        from reme.policy.rank import with_fusion_weight
        from reme.policy.registry import canary_of

        serving = with_fusion_weight(serving, settings.retrieval.vector_weight)  # as a Memory of this workspace serves

        running = canary_of(root, "rank")
        if running is not None:
            return _judge_canary(root, serving_name, joined, running, config)
        used = used_rankings(records)
        if len(used) >= config.min_samples:
            row = KindReport(time=utc_now(), kind="rank", outcome="kept", serving=serving_name, train_samples=len(used),
                             why=f"trained on the used memories of {len(used)} searches; the log cannot judge it "
                                 "(it shows memories the serving version did not)")  # fmt: skip
            return _start_canary(root, serving, used, row, config), None
    rank_rows = rank_samples(joined) if kind == "rank" else []  # the join keeps log order
    usable: Sequence[Any] = rank_rows if kind == "rank" else usable_samples(joined, kind)
    if kind == "write":
        usable = matured(usable, latest, config.write_maturity_days)
    if len(usable) < config.min_samples:
        why = f"{len(usable)} usable decisions (explored or sampled, and rewarded"
        why += f"; writes at least {config.write_maturity_days:g} days old)" if kind == "write" else ")"
        why += f"; {config.min_samples} needed"
        return KindReport(time=utc_now(), kind=kind, outcome="skipped", serving=serving_name, why=why), None
    if kind == "rank":
        row, candidate = _rank_kind(root, serving_name, serving, rank_rows, config)
    else:
        row, candidate = _single_kind(kind, serving_name, serving, list(usable), config)
    if candidate is None or row.difference is None or row.serving_estimate is None:
        return row, None
    from reme.train.gate import ActivationRefusedError

    try:
        version = _promote(root, kind, candidate, row)
    except ActivationRefusedError as exc:
        row.why = f"the log favours it, but the activation gates refuse it: {exc}"
        return row, None
    row.outcome = "promoted"
    row.why = (
        f"paired lower bound {row.serving_estimate.value + row.difference.low:.4f} > serving estimate "
        f"{row.serving_estimate.value:.4f} (candidate minus serving {row.difference.value:+.4f}, "
        f"[{row.difference.low:+.4f}, {row.difference.high:+.4f}]); no target loses more than {config.target_margin}"
    )
    return row, {"version": version, "since": utc_now(), "baseline": row.serving_estimate.value}


def learn(workspace: str | Path, config: LearnConfig | None = None) -> list[KindReport]:
    """One learning pass over ``workspace``'s log for each of ``config.kinds`` (see the module); returns the rows
    it appended to ``learn/runs.jsonl``."""
    config = config or LearnConfig()
    root = Path(workspace)
    if not root.is_dir():
        raise BadInputError(f"no workspace at {root}")
    rows: list[KindReport] = []
    records: list[Any] = []

    def emit(row: KindReport) -> None:
        row.log_records = len(records)
        rows.append(row)
        _append_run(root, row)

    with learner_lock(root), learner_session(root):  # PostgreSQL: one learner across hosts, the registry synced
        state = _read_state(root)
        records.extend(logged_records(root))
        mark = _log_mark(records)
        credit = credit_of(root, config.gamma)
        joined = join_rewards(records, **credit).samples
        latest = max((str(getattr(r, "time", "")) for r in records), default="")

        def join_before(moment: str) -> list[Sample]:
            return join_rewards([r for r in records if str(getattr(r, "time", "")) < moment], **credit).samples

        for kind in config.kinds:
            kind_state = state.setdefault(kind, {})
            watched = _watch(root, kind, joined, kind_state, config, join_before, latest)
            if watched is not None:
                emit(watched)
                _write_state(root, state)
                if watched.outcome == "rolled_back":
                    continue
            if kind_state.get("mark") == mark:
                emit(KindReport(time=utc_now(), kind=kind, outcome="skipped", why="no new records since the last run"))
                continue
            try:
                row, watch = _learn_kind(root, kind, joined, config, latest, records)
            except Exception as exc:  # a failing kind leaves its serving version alone, and is retried next run
                emit(KindReport(time=utc_now(), kind=kind, outcome="failed", why=f"{type(exc).__name__}: {exc}"))
                continue
            if watch is not None:
                kind_state["baseline"] = watch["baseline"]
            kind_state["mark"] = mark
            emit(row)
            _write_state(root, state)
        _write_state(root, state)
    return rows


def reward_over_time(
    workspace: str | Path, gamma: float | None = None
) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Per kind, per serving version: ``(position in the log, return)`` of each decision with a return, oldest
    first."""
    records = logged_records(workspace)
    position = {getattr(r, "decision_id", ""): i for i, r in enumerate(records)}
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for s in join_rewards(records, **credit_of(workspace, gamma)).samples:
        if not has_return(s):
            continue
        label = f"{s.decision.policy}@{s.decision.version}" if s.decision.version else s.decision.policy
        out.setdefault(s.decision.kind, {}).setdefault(label, []).append((position[s.decision.decision_id], s.ret))
    for versions in out.values():
        for rows in versions.values():
            rows.sort()
    return out


def plot_rewards(workspace: str | Path, path: str | Path, gamma: float | None = None) -> Path:
    """A PNG of the return of rewarded decisions over the log, one panel per kind and one line per version (the
    running mean of 20); the learner's promotions and rollbacks as vertical lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = reward_over_time(workspace, gamma)
    kinds = [k for k in KINDS if k in curves] or ["rank"]
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.0 * len(kinds), 3.8), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for label, rows in sorted(curves.get(kind, {}).items()):
            x = np.asarray([p for p, _ in rows])
            y = np.asarray([r for _, r in rows], dtype=np.float64)
            window = min(20, len(y))
            ax.plot(x[window - 1 :], np.convolve(y, np.ones(window) / window, mode="valid"), label=label)
        ax.set_title(kind)
        ax.set_xlabel("position in the log")
        ax.set_ylabel("return (running mean of 20)")
        if curves.get(kind):
            ax.legend(fontsize=7)
    for row in read_runs(workspace):
        if row.outcome in ("promoted", "rolled_back") and row.kind in kinds:
            color = "tab:green" if row.outcome == "promoted" else "tab:red"
            axes[0][kinds.index(row.kind)].axvline(row.log_records, color=color, linestyle=":", linewidth=1)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def learn_in_background(
    workspace: str | Path,
    every_seconds: float,
    on_change: Callable[[list[KindReport]], None],
    config: LearnConfig | None = None,
) -> tuple[threading.Thread, threading.Event]:
    """``reme serve --learn``: a daemon thread that runs ``learn`` every ``every_seconds`` and calls ``on_change``
    with the rows of a pass that promoted or rolled back (the service then reloads its policies). A pass that
    raises (another learner holds the lock, say) is logged and retried at the next tick. Set the returned event
    to stop it."""
    if not every_seconds > 0:
        raise BadInputError(f"the learning interval must be positive, got {every_seconds!r}")
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_seconds):
            try:
                rows = learn(workspace, config)
            except Exception as exc:  # the service keeps serving whatever the learner hits
                log.warning("reme learn pass failed: %s", exc)
                continue
            changed = [r for r in rows if r.outcome in ("promoted", "rolled_back")]
            if changed:
                on_change(changed)

    thread = threading.Thread(target=loop, name="reme-learn", daemon=True)
    thread.start()
    return thread, stop
