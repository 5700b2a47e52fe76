"""``reme train-policy --decision writer --backend local``: GRPO of the LLM memory writer (``reme.llm.write_gate``) on
a local model (SmolLM2-135M-Instruct by default), with the rank head updated from the same episodes.

Each step, for ``groups_per_step`` groups:

1. draw a training conversation (weighted by its questions) and a window start; every rollout of the group shares
   the state before the window (the base rule decided it);
2. run the shared episode (``reme.envs.writer_episode.run_writer_episode``, what AReaL's workflow runs too) ``G``
   times: the writer *samples* its ``window`` decisions (store or skip, and the note it stores), the head ranks
   the questions' candidates from what was stored (sampled, logged), and the write rewards are joined (evidence
   found in the top ``k``, credited to the writes that hold it, minus ``storage_cost`` per stored memory);
3. advantages: each window position's forks form a group (the forks share the state at the window start), their
   joined returns centred by position and scaled by the batch's std (``group_advantages``).

The loss is GRPO's on tokens (``token_grpo_loss``): for every sampled decision, the choice between ``STORE:`` and
``SKIP`` (normalised over the two) and each note token, ``-mean(w min(rho A, clip(rho, 1 - eps, 1 + eps) A)) + beta
KL`` with ``rho`` the ratio of the current model to the **behaviour log-probabilities recorded when the decision was
sampled**, ``w`` sharing each decision's weight among its tokens, and KL (k3) to the reference model (the same
weights with the LoRA adapter off). A first run at lr 5e-4 and beta 0.02 collapsed to ``SKIP`` within 5 steps
(Adam moves every LoRA weight by about lr per step whatever the gradient's size): lr 1e-4 and beta 0.1 now. The
weights trained are a LoRA adapter (``peft``) on the attention projections. The head (``MLPRankPolicy``,
initialised to ReMe's fusion) takes ``head_ppo_steps`` of decoupled PPO (``reme.train.rank_ppo.train_ppo``) on the
searches of the step's episodes.

Evaluation is on conversations the run does not train on, greedy, the writer deciding every candidate at the
budget: the trained writer, the untrained one (the adapter off), the shipped MLP write gate and the budget-paced
novelty/length rule, through the same episode code, with ReMe's fused search ranking (so the writers are compared,
not the head).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reme.envs.write import WriteEpisode, load_write_policy
from reme.envs.writer_episode import WriterEpisodeConfig, run_writer_episode
from reme.errors import BadInputError
from reme.llm.write_gate import SKIP, STORE, LLMWriteGate
from reme.progress import progress_bar
from reme.retrieval.embedding import Encoder
from reme.train.common import group_advantages, step_row, write_run
from reme.train.write_grpo import question_weights, usable_episodes

__all__ = ["WriterGRPOConfig", "evaluate_writers", "train_writer"]

LEARNED = "llm-writer-trained"


@dataclass
class WriterGRPOConfig(WriterEpisodeConfig):
    """The episode's settings (``budget`` 0.3, ``k`` 10, ``storage_cost`` 0.1, ``window`` 4) and the trainer's."""

    steps: int = 30
    group_size: int = 4
    groups_per_step: int = 1
    lr: float = 1e-4
    lora_r: int = 8
    lora_alpha: int = 16
    epsilon: float = 0.2
    beta: float = 0.1
    """KL coefficient towards the reference model (the adapter off)."""
    update_epochs: int = 1
    temperature: float = 0.7
    """What the writer samples at (its choice and its note)."""
    note_tokens: int = 12
    head_ppo_steps: int = 4
    head_lr: float = 3e-3
    seed: int = 0
    time_limit_s: float = 1200.0
    """Training stops after this many seconds (the evaluation then runs): a CPU run stays within 30 minutes."""
    model: str = "smollm2"
    """``smollm2`` (the local model) or a saved transformers model directory."""

    def __post_init__(self) -> None:
        for name in ("steps", "group_size", "groups_per_step", "lora_r", "update_epochs", "note_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadInputError(f"{name} must be a positive integer, got {value!r}")
        if self.group_size < 2:
            raise BadInputError("group_size must be >= 2 (advantages compare rollouts of a group)")
        if self.window is None or self.window < 1:
            raise BadInputError("the training window must be a positive number of candidates")
        if not self.temperature > 0 or not self.epsilon > 0 or self.beta < 0 or self.head_ppo_steps < 0:
            raise BadInputError("temperature and epsilon must be > 0, beta and head_ppo_steps >= 0")
        super().__post_init__()


# ------------------------------------------------------------------------------------------------ the model
def load_writer_model(config: WriterGRPOConfig) -> Any:
    """The writer's client (``HFChatClient``) with a fresh LoRA adapter on its model."""
    from peft import LoraConfig, get_peft_model

    from reme.llm.factory import build_llm
    from reme.llm.hf_client import HFChatClient
    from reme.llm.local_model import LOCAL_SPECS

    spec = "local" if config.model.strip().lower() in (*LOCAL_SPECS, "smollm2") else f"hf:{config.model}"
    client = build_llm(spec, seed=config.seed, device="cpu" if not _cuda() else None)
    if not isinstance(client, HFChatClient):
        raise BadInputError(f"--model {config.model!r}: the local writer trainer needs an in-process model")
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                      target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")  # fmt: skip
    client.set_model(lambda lm: get_peft_model(lm, lora))
    return client


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@dataclass
class _Sampled:
    """One sampled writer decision, ready for the loss."""

    prompt: list[int]
    chosen: int
    note: list[int]
    behaviour: list[float]
    advantage: float


def _sampled(client: Any, decision: Any, advantage: float) -> _Sampled | None:
    replay = decision.extra.get("replay")
    if not decision.trainable or not isinstance(replay, dict):
        return None
    return _Sampled(client.prompt_ids(replay["messages"]), int(replay["chosen"]), list(replay["token_ids"]),
                    [float(t) for t in decision.extra["token_logprobs"]], advantage)  # fmt: skip


def decision_logprobs(client: Any, batch: Sequence[_Sampled], temperature: float) -> list[Any]:
    """Per decision, the current model's log-probabilities of what it recorded (with gradients): the choice between
    ``STORE:`` and ``SKIP`` normalised over the two, then each note token, at ``temperature``. One padded forward
    over two sequences per decision (prompt + ``STORE:`` + note, prompt + ``SKIP``); logits only where a token is
    scored."""
    import torch

    loaded = client._load()
    store_ids, skip_ids = client.completion_ids(STORE), client.completion_ids(SKIP)
    seqs: list[tuple[list[int], int, int]] = []  # (ids, first scored position, scored count)
    for s in batch:
        seqs.append((s.prompt + store_ids + s.note, len(s.prompt), len(store_ids) + len(s.note)))
        seqs.append((s.prompt + skip_ids, len(s.prompt), len(skip_ids)))
    width = max(len(ids) for ids, _, _ in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long, device=loaded.device)
    mask = torch.zeros((len(seqs), width), dtype=torch.long, device=loaded.device)
    for row, (seq, _, _) in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq, device=loaded.device)
        mask[row, : len(seq)] = 1
    base = loaded.lm.get_base_model() if hasattr(loaded.lm, "get_base_model") else loaded.lm
    hidden = base.model(input_ids=ids, attention_mask=mask).last_hidden_state
    scored = []
    for row, (seq, first, count) in enumerate(seqs):
        positions = torch.arange(first - 1, first + count - 1, device=loaded.device)
        logits = base.lm_head(hidden[row, positions]).float() / temperature
        targets = torch.tensor(seq[first : first + count], device=loaded.device)
        scored.append(torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0])
    out = []
    for i, s in enumerate(batch):
        on_store, on_skip = scored[2 * i], scored[2 * i + 1]
        store_total, skip_total = on_store[: len(store_ids)].sum(), on_skip.sum()
        norm = torch.logsumexp(torch.stack([store_total, skip_total]), dim=0)
        choice = (store_total if s.chosen == 0 else skip_total) - norm
        out.append(torch.cat([choice[None], on_store[len(store_ids) :]]) if s.chosen == 0 else choice[None])
    return out


def token_grpo_loss(
    new: Any, old: Any, advantages: Any, share: Any, ref: Any, epsilon: float, beta: float
) -> tuple[Any, float]:
    """GRPO's loss over the tokens of a batch of decisions (``common.clipped_surrogate`` on the ratio to the
    behaviour log-probabilities ``old``, each token weighted by ``share`` so that every decision counts once), plus
    ``beta`` times the k3 estimate of KL to ``ref``, weighted the same way. Returns ``(loss, kl)``."""
    from reme.train.common import clipped_surrogate

    pg_loss, _ = clipped_surrogate(new - old, advantages, epsilon, share)
    diff = ref - new
    kl = (share * (diff.exp() - diff - 1)).mean()
    return pg_loss + beta * kl, float(kl.detach())


# ----------------------------------------------------------------------------------------------- evaluation
def evaluate_writers(
    episodes: Sequence[WriteEpisode],
    writers: dict[str, Any],
    encoder: Encoder,
    config: WriterEpisodeConfig,
    show_progress: bool = False,
) -> dict[str, dict[str, float]]:
    """Greedy episodes with each writer deciding every candidate at the budget, ranked by ReMe's fused search:
    ``recall@5`` and ``recall@10`` (means over questions), ``stored_fraction`` and ``return`` (the writer's joined
    return, mean over conversations)."""
    return _pooled(episodes, _per_episode(episodes, writers, encoder, config, show_progress))


def _per_episode(
    episodes: Sequence[WriteEpisode],
    writers: dict[str, Any],
    encoder: Encoder,
    config: WriterEpisodeConfig,
    show_progress: bool,
) -> dict[str, dict[str, Any]]:
    """``{label: {episode id: WriterOutcome}}`` of greedy episodes, the writer deciding every candidate."""
    every = config.episode(window=None)
    out: dict[str, dict[str, Any]] = {}
    with progress_bar("evaluating writers", total=len(writers) * len(episodes), enabled=show_progress) as advance:
        for label, writer in writers.items():
            out[label] = {}
            for episode in episodes:
                out[label][episode.episode_id] = run_writer_episode(episode, writer, encoder, every, mode="greedy")
                advance(1)
    return out


def _pooled(episodes: Sequence[WriteEpisode], results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``evaluate_writers``'s table over ``episodes`` from ``_per_episode``'s outcomes."""
    queries = max(1, sum(len(e.questions) for e in episodes))
    n = max(1, len(episodes))
    table: dict[str, dict[str, float]] = {}
    for label, by_id in results.items():
        chosen = [(e, by_id[e.episode_id]) for e in episodes if e.episode_id in by_id]
        if not chosen:
            continue
        recall = {key: sum(r.outcome.recall[key] * len(e.questions) for e, r in chosen) / queries
                  for key in ("recall@5", "recall@10")}  # fmt: skip
        table[label] = {**{k: round(v, 4) for k, v in recall.items()},
                        "stored_fraction": round(sum(r.outcome.stored_fraction for _, r in chosen) / n, 4),
                        "return": round(sum(r.reward for _, r in chosen) / n, 4)}  # fmt: skip
    return table


class _AdapterOff:
    """The writer with the LoRA adapter disabled: the untrained model, through the same client."""

    def __init__(self, gate: LLMWriteGate):
        self.gate = gate
        self.name = gate.name
        self.kind = gate.kind

    def decide(self, state: Any, mode: str = "greedy", rng: Any = None) -> Any:
        with self.gate.client._load().lm.disable_adapter():
            return self.gate.decide(state, mode, rng)


# ------------------------------------------------------------------------------------------------- training
def train_writer(
    train: Sequence[WriteEpisode],
    val: Sequence[WriteEpisode],
    out: str | Path,
    encoder: Encoder,
    config: WriterGRPOConfig | None = None,
    show_progress: bool = False,
    val_styles: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Train (module docstring), save the adapter in ``out/adapter`` and the head in ``out/head``, and write
    ``metrics.json`` and ``curves.png`` with the held-out comparison (``val_styles``: style name -> its validation
    conversation ids, each also reported alone in ``final_by_style``)."""
    import torch

    from reme.policy.rank import MLPRankPolicy
    from reme.policy.rewards import join_rewards
    from reme.train.logs import rank_samples
    from reme.train.rank_ppo import PPOConfig, train_ppo

    config = config or WriterGRPOConfig()
    train = usable_episodes(train)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    client = load_writer_model(config)
    gate = LLMWriteGate(client, note_tokens=config.note_tokens, temperature=config.temperature)
    lm = client._load().lm
    trainable = [p for p in lm.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(trainable, lr=config.lr)
    head = MLPRankPolicy(hidden=64, seed=config.seed, init="heuristic")
    baselines = {"llm-writer-untrained": _AdapterOff(gate), "mlp-write-gate": load_write_policy("default"),
                 "novelty-length": load_write_policy("novelty-length")}  # fmt: skip
    before_by_episode = _per_episode(val, baselines, encoder, config, show_progress)
    weights = question_weights(train)
    history: list[dict[str, Any]] = []
    head_rows: list[dict[str, float]] = []
    train_started = time.perf_counter()
    stopped_early = False
    window = int(config.window or 1)
    with progress_bar("training (writer, grpo)", total=config.steps, enabled=show_progress) as advance:
        for step in range(1, config.steps + 1):
            if time.perf_counter() - train_started > config.time_limit_s:
                stopped_early = True
                break
            batch: list[_Sampled] = []
            returns: list[float] = []
            head_samples: list[Any] = []
            stores = decisions = 0
            for g in range(config.groups_per_step):
                episode = train[int(rng.choice(len(train), p=weights))]
                start = int(rng.integers(0, max(episode.n - window, 0) + 1))
                group = [
                    run_writer_episode(
                        episode,
                        gate,
                        encoder,
                        config,
                        start=start,
                        mode="sample",
                        rng=rng,
                        head=head,
                        group_id=f"s{step}g{g}",
                    )
                    for _ in range(config.group_size)
                ]
                for result in group:
                    head_samples.extend(rank_samples(join_rewards(result.head_records).samples))
                    returns.append(result.reward)
                    for d in result.writer_decisions:
                        decisions += 1
                        stores += d.action == "store"
                own = np.asarray([r.writer_returns for r in group])  # (G, window)
                position = np.tile(np.arange(own.shape[1]), own.shape[0])
                centred, informative = group_advantages(own.ravel(), position, scale="batch")
                if not informative.any():
                    continue
                advantages = centred.reshape(own.shape)
                for result, row in zip(group, advantages):
                    for decision, adv in zip(result.writer_decisions, row):
                        sampled = _sampled(client, decision, float(adv))
                        if sampled is not None and adv != 0:
                            batch.append(sampled)
            loss_value = kl_value = 0.0
            if batch:
                old = torch.tensor([t for s in batch for t in s.behaviour], dtype=torch.float32)
                adv = torch.tensor([s.advantage for s in batch for _ in s.behaviour], dtype=torch.float32)
                # every decision weighs the same, however long its note: its tokens share 1 / len
                share = torch.tensor([len(old) / (len(batch) * len(s.behaviour)) for s in batch for _ in s.behaviour])
                with torch.no_grad(), lm.disable_adapter():
                    ref = torch.cat(decision_logprobs(client, batch, config.temperature))
                for _epoch in range(config.update_epochs):
                    new = torch.cat(decision_logprobs(client, batch, config.temperature))
                    loss, kl = token_grpo_loss(new, old, adv, share, ref, config.epsilon, config.beta)
                    optimiser.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                    optimiser.step()
                loss_value, kl_value = float(loss.detach()), kl
            if head_samples and config.head_ppo_steps:
                ppo = PPOConfig(steps=config.head_ppo_steps, batch_samples=min(128, len(head_samples)),
                                lr=config.head_lr, seed=config.seed + step, eval_every=10**9)  # fmt: skip
                head = train_ppo(head_samples, ppo, policy=head).policy
                head_rows.append({"step": step, "searches": len(head_samples),
                                  "mean_reward": float(np.mean([s.ret for s in head_samples]))})  # fmt: skip
            history.append(step_row(step, reward=float(np.mean(returns)) if returns else 0.0, loss=loss_value,
                                    kl=kl_value))  # fmt: skip
            history[-1]["store_share"] = round(stores / max(1, decisions), 4)
            advance(1, f"return {np.mean(returns):.3f}  stores {stores}/{decisions}")
    train_seconds = time.perf_counter() - train_started
    lm.save_pretrained(out / "adapter")
    client.tokenizer.save_pretrained(out / "adapter")
    head.save(out / "head")
    after_by_episode = _per_episode(val, {LEARNED: gate}, encoder, config, show_progress)
    before, after = _pooled(val, before_by_episode), _pooled(val, after_by_episode)
    by_style = {
        style: _pooled([e for e in val if e.episode_id in ids], {**after_by_episode, **before_by_episode})
        for style, ids in (val_styles or {}).items()
    }
    validation = [{"step": 0, "results": {LEARNED: before["llm-writer-untrained"], **before}}] if val else []
    if val:
        validation.append({"step": len(history), "results": {**after, **before}})
    metrics = {
        "decision": "writer",
        "algo": "grpo",
        "backend": "local",
        "model": str(client.path),
        "config": asdict(config),
        "train_conversations": sorted(e.episode_id for e in train),
        "val_conversations": sorted(e.episode_id for e in val),
        "steps": history,
        "head": head_rows,
        "validation": validation,
        "final": {**after, **before},
        "final_by_style": by_style,
        "steps_run": len(history),
        "stopped_at_time_limit": stopped_early,
        "train_seconds": round(train_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "device": "cuda" if _cuda() else "cpu",
        "trainable_parameters": int(sum(p.numel() for p in trainable)),
    }
    title = f"reme train-policy --decision writer (LoRA on {Path(str(client.path)).name}), budget {config.budget}"
    return write_run(out, metrics, title, learned=LEARNED, validation_keys=("recall@10", "return"))
