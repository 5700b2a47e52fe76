"""Re-scoring an LLM decision (issue 23.2): an in-process model's decision records what it was asked and which token
ids it drew (``extra["replay"]``: the prompt messages, the ids, the temperature, the positions of the tokens that
expressed the action), so ``reme trajectories verify`` can run the same model on the same prompt, teacher-forced on
the same ids, and compare each token's log-probability with the recorded one. Endpoint decisions carry no ids; the
audit checks only that their ``logprob`` is the sum of their token log-probabilities.

A decision that chose among fixed replies (``options``, the write gate's ``STORE`` / ``SKIP``) records the chosen
option's normalised log-probability first, then the tokens generated after it (``prefix``: the option's text), and
is re-scored the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["replay_record", "rescore"]


def replay_record(result: Any, prompt: list[dict[str, Any]], indices: list[int]) -> dict[str, Any] | None:
    """What a decision keeps to be re-scored: ``None`` unless ``result`` carries its token ids (an in-process
    model)."""
    ids = getattr(result, "token_ids", None)
    if ids is None:
        return None
    return {
        "messages": [dict(m) for m in prompt],
        "token_ids": [int(i) for i in ids],
        "temperature": getattr(result, "temperature", None),
        "indices": [int(i) for i in indices],
    }


def rescore(decision: Any, clients: dict[str, Any]) -> list[float] | None:
    """The recorded tokens' log-probabilities recomputed by the model that drew them (``None`` when the decision has
    no replay record). ``clients`` caches one loaded model per directory. Raises when the model cannot be loaded."""
    replay = decision.extra.get("replay") if isinstance(decision.extra, dict) else None
    if not isinstance(replay, dict):
        return None
    model = str(decision.version)
    if not Path(model).is_dir():
        raise ValueError(f"the model {model!r} that took the decision is not on this machine")
    if model not in clients:
        from reme.llm.hf_client import HFChatClient

        clients[model] = HFChatClient(model)
    temperature = replay.get("temperature") or None
    client = clients[model]
    if "options" in replay:  # a choice among fixed replies (reme.llm.write_gate), then the text after it
        chosen = client.option_logprobs(replay["messages"], replay["options"], temperature=temperature)
        after = client.score_ids(
            replay["messages"], replay["token_ids"], temperature=temperature, prefix=replay.get("prefix", "")
        )
        return [min(chosen[int(replay["chosen"])], 0.0), *(min(x, 0.0) for x in after)]
    scores = client.score_ids(replay["messages"], replay["token_ids"], temperature=temperature)
    return [min(scores[i], 0.0) for i in replay["indices"]]
