"""The LLM write gate: a language model decides, candidate by candidate, whether a conversation turn is stored, and
writes a short note that is stored with it (what the memory is later found by). The policy ``reme train-policy
--decision writer`` trains by RL (``reme.train.writer_grpo``), through the same protocol as every write policy:
``decide(state, mode, rng) -> Decision`` with the action's log-probability.

The prompt is kept short for a CPU (the candidate turn, the turn before it, the budget left). How the action is
read from the model:

- an in-process model (``HFChatClient``): the reply is a **choice** between two fixed starts, ``STORE:`` and
  ``SKIP``, each scored teacher-forced and normalised over the two (``option_logprobs``), so a small model that
  would not follow a format freely still takes a well-formed decision; after ``STORE:`` the note is generated
  (at most ``note_tokens``, up to a newline). The decision's log-probability is the choice's plus the note's
  tokens'; ``extra["replay"]`` keeps the prompt, the options, the choice and the note's token ids, so ``reme
  trajectories verify`` re-runs the model on exactly those (``reme.llm.replay``);
- an endpoint (AReaL's proxy, an OpenAI-compatible server): the reply is generated freely and parsed; one that
  starts with neither is a ``discard`` marked ``malformed`` (nothing is written, and the logged tokens let RL learn
  the format).

When the budget allows no store, the action is a forced ``discard`` with log-probability 0 (no model call).

**Greedy is paced**, as the shipped MLP write gate and the novelty/length rule are: a candidate is stored when its
store score (the log-odds of ``STORE:`` over ``SKIP``) out-ranks the share of the stream's recent candidates that
the budget cannot afford (its percentile among the last ``REFERENCE_SIZE`` scores >= ``1 - budget_rate``), so a
writer is judged by how it ranks turns, not by where its probabilities sit (an untrained model says ``STORE:`` to
almost everything, and would spend a budget on the first turns). ``mode="sample"`` (training) draws from the
model's own choice; the recorded log-probability is always the model's for the action taken, so ``verify`` re-runs
either.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from typing import Any

import numpy as np

from reme.policy.decision import Decision
from reme.policy.write import WriteState, WriteStream
from reme.policy.write_features import WRITE_COLUMN

__all__ = ["SKIP", "STORE", "LLMWriteGate", "gate_messages", "parse_reply"]

STORE = "STORE:"
SKIP = "SKIP"
SYSTEM = (
    "You choose what an assistant keeps in its long-term memory of a conversation. You are shown one new turn and "
    "the turn before it. Reply SKIP when the new turn holds nothing that a later question could be about. Otherwise "
    "reply STORE: and a few words that name who, what and when, so that the turn can be found again."
)


def gate_messages(state: WriteState) -> list[dict[str, str]]:
    """The prompt for one candidate: the instructions, then the turn before (when known), the new turn and the
    share of the storage budget left."""
    lines = []
    if state.context:
        lines.append(f"Before: {state.context}")
    lines.append(f"New turn: {state.text}")
    if state.budget_left is not None:
        lines.append(f"Memory budget left: {round(100 * max(0.0, state.budget_left))}%")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def parse_reply(text: str) -> tuple[str, str, bool]:
    """A freely generated reply as ``(action, note, malformed)``: ``STORE: note`` stores, ``SKIP`` discards, anything
    else discards and is ``malformed``."""
    reply = text.strip()
    if reply.upper().startswith(STORE):
        rest = reply[len(STORE) :].strip()
        return "store", rest.splitlines()[0].strip() if rest else "", False
    if reply.upper().startswith(SKIP):
        return "discard", "", False
    return "discard", "", True


class LLMWriteGate:
    """A write policy whose store-or-skip decision and note come from a language model (module docstring).

    ``client``: an ``HFChatClient`` (choice + note, re-scorable) or any ``LLMClient`` (free reply, parsed);
    ``temperature``: what ``mode="sample"`` draws at (greedy decodes at 0 and picks the likelier option)."""

    name = "llm-write-gate"
    kind = "write"

    def __init__(self, client: Any, *, note_tokens: int = 16, temperature: float = 1.0, version: str | None = None):
        if note_tokens < 1 or temperature <= 0:
            raise ValueError(f"note_tokens must be >= 1 and temperature > 0, got {note_tokens} and {temperature}")
        self.client = client
        self.note_tokens = note_tokens
        self.temperature = temperature
        self._version = version
        self._recent: deque[float] = deque(maxlen=WriteStream.REFERENCE_SIZE)
        """Store scores of the stream's recent candidates (greedy pacing); emptied when a stream starts."""

    @property
    def version(self) -> str:
        """The model the decisions are re-scored with: the in-process model's directory, else the endpoint's model."""
        if self._version:
            return self._version
        path = getattr(self.client, "path", None)
        return str(path) if path is not None else str(getattr(self.client, "model", "") or "endpoint")

    def decide(self, state: WriteState, mode: str = "greedy", rng: np.random.Generator | None = None) -> Decision:
        if state.reference is None or len(state.reference) == 0:  # a stream's first candidate
            self._recent.clear()
        if "store" not in state.allowed:  # the budget is spent: nothing to ask
            return self._decision(state, "discard", 0.0, [], mode, {"forced_by_budget": True}, forced=True)
        messages = gate_messages(state)
        temperature = self.temperature if mode == "sample" else 0.0
        if hasattr(self.client, "option_logprobs"):
            return self._choose(state, messages, mode, temperature, rng)
        result = self.client.chat(messages, temperature=temperature, max_tokens=self.note_tokens + 4)
        action, note, malformed = parse_reply(result.text)
        tokens = [min(float(t), 0.0) for t in result.token_logprobs] if result.token_logprobs is not None else None
        extra = {"note": note, "reply": result.text, "malformed": malformed, "backend": getattr(result, "backend", "")}
        return self._decision(state, action, None if tokens is None else math.fsum(tokens), tokens, mode, extra)

    def _choose(
        self, state: WriteState, messages: list[dict[str, str]], mode: str, temperature: float, rng: Any
    ) -> Decision:
        options = [STORE, SKIP]
        choice = self.client.option_logprobs(messages, options, temperature=temperature or None)
        score = choice[0] - choice[1]
        paced: dict[str, float] = {}
        if mode == "sample":
            draw = (rng if rng is not None else np.random.default_rng()).random()
            chosen = 0 if draw < math.exp(choice[0]) else 1
        else:
            chosen, paced = self._paced(state, score)
        self._recent.append(score)
        tokens = [min(choice[chosen], 0.0)]
        note, ids = "", []
        if chosen == 0:
            result = self.client.chat(
                messages, prefix=STORE, temperature=temperature, max_tokens=self.note_tokens, stop=["\n"]
            )
            note, ids = result.text.strip(), list(result.token_ids or [])
            tokens += [min(float(t), 0.0) for t in result.token_logprobs or []]
        replay = {"messages": messages, "options": options, "chosen": chosen, "prefix": options[chosen] if chosen == 0
                  else "", "token_ids": ids, "temperature": temperature}  # fmt: skip
        extra = {"note": note, "p_store": math.exp(choice[0]), "backend": "hf", "replay": replay, **paced}
        return self._decision(state, "store" if chosen == 0 else "discard", math.fsum(tokens), tokens, mode, extra)

    def _paced(self, state: WriteState, score: float) -> tuple[int, dict[str, float]]:
        """Greedy's choice (0: store, 1: skip): the score's percentile among the recent ones against the budget's
        pace; without a budget column, the likelier option."""
        rate = float(state.features[WRITE_COLUMN["budget_rate"]])
        if state.budget_left is None or not self._recent:
            return (0 if score > 0 else 1), {}
        recent = np.asarray(self._recent)
        pct = float(((recent < score).sum() + 0.5 * (recent == score).sum()) / len(recent))
        return (0 if pct >= 1.0 - rate else 1), {"percentile": round(pct, 4), "budget_rate": round(rate, 4)}

    def _decision(
        self,
        state: WriteState,
        action: str,
        logprob: float | None,
        tokens: list[float] | None,
        mode: str,
        extra: dict[str, Any],
        forced: bool = False,
    ) -> Decision:
        return Decision(
            kind="write",
            policy=self.name,
            version=self.version,
            mode="sample" if mode == "sample" else "greedy",
            action=action,
            logprob=logprob,
            trainable=logprob is not None and not forced,
            forced=[forced],
            inputs={"text_sha256": hashlib.sha256(state.text.encode("utf-8")).hexdigest()},
            extra={"token_logprobs": tokens, **extra},
        )
