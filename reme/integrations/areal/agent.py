"""The AReaL agent workflow: one episode of memory writing, rewarded by the questions asked afterwards.

Two episodes, by ``episode``:

- ``gate`` (the default): the shared writer episode of ``reme.envs.writer_episode``, the same code that ``reme
  train-policy --decision writer --backend local`` runs on a CPU: the LLM write gate (``reme.llm.write_gate``, here
  on AReaL's endpoint: its reply generated and parsed) decides a window of the conversation's candidate turns from
  ``data["start"]`` (store or skip, and the note it stores), the head ranks the questions' candidates, and the
  reward returned to AReaL is the writer decisions' joined return (evidence found in the top ``k``, credited to the
  writes, minus ``memory_cost`` per stored memory);
- ``react``: ReMeLight's ReAct writer with its file tools over whole sessions (below), for larger models.

The ``react`` episode:

AReaL 1.0.4's proxy paradigm wraps any importable class with ``async def run(self, data, **extra_kwargs)`` and
trains every token generated through the ``base_url`` / ``api_key`` / ``http_client`` it injects. Here that endpoint
is the **memory writer** of ``ReMeLight.summary_memory``. This module never imports areal.

``run(data)`` with ``data = {"episode": <Episode JSON>, "group_id"?: str}`` (one JSONL row of the experiment):

1. a fresh ReMeLight workspace; each session of the episode goes through the ReAct writer (trained endpoint), which
   writes ``memory/*.md``;
2. each scored question is searched in the written memory by the **rank head** (this project's policy, sampled, its
   current checkpoint hot-reloaded from ``head_dir``), and scored: ``answer_recall`` = the share of the gold
   answer's normalised tokens found in the top ``k`` snippets; with ``answer_base_url`` a frozen answering model
   (its own endpoint, never trained) answers from the snippets and ``judge`` scores 1 / 0 by token F1 >= 0.5;
3. the episode reward is ``mean(question score) - memory_cost * (memory tokens / conversation tokens)``, returned
   to AReaL as a Python ``float``;
4. the head's decisions (with ``episode_id``, ``group_id``, version and behaviour log-probability) and the writer's
   are appended to the shared trajectory sink ``sink_dir`` with a ``task`` reward per search (its question's
   score), under a file lock, where ``reme train-policy --from-trajectories SINK [--follow]`` trains the head.

Constructor arguments are plain values (AReaL re-creates the object on every rollout worker).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger("reme.areal")

__all__ = ["ReMeWriterAgent", "episode_messages"]


def episode_messages(episode: Any) -> list[list[dict[str, str]]]:
    """The episode's sessions as OpenAI-format message lists (first speaker ``user``, the others ``assistant``)."""
    sessions: dict[str, list[dict[str, str]]] = {}
    first = episode.turns[0].speaker if episode.turns else ""
    for turn in episode.turns:
        text = turn.text + (f" [shares {turn.image_caption}]" if turn.image_caption else "")
        if not text.strip():
            continue
        role = "user" if turn.speaker == first else "assistant"
        prefix = f"({turn.date}) " if turn.date else ""
        sessions.setdefault(turn.session_id, []).append({"role": role, "content": f"{prefix}{turn.speaker}: {text}"})
    return list(sessions.values())


class ReMeWriterAgent:
    """AReaL's proxy contract: ``await agent.run(data, base_url=..., api_key=..., http_client=...) -> float``."""

    def __init__(
        self,
        sink_dir: str = "",
        head_dir: str = "",
        model: str = "default",
        k: int = 10,
        memory_cost: float = 0.2,
        language: str = "en",
        answer_base_url: str = "",
        answer_model: str = "",
        answer_api_key: str = "",
        embedding_model: str = "",
        episode: str = "gate",
        window: int = 4,
        budget: float = 0.3,
        note_tokens: int = 12,
        temperature: float = 1.0,
    ):
        if episode not in ("gate", "react"):
            raise ValueError(f"episode must be 'gate' or 'react', got {episode!r}")
        self.sink_dir = sink_dir
        self.head_dir = head_dir
        self.model = model
        self.k = int(k)
        self.memory_cost = float(memory_cost)
        self.language = language
        self.answer_base_url = answer_base_url
        self.answer_model = answer_model
        self.answer_api_key = answer_api_key
        self.embedding_model = embedding_model
        self.episode = episode
        self.window = int(window)
        self.budget = float(budget)
        self.note_tokens = int(note_tokens)
        self.temperature = float(temperature)
        self._write_episodes: dict[str, Any] = {}
        self._head: Any = None
        self._head_version = ""
        self._answerer: Any = None
        self.encoder: Any = None
        """An embedding encoder to use instead of the configured model (tests)."""

    # ---------------------------------------------------------------------------------------------- head
    def head(self) -> Any:
        """The rank head: the checkpoint in ``head_dir`` (reloaded when its version changes), else ReMe's fusion."""
        from reme.policy.rank import HeuristicRankPolicy, MLPRankPolicy

        spec = Path(self.head_dir) / "policy.json" if self.head_dir else None
        if spec is None or not spec.is_file():
            if self._head is None:
                self._head = HeuristicRankPolicy()
            return self._head
        try:
            version = json.loads(spec.read_text(encoding="utf-8")).get("version", "")
        except (OSError, json.JSONDecodeError):
            return self._head or HeuristicRankPolicy()
        if version != self._head_version:
            try:
                self._head = MLPRankPolicy.load(self.head_dir)
                self._head_version = version
                log.info("rank head %s loaded from %s", version, self.head_dir)
            except Exception as exc:  # a half-published checkpoint: keep the previous head this episode
                log.warning("could not load the rank head in %s (%s); keeping %s", self.head_dir, exc, self._head)
        return self._head

    # ---------------------------------------------------------------------------------------------- run
    async def run(self, data: dict[str, Any], **extra_kwargs: Any) -> float:
        from reme.llm import LLMConfig
        from reme.llm.openai_client import OpenAIChatClient
        from reme.schema import Episode

        episode = Episode.model_validate(data["episode"])
        group_id = str(data.get("group_id") or episode.episode_id)
        base_url = extra_kwargs.get("base_url") or os.environ.get("OPENAI_BASE_URL")
        api_key = extra_kwargs.get("api_key") or os.environ.get("OPENAI_API_KEY")
        config = LLMConfig(model=self.model, base_url=base_url, api_key=api_key, max_retries=0)
        writer = OpenAIChatClient(config, http_client=extra_kwargs.get("http_client"))
        if self.episode == "gate":
            import asyncio

            reward, records = await asyncio.to_thread(self._gate_episode, episode, group_id, writer,
                                                      int(data.get("start", 0)))  # fmt: skip
            if self.sink_dir:
                _append_locked(Path(self.sink_dir), records, self.head())
            return float(reward)
        with tempfile.TemporaryDirectory(prefix="reme-areal-") as tmp:
            reward, records = await self._episode(episode, group_id, writer, Path(tmp))
            if self.sink_dir:  # while the episode's registry (its shipped defaults included) still exists
                _append_locked(Path(self.sink_dir), records, self.head(), Path(tmp) / "ws")
        return float(reward)

    def _gate_episode(self, episode: Any, group_id: str, writer: Any, start: int) -> tuple[float, list[Any]]:
        """The shared writer episode (``reme.envs.writer_episode``) with the write gate on AReaL's endpoint."""
        import numpy as np

        from reme.envs.hybrid import cached_encoder
        from reme.envs.write import WriteEpisode
        from reme.envs.writer_episode import WriterEpisodeConfig, run_writer_episode
        from reme.llm.write_gate import LLMWriteGate

        encoder = self.encoder or cached_encoder(None, None, None)
        built = self._write_episodes.get(episode.episode_id)
        if built is None:  # encoded once per worker
            built = self._write_episodes[episode.episode_id] = WriteEpisode.build(episode, encoder)
        config = WriterEpisodeConfig(budget=self.budget, k=self.k, storage_cost=self.memory_cost, window=self.window)
        gate = LLMWriteGate(writer, note_tokens=self.note_tokens, temperature=self.temperature)
        run_id = f"{episode.episode_id}:{uuid.uuid4().hex[:8]}"
        result = run_writer_episode(built, gate, encoder, config, start=min(start, built.n), mode="sample",
                                    rng=np.random.default_rng(), head=self.head(), group_id=group_id)  # fmt: skip
        records: list[Any] = [*result.writer_decisions, *result.head_records]
        for record in records:
            record.episode_id = run_id
            if getattr(record, "type", "") == "decision":
                record.group_id = record.group_id or group_id
        log.info("episode %s (start %d): writer reward %.4f", run_id, start, result.reward)
        return result.reward, records

    async def _episode(self, episode: Any, group_id: str, writer: Any, root: Path) -> tuple[float, list[Any]]:
        from reme.eval.metrics import is_scored
        from reme.messages import rule_token_count
        from reme.policy.decision import Decision
        from reme.policy.trajectory import RewardEvent, read_records
        from reme.reme_light import ReMeLight

        run_id = f"{episode.episode_id}:{uuid.uuid4().hex[:8]}"
        light = ReMeLight(working_dir=str(root / "ws"), llm=writer, encoder=self.encoder, rank_policy=self.head())
        scores: dict[str, float] = {}
        async with light:
            for messages in episode_messages(episode):
                await light.summary_memory(messages, language=self.language)
            memory = light.memory
            memory.sync_markdown()
            for q in episode.questions:
                if not is_scored(q, episode.format):
                    continue
                hits = memory.search(
                    q.question, self.k, "file:memory", min_score=float("-inf"), mode="sample",
                    episode_id=run_id, group_id=group_id,
                )  # fmt: skip
                score = await self._score(q, [h.memory.content for h in hits])
                if hits and hits[0].decision_id:
                    scores[hits[0].decision_id] = score
                else:
                    scores[f"none:{q.question_id}"] = score
            files = (root / "ws" / "memory").glob("*.md")
            memory_tokens = sum(rule_token_count(p.read_text(encoding="utf-8")) for p in files)
        conversation = max(1, sum(rule_token_count(t.text) for t in episode.turns))
        quality = sum(scores.values()) / len(scores) if scores else 0.0
        reward = quality - self.memory_cost * memory_tokens / conversation
        records: list[Any] = []
        for entry in read_records(root / "ws" / "trajectories"):
            if entry.record is None:
                continue
            record = entry.record
            if isinstance(record, Decision):
                record.episode_id = record.episode_id or run_id
                record.group_id = record.group_id or group_id
            records.append(record)
        for decision_id, score in scores.items():
            if decision_id.startswith("none:"):
                continue
            records.append(
                RewardEvent(
                    reward_id=uuid.uuid4().hex, decision_id=decision_id, source="task", value=float(score),
                    episode_id=run_id,
                )
            )  # fmt: skip
        log.info("episode %s: reward %.4f (quality %.4f, memory %d tokens)", run_id, reward, quality, memory_tokens)
        return reward, records

    async def _score(self, question: Any, snippets: list[str]) -> float:
        from reme.eval.qa import answer_messages, f1_score, normalize_answer

        if self.answer_base_url:
            if self._answerer is None:  # one client for every question of every episode of this worker
                from reme.llm import LLMConfig, build_llm

                self._answerer = build_llm(
                    LLMConfig(model=self.answer_model or "default", base_url=self.answer_base_url,
                              api_key=self.answer_api_key or None, max_retries=2)
                )  # fmt: skip
            try:
                result = await self._answerer.achat(answer_messages(question.question, snippets), max_tokens=64)
            except Exception as exc:
                log.warning("answering model failed (%s): question %s scores 0", exc, question.question_id)
                return 0.0
            return 1.0 if f1_score(result.text, question.answer) >= 0.5 else 0.0
        gold = set(normalize_answer(question.answer).split())
        if not gold:
            return 0.0
        found = set(normalize_answer(" ".join(snippets)).split())
        return len(gold & found) / len(gold)


def _append_locked(sink: Path, records: list[Any], head: Any, episode_root: Path | None = None) -> None:
    """Append ``records`` to ``sink/trajectories`` while holding ``sink/.lock`` (rollout workers share the sink);
    a learned head, and every learned version of the episode's registry that took one of the records (a shipped
    default, say), is copied into the sink's registry, so that ``reme trajectories verify SINK`` re-scores them."""
    from reme.policy.registry import ensure_registered, load_version, registry_dir
    from reme.policy.trajectory import TrajectoryLog

    taken = {r.version for r in records if getattr(r, "type", "") == "decision"}
    missing = sorted(v for v in taken if not (registry_dir(sink) / v).is_dir())  # load only what the sink lacks
    learned = []
    if episode_root is not None:
        learned = [load_version(episode_root, v) for v in missing if (registry_dir(episode_root) / v).is_dir()]

    sink.mkdir(parents=True, exist_ok=True)
    with open(sink / ".lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            for policy in (head, *learned):
                ensure_registered(sink, policy)
            trajectory = TrajectoryLog(sink / "trajectories")
            for record in records:
                trajectory.append(record)
            trajectory.close()
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
