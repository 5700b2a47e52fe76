"""Learning from use, simulated: a user talks to an agent for many days, the agent's memory learns every decision from
its own log with ``reme learn`` after each day, and its reward per day is compared with the shipped defaults and
with ReMe's heuristics, which never learn.

The simulated users (``--users`` of them, one target each, ``user:u0`` ...) are the synthetic generator's
``assistant``-style conversations shaped as LongMemEval's (``reme.datasets.longmemeval_synth.shape_conversation``:
personal context on every user turn, assistant replies of ~1,700 characters that echo the user's words, questions
in the first person), one session per simulated day. The shipped writer was trained on the unshaped styles only
(training/recipes/default-policies.sh: chat, assistant, agent); the shipped rank and compact defaults are ReMe's
heuristics, trained on nothing. Each day, for each user:

1. **Questions first.** The questions of the conversation whose evidence was said on earlier days are asked again
   and again, ``delays`` days after their last evidence day, through ``Memory.search_with_decision`` (the rank
   decision). A search is *rewarded* 1 when a memory of its top ``k`` holds an evidence turn, else 0
   (``Memory.feedback(decision_id=...)``), and each evidence memory it returned is rewarded 1 as ``used``
   (``memory_id=...``): the write credit of ``reme.policy.rewards``.
2. **The day's talk.** Each turn is written through ``Memory.add`` (the write decision; the workspace sets
   ``policies.write_budget``) and appended to the agent's context; before each agent reply the context goes through
   ReMeLight's ``pre_reasoning_hook`` (the compact decision, then ReMeLight's summariser and its background
   ``summary_memory`` writer, both answered by a scripted summariser: no model ships). After a compaction the
   simulated host checks what the agent still holds verbatim: the reward is the share of the fact turns in the
   context it compacted (the session's observations: turns known to hold a fact) that it kept, sent on the compact
   decision (``ReMeLight.last_compact_decision``, ``source="task"``); a compaction whose context held no fact turn
   is not rewarded (it could keep nothing that mattered).
3. **Learning** (the ``learned`` arm only): ``reme learn`` (``reme.train.learn.learn``) for write, rank and compact,
   then ``ReMeLight.reload_policies()``.

Arms (``reme.yaml`` of each workspace): ``heuristic`` (ReMe's rules: store every turn, linear fusion, tail reserve;
no exploration), ``shipped`` (this reme's defaults at ``write_budget`` 0.3, no exploration), ``learned`` (the
shipped defaults with exploration on: write 0.05, rank 0.2, compact 0.2, learning after every day; its rewards
include what exploring cost). Credit rules:
the workspace defaults (storage 0.001 per memory-day) with ``gamma`` 1 (the storage cost already prices time).

Reward per day, per decision (each arm's figure; the paired columns hold the store or the context fixed):

- ``write``: the recall of the day's questions under the heuristic ranking of the arm's own candidates (so the
  ranker does not count) minus the storage cost the credit rules charge for the day (``storage_cost_per_day`` times
  the memories held at the day's end) per question of the day.
- ``rank``: the share of the day's searches rewarded 1 (the served ranking). ``rank_heuristic``: the same searches
  ranked by the heuristic (same candidates).
- ``compact``: the mean reward of the day's compactions (the share of the session's facts kept verbatim).
  ``compact_heuristic``: the heuristic's split of the same contexts.

After the last day, ``rollback``: a deliberately bad rank head (random weights) is served by force in the learned
arm (``registry.activate``, no gate), and the questions go on for ``rollback_days`` days with ``reme learn`` after
each: the watcher must roll it back.

    python benchmarks/simulate_use.py --seeds 0,1,2 --days 30 --json benchmarks/results/simulate-use.json \
        --plot docs/simulate_use.png

prints one JSON document (``--json PATH`` also writes it): per seed, arm and day the three rewards, what ``reme
learn`` did each day, the rollback, and ``verdict``: per decision, whether the learned arm's mean over the last
``--last`` days is above both baselines in every seed and by more than the seeds' spread.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ARMS = ("heuristic", "shipped", "learned")
KINDS = ("write", "rank", "compact")
START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
TOP_K = 5
"""Results per search: ReMeLight's ``memory_search`` default ``max_results``."""
MAX_INPUT_LENGTH = 2000
"""The agent's context window (tokens by ReMe's rule count): threshold ``int(2000 * 0.7 * 0.95) = 1330``."""
COMPACT_RESERVE = 700
WRITE_BUDGET = 0.3
EXPLORATION = {"write": 0.05, "rank": 0.2, "compact": 0.2}
SUMMARY = "## Summary\n- The user and the assistant talked about the user's plans; the details are in long-term memory."


class ScriptedSummariser:
    """The LLM behind ReMeLight's summariser and writer in this simulation: a fixed, valid summary for the
    compactor, ``[SILENT]`` for the writer (the writes this simulation measures go through ``Memory.add``). Its
    decisions carry no token log-probabilities (nothing to train)."""

    async def achat(self, messages: list[dict[str, Any]], **_: Any) -> Any:
        from reme.llm.types import ChatResult

        system = " ".join(str(m.get("content", "")) for m in messages[:1]).lower()
        text = "[SILENT]" if "memory" in system and "summary" not in system else SUMMARY
        return ChatResult(text=text, model="scripted-summariser", backend="scripted")

    def chat(self, messages: list[dict[str, Any]], **kw: Any) -> Any:
        return asyncio.run(self.achat(messages, **kw))


class CachedEncoder:
    """The default encoder, memoised by text: every arm embeds the same turns once."""

    def __init__(self, encoder: Any) -> None:
        self.inner = encoder
        self.model_id = encoder.model_id
        self.cache: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def encode(self, texts: Any, show_progress: bool = False) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            for text, row in zip(todo, self.inner.encode(todo)):
                self.cache[text] = np.asarray(row, dtype=np.float32)
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])


# ----------------------------------------------------------------------------------------------- the users


@dataclass
class Turn:
    dia_id: str
    speaker: str
    text: str
    fact: bool


@dataclass
class Question:
    text: str
    evidence: set[str]
    last_day: int


@dataclass
class User:
    target: str
    sessions: list[list[Turn]]
    questions: list[Question]


def make_users(n_users: int, days: int, seed: int) -> list[User]:
    from reme.datasets.longmemeval_synth import shape_conversation
    from reme.datasets.synthetic import generate_synthetic

    users = []
    for u, raw in enumerate(generate_synthetic(n_users, days, 7_000 + seed, "assistant")):
        item = shape_conversation(raw, seed=7_000 + seed)
        conversation = item["conversation"]
        facts = {dia for notes in item.get("observation", {}).values() for pairs in notes.values() for _, dia in pairs}
        sessions = [
            [Turn(t["dia_id"], t["speaker"], t["text"], t["dia_id"] in facts) for t in conversation[f"session_{n}"]]
            for n in range(1, days + 1)
        ]
        questions = [
            Question(qa["question"], set(qa["evidence"]), max(int(e[1:].split(":")[0]) - 1 for e in qa["evidence"]))
            for qa in item["qa"]
            if qa.get("evidence") and qa.get("category") != 5
        ]
        users.append(User(f"user:u{u}", sessions, questions))
    return users


def due_questions(users: list[User], day: int, delays: tuple[int, ...]) -> list[tuple[User, Question]]:
    return [(u, q) for u in users for q in u.questions if any(q.last_day + d == day for d in delays)]


# ----------------------------------------------------------------------------------------------- the arms


def arm_settings(arm: str) -> dict[str, Any]:
    exploration = EXPLORATION if arm == "learned" else {"write": 0.0, "rank": 0.0, "compact": 0.0}
    policies: dict[str, Any] = {"exploration": exploration}
    if arm == "heuristic":
        policies.update(rank="heuristic", write="heuristic", compact="heuristic")
    else:
        policies.update(write_budget=WRITE_BUDGET)
    return {"policies": policies, "credit": {"gamma": 1.0}}


@dataclass
class Clock:
    moment: datetime = START

    def __call__(self) -> datetime:
        return self.moment


@dataclass
class DayRow:
    day: int
    questions: int = 0
    rank_hits: int = 0
    rank_hits_heuristic: int = 0
    rank_reachable: int = 0
    """Searches whose candidates (before ranking) held an evidence memory: what any ranking could reach."""
    evidence_stored: int = 0
    """Searches whose evidence the store held at all: what the writer left reachable."""
    memories: int = 0
    messages_seen: int = 0
    compactions: int = 0
    compact_reward: float = 0.0
    compact_reward_heuristic: float = 0.0
    learn: list[dict[str, Any]] = field(default_factory=list)
    serving: dict[str, str] = field(default_factory=dict)

    def rewards(self, storage_cost: float) -> dict[str, float | None]:
        q = self.questions
        out: dict[str, float | None] = {
            "write": None if not q else (self.rank_hits_heuristic - storage_cost * self.memories) / q,
            "rank": None if not q else self.rank_hits / q,
            "rank_heuristic": None if not q else self.rank_hits_heuristic / q,
            "compact": None if not self.compactions else self.compact_reward / self.compactions,
            "compact_heuristic": None if not self.compactions else self.compact_reward_heuristic / self.compactions,
        }
        return {k: None if v is None else round(v, 4) for k, v in out.items()}


class Simulation:
    """One arm of one seed: its workspace, its ReMeLight, the users' memory ids."""

    def __init__(self, root: Path, arm: str, users: list[User], encoder: Any, scale: Scale, seed: int) -> None:
        self.root, self.arm, self.users, self.scale, self.seed = root, arm, users, scale, seed
        root.mkdir(parents=True, exist_ok=True)
        (root / "reme.yaml").write_text(yaml.safe_dump(arm_settings(arm)), encoding="utf-8")
        self.encoder = encoder
        self.turns_of: dict[str, dict[str, set[str]]] = {u.target: {} for u in users}
        """Per user, memory id -> the dia id whose text it holds now (an update replaces the older turn's)."""
        self.seen = 0
        self.light: Any = None

    async def open(self) -> None:
        from reme.reme_light import ReMeLight

        self.light = ReMeLight(str(self.root), llm=ScriptedSummariser(), encoder=self.encoder)
        await self.light.start()

    async def close(self) -> None:
        if self.light is not None:
            await self.light.close()

    @property
    def memory(self) -> Any:
        return self.light.memory

    # -------------------------------------------------------------------------------- questions (rank, write)
    def ask(self, user: User, question: Question, row: DayRow) -> None:
        from reme.policy.rank import HeuristicRankPolicy

        decision, hits = self.memory.search_with_decision(question.text, TOP_K, user.target)
        turns_of = self.turns_of[user.target]
        returned = [h.memory.memory_id for h in hits]
        found = [m for m in returned if turns_of.get(m, set()) & question.evidence]
        self.memory.feedback(1.0 if found else 0.0, decision_id=decision.decision_id)
        for memory_id in found:
            self.memory.feedback(1.0, memory_id=memory_id, source="used")
        row.questions += 1
        row.rank_hits += bool(found)
        # the heuristic's ordering of the same candidates, with the same score floor
        heuristic = HeuristicRankPolicy()
        state = heuristic.state_from_record(decision)
        fused = heuristic.scores(state)
        floor = self.memory.retrieval.min_score
        order = [int(i) for i in np.argsort(-fused, kind="stable") if fused[i] >= floor][:TOP_K]
        ids = decision.memory_ids
        row.rank_hits_heuristic += any(turns_of.get(ids[i], set()) & question.evidence for i in order)
        row.rank_reachable += any(turns_of.get(m, set()) & question.evidence for m in ids)
        row.evidence_stored += any(dias & question.evidence for dias in turns_of.values())  # nothing is deleted

    # -------------------------------------------------------------------------------- the talk (write, compact)
    async def talk(self, user: User, day: int, row: DayRow, clock: Clock) -> None:
        from reme.policy.compact import HeuristicCompactPolicy, apply, compact_state_from_record

        context: list[dict[str, Any]] = []
        dias: list[str] = []
        summary = ""
        said_facts: set[str] = set()
        for i, turn in enumerate(user.sessions[day]):
            clock.moment = START + timedelta(days=day, hours=1, minutes=2 * i)
            node = self.memory.add(
                turn.text, user.target, message_time=clock.moment.isoformat(timespec="seconds"),
                metadata={"speaker": turn.speaker, "session_id": f"{user.target}/d{day}", "dia_id": turn.dia_id},
            )  # fmt: skip
            self.seen += 1
            if node is not None:
                self.turns_of[user.target][node.memory_id] = {turn.dia_id}  # an update replaces the older text
            context.append({"role": turn.speaker, "content": turn.text})
            dias.append(turn.dia_id)
            if turn.fact:
                said_facts.add(turn.dia_id)
            if turn.speaker != "user":
                continue
            before = self.light.last_compact_decision
            kept, summary = await self.light.pre_reasoning_hook(
                context, compressed_summary=summary, max_input_length=MAX_INPUT_LENGTH, compact_ratio=0.7,
                memory_compact_reserve=COMPACT_RESERVE, language="en",
            )  # fmt: skip
            decision = self.light.last_compact_decision
            if decision is None or decision is before:
                continue
            state = compact_state_from_record(decision)
            keep = set(range(len(context)))
            if len(kept) < len(context):  # compacted: the decision's split (else every message stayed)
                keep = set(apply(state, decision)[1])
            heuristic_keep = set(apply(state, HeuristicCompactPolicy().decide(state))[1])
            facts_in = [j for j, d in enumerate(dias) if d in said_facts]
            if facts_in:
                reward = sum(j in keep for j in facts_in) / len(facts_in)
                self.memory.feedback(reward, decision_id=decision.decision_id, source="task")
                row.compactions += 1
                row.compact_reward += reward
                row.compact_reward_heuristic += sum(j in heuristic_keep for j in facts_in) / len(facts_in)
            context = [m for j, m in enumerate(context) if j in keep]
            dias = [d for j, d in enumerate(dias) if j in keep]

    def learn(self, day: int) -> list[dict[str, Any]]:
        from reme.train.learn import LearnConfig, learn

        config = LearnConfig(
            steps=self.scale.learn_steps, bootstrap=self.scale.bootstrap, seed=day,
            watch_decisions=self.scale.watch_decisions, min_samples=self.scale.min_samples,
        )  # fmt: skip
        rows = learn(self.root, config)
        self.light.reload_policies()
        return [
            {"kind": r.kind, "outcome": r.outcome, "why": r.why, "candidate": r.candidate, "serving": r.serving,
             "train": r.train_samples, "holdout": r.holdout_samples,
             "candidate_estimate": r.candidate_estimate.value if r.candidate_estimate else None,
             "candidate_low": r.candidate_estimate.low if r.candidate_estimate else None,
             "serving_estimate": r.serving_estimate.value if r.serving_estimate else None}
            for r in rows
        ]  # fmt: skip

    def serving(self) -> dict[str, str]:
        settings = yaml.safe_load((self.root / "reme.yaml").read_text(encoding="utf-8"))
        return {k: str(settings["policies"].get(k, "default")) for k in KINDS}

    async def day(self, day: int, clock: Clock, talk: bool = True) -> DayRow:
        row = DayRow(day)
        clock.moment = START + timedelta(days=day)
        for user, question in due_questions(self.users, day, self.scale.delays):
            self.ask(user, question, row)
        if talk:
            for user in self.users:
                await self.talk(user, day, row, clock)
        row.memories = sum(self.memory.count(user.target) for user in self.users)
        row.messages_seen = self.seen
        if self.arm == "learned":
            clock.moment = START + timedelta(days=day, hours=20)
            row.learn = self.learn(day)
        row.serving = self.serving()
        return row


# ----------------------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Scale:
    days: int
    users: int
    delays: tuple[int, ...]
    rollback_days: int
    learn_steps: int
    bootstrap: int
    watch_decisions: int
    min_samples: int


SCALES = {
    "small": Scale(days=6, users=2, delays=(1, 2, 3), rollback_days=4, learn_steps=60, bootstrap=200,
                   watch_decisions=12, min_samples=15),
    "full": Scale(days=30, users=8, delays=(1, 2, 3, 5, 8, 13, 21), rollback_days=6, learn_steps=200, bootstrap=500,
                  watch_decisions=40, min_samples=40),
}  # fmt: skip


def bad_rank_head(path: Path, seed: int) -> Path:
    """A deliberately bad rank version: an MLP head with random weights (it has learned nothing)."""
    from reme.policy.rank import MLPRankPolicy

    MLPRankPolicy(seed=seed).save(path)
    return path


async def run_arm(
    root: Path, arm: str, seed: int, scale: Scale, encoder: Any, progress: Any, style_cache: Path | None = None
) -> dict[str, Any]:
    import shutil

    from reme.schema import use_clock

    users = make_users(scale.users, scale.days, seed)
    clock = Clock()
    sim = Simulation(root / f"seed{seed}-{arm}", arm, users, encoder, scale, seed)
    if style_cache is not None:  # the style gate's candidates, built once elsewhere: the same files it would build
        target = sim.root / "cache" / "style-suite"
        target.mkdir(parents=True, exist_ok=True)
        for path in Path(style_cache).glob("*.npz"):
            shutil.copy2(path, target / path.name)
    days: list[dict[str, Any]] = []
    rollback: dict[str, Any] | None = None
    storage_cost = 0.001
    with use_clock(clock):
        await sim.open()
        try:
            storage_cost = float(sim.memory.settings.credit.storage_cost_per_day)
            for day in range(scale.days):
                row = await sim.day(day, clock)
                days.append({**row.__dict__, "rewards": row.rewards(storage_cost)})
                progress(f"seed {seed} {arm} day {day + 1}/{scale.days}: {row.rewards(storage_cost)}")
            if arm == "learned" and scale.rollback_days:
                rollback = await demonstrate_rollback(sim, clock, scale, seed, progress)
        finally:
            await sim.close()
    return {"days": days, "rollback": rollback}


async def demonstrate_rollback(sim: Simulation, clock: Clock, scale: Scale, seed: int, progress: Any) -> dict:
    """Serve a random rank head by force, go on asking, and let ``reme learn``'s watcher judge it."""
    from reme.policy.registry import activate

    before = sim.serving()["rank"]
    clock.moment = START + timedelta(days=scale.days, hours=-1)
    _, bad = activate(sim.root, str(bad_rank_head(sim.root.parent / f"bad-rank-{seed}", seed)), {"forced": True})
    sim.light.reload_policies()
    days = []
    rolled_back_on = None
    for extra in range(scale.rollback_days):
        day = scale.days + extra
        row = await sim.day(day, clock, talk=False)
        days.append({"day": day, "rank": row.rewards(0.0)["rank"], "serving": row.serving["rank"],
                     "learn": [r for r in row.learn if r["kind"] == "rank"]})  # fmt: skip
        progress(f"seed {seed} rollback day {extra + 1}: rank {row.rewards(0.0)['rank']} serving {row.serving['rank']}")
        if any(r["outcome"] == "rolled_back" for r in row.learn if r["kind"] == "rank"):
            rolled_back_on = day
            break
    return {"served_before": before, "bad_version": bad, "rolled_back_on_day": rolled_back_on, "days": days,
            "serving_after": sim.serving()["rank"]}  # fmt: skip


def last_mean(days: list[dict[str, Any]], key: str, last: int) -> float | None:
    values = [d["rewards"][key] for d in days[-last:] if d["rewards"][key] is not None]
    return round(statistics.fmean(values), 4) if values else None


def verdict(results: dict[str, dict[str, Any]], seeds: list[int], last: int) -> dict[str, Any]:
    """Per decision: the last days' mean of each arm per seed; ``holds`` when the learned arm is above both baselines
    in every seed and its smallest margin exceeds the spread (max - min over seeds) of each baseline's value."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        per_arm = {arm: [last_mean(results[str(s)][arm]["days"], kind, last) for s in seeds] for arm in ARMS}
        if kind in ("rank", "compact"):  # the paired heuristic of the learned arm's own searches / contexts
            per_arm["heuristic_same_inputs"] = [
                last_mean(results[str(s)]["learned"]["days"], f"{kind}_heuristic", last) for s in seeds
            ]
        learned = per_arm["learned"]
        margins, spreads = {}, {}
        for base in [a for a in per_arm if a != "learned"]:
            pairs = [(lv, bv) for lv, bv in zip(learned, per_arm[base]) if lv is not None and bv is not None]
            margins[base] = round(min(lv - bv for lv, bv in pairs), 4) if pairs else None
            values = [v for v in per_arm[base] if v is not None]
            spreads[base] = round(max(values) - min(values), 4) if values else None
        holds = all(
            margins[b] is not None and margins[b] > 0 and margins[b] > max(spreads[b] or 0.0, 0.0)
            for b in ("heuristic", "shipped")
        )
        out[kind] = {"last_days_mean": per_arm, "smallest_margin": margins, "baseline_spread": spreads,
                     "holds": holds}  # fmt: skip
    return out


def plot(results: dict[str, Any], seeds: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"heuristic": "tab:grey", "shipped": "tab:blue", "learned": "tab:red"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, kind in zip(axes, KINDS):
        for arm in ARMS:
            series = [[d["rewards"][kind] for d in results[str(s)][arm]["days"]] for s in seeds]
            days = np.arange(1, len(series[0]) + 1)
            values = np.array([[np.nan if v is None else v for v in row] for row in series], dtype=float)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a day with no question in any seed
                mean, low, high = np.nanmean(values, 0), np.nanmin(values, 0), np.nanmax(values, 0)
            label = {"learned": "learned in use", "shipped": "shipped defaults", "heuristic": "heuristics"}[arm]
            if kind == "compact" and arm == "shipped":
                label += " (= heuristics)"
            ax.plot(days, mean, color=colours[arm], label=label)
            ax.fill_between(days, low, high, color=colours[arm], alpha=0.15)
        if kind != "write":  # the heuristic on the learned arm's own searches / contexts
            series = [[d["rewards"][f"{kind}_heuristic"] for d in results[str(s)]["learned"]["days"]] for s in seeds]
            values = np.array([[np.nan if v is None else v for v in row] for row in series], dtype=float)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ax.plot(np.arange(1, values.shape[1] + 1), np.nanmean(values, 0), color="black", linestyle=":",
                        label="heuristic on the learned arm's inputs")  # fmt: skip
        ax.legend(loc="lower right", fontsize=7)
        ax.set_title({"write": "write: recall - storage cost, per question", "rank": "rank: searches rewarded",
                      "compact": "compact: share of facts kept verbatim"}[kind])  # fmt: skip
        ax.set_xlabel("simulated day")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"reward per day (mean and range of {len(seeds)} seeds)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def merge(args: argparse.Namespace, argv: list[str] | None) -> int:
    """One report from several: their seeds' results side by side (same scale), the verdict and the plot. A later
    part's arm replaces an earlier part's for the same seed (e.g. ``--arms learned`` re-run after a learner change:
    the other arms neither explore nor learn, so they are unchanged); the verdict needs every arm for every seed."""
    parts = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.merge]
    first = parts[0]
    for part in parts[1:]:
        if part["scale"] != first["scale"]:
            raise SystemExit(f"cannot merge runs of different scales: {part['command']!r}")
    results: dict[str, dict[str, Any]] = {}
    source: dict[str, dict[str, str]] = {}
    for part in parts:
        command = part["command"] if isinstance(part["command"], str) else " + ".join(part["command"])
        for seed, arms in part["results"].items():
            results.setdefault(seed, {}).update(arms)
            source.setdefault(seed, {}).update({arm: command for arm in arms})
    seeds = sorted(int(s) for s in results)
    missing = [f"seed {s} {a}" for s in seeds for a in ARMS if a not in results[str(s)]]
    if missing:
        raise SystemExit(f"the merged runs lack {', '.join(missing)}")
    report = {**first, "command": [p["command"] for p in parts], "seeds": seeds, "arms": list(ARMS),
              "results": results, "arm_sources": source, "seconds": [p["seconds"] for p in parts]}  # fmt: skip
    report["verdict"] = verdict(results, seeds, args.last)
    report["last_days"] = args.last
    if args.plot:
        plot(results, seeds, Path(args.plot))
    text = json.dumps(report, indent=1)
    if args.json_path:
        Path(args.json_path).write_text(text + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "results"}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--days", type=int, default=None, help="override the scale's number of days")
    parser.add_argument("--users", type=int, default=None, help="override the scale's number of users")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--last", type=int, default=5, help="days averaged for the verdict")
    parser.add_argument("--work", default=None, help="folder for the workspaces (default: a temporary one)")
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument("--plot", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch/FAISS threads (default: reme.threads')")
    parser.add_argument("--style-cache", default=None, help="a folder of the style gate's built candidates to reuse")
    parser.add_argument(
        "--merge", nargs="+", default=None, metavar="JSON",
        help="combine earlier runs (e.g. one seed each, run in parallel) into one report, verdict and plot",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args, argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from reme.threads import configure_process_threads

    threads = configure_process_threads(args.threads)  # three seeds at once on 2 cores: 1 each, not 2 (7.7x faster)
    scale = SCALES[args.scale]
    if args.days or args.users:
        scale = Scale(**{**scale.__dict__, "days": args.days or scale.days, "users": args.users or scale.users})
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    arms = [a for a in args.arms.split(",") if a]
    import tempfile

    from reme.config import EmbeddingConfig
    from reme.retrieval.embedding import build_encoder

    encoder = CachedEncoder(build_encoder(EmbeddingConfig(device="cpu")))
    started = time.perf_counter()

    def progress(line: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {line}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="reme-simulate-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        results: dict[str, Any] = {}
        for seed in seeds:
            results[str(seed)] = {}
            for arm in arms:
                cache = Path(args.style_cache) if args.style_cache else None
                results[str(seed)][arm] = asyncio.run(run_arm(work, arm, seed, scale, encoder, progress, cache))
    report: dict[str, Any] = {
        "benchmark": "simulate_use",
        "command": "python benchmarks/simulate_use.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "scale": {**scale.__dict__, "delays": list(scale.delays)},
        "seeds": seeds,
        "arms": arms,
        "settings": {arm: arm_settings(arm) for arm in arms},
        "seconds": round(time.perf_counter() - started, 1),
        "threads": threads,
        "results": results,
    }
    if set(arms) == set(ARMS):
        report["verdict"] = verdict(results, seeds, args.last)
        if args.plot:
            plot(results, seeds, Path(args.plot))
    text = json.dumps(report, indent=1)
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(text + "\n", encoding="utf-8")
    summary = {k: v for k, v in report.items() if k != "results"}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
