"""An in-process chat model: a transformers causal LM loaded from a local directory, with exact token log-probs.

Generation is a plain token-by-token loop over the model's KV cache, so that the log-probability of every generated
token is computed here, under the distribution the token was actually drawn from: ``log_softmax(logits / T)`` when
sampling at temperature ``T``, ``log_softmax(logits)`` for greedy decoding (temperature 0 or ``None``). ``score``
gives the teacher-forced log-probabilities of any completion under the same prompt rendering, so
``chat(...).token_logprobs == score(..., chat(...).text)`` whenever the text re-tokenises to the same ids.

Nothing is downloaded: the directory must hold the model and its tokenizer (``local_files_only=True``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reme.errors import BadInputError
from reme.llm.types import ChatResult, LLMError

if TYPE_CHECKING:
    import torch

__all__ = ["HFChatClient", "content_text", "render_plain_prompt"]

_REPLACEMENT = "\ufffd"


def content_text(content: Any) -> str:
    """The text of an OpenAI message ``content``: a string, or the ``text`` of its ``{"type": "text"}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return str(content)


def render_plain_prompt(messages: list[dict]) -> str:
    """The prompt used when the tokenizer has no chat template: one ``role: content`` line per message, then
    ``assistant: `` for the reply."""
    lines = [f"{message.get('role', 'user')}: {content_text(message.get('content'))}\n" for message in messages]
    return "".join(lines) + "assistant: "


@dataclass
class _Loaded:
    """The model once loaded: tokenizer, network, where it runs, which ids end a reply, the RNG and context size."""

    tokenizer: Any
    lm: Any
    device: torch.device
    eos_ids: frozenset[int]
    generator: torch.Generator
    max_positions: int | None
    cache_arg: str
    """Name of the KV-cache argument and output field: ``cache`` (transformers >= 5.2x) or ``past_key_values``."""
    keep_arg: str | None
    """Name of the "compute logits for the last k positions only" argument, when the model has one."""

    def forward(
        self, ids: torch.Tensor, cache: Any = None, keep: int | None = None, use_cache: bool = True
    ) -> tuple[torch.Tensor, Any]:
        """``(logits [batch, positions, vocab], new cache)``; with ``keep``, logits of the last ``keep`` positions."""
        kwargs: dict[str, Any] = {"input_ids": ids, "use_cache": use_cache}
        if cache is not None:
            kwargs[self.cache_arg] = cache
        if keep is not None and self.keep_arg is not None:
            kwargs[self.keep_arg] = keep
        out = self.lm(**kwargs)
        logits = out.logits
        if keep is not None and self.keep_arg is None:
            logits = logits[:, -keep:]
        return logits, getattr(out, self.cache_arg, None)


class HFChatClient:
    """``LLMClient`` running a local transformers causal LM. The model loads on first use; calls are serialised.

    ``temperature`` 0 (the default) decodes greedily; ``seed`` makes sampling reproducible (the generator is
    seeded once and advances across calls). ``device`` defaults to CUDA when available, else CPU.
    """

    backend = "hf"

    def __init__(
        self,
        path: str,
        *,
        device: str | None = None,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> None:
        directory = Path(path).expanduser()
        if not directory.is_dir():
            raise LLMError(f"no local model directory at {path!r} (an 'hf:' model must be a saved transformers model)")
        if max_new_tokens < 1:
            raise BadInputError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if temperature < 0:
            raise BadInputError(f"temperature must be >= 0, got {temperature}")
        self.model: str = str(path)
        """The model directory, as given."""
        self.path: Path = directory
        """The resolved model directory."""
        self.max_new_tokens = max_new_tokens
        """Default cap on generated tokens (a call's ``max_tokens`` overrides it)."""
        self.temperature = temperature
        """Default temperature; 0 means greedy."""
        self.seed = seed
        """Seed of the sampling generator; ``None`` seeds it randomly."""
        self._device_name = device
        self._lock = threading.RLock()
        self._loaded: _Loaded | None = None

    def __repr__(self) -> str:
        return f"HFChatClient({self.model!r})"

    # -- loading --------------------------------------------------------------------------------------------------

    def _load(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load_now()
            return self._loaded

    def _load_now(self) -> _Loaded:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        name = self._device_name or ("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(name)
        kwargs: dict[str, Any] = {"local_files_only": True}
        if device.type == "cuda" and torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
            kwargs["attn_implementation"] = "flash_attention_2"
            kwargs["dtype"] = torch.bfloat16  # flash attention runs in half precision only
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            lm: Any = AutoModelForCausalLM.from_pretrained(str(self.path), **kwargs)
        except Exception as exc:
            raise LLMError(f"cannot load a causal LM and tokenizer from {str(self.path)!r}: {exc}") from exc
        lm.to(device)
        lm.eval()
        eos: set[int] = set()
        for source in (tokenizer.eos_token_id, getattr(getattr(lm, "generation_config", None), "eos_token_id", None)):
            if isinstance(source, int):
                eos.add(source)
            elif isinstance(source, list | tuple):
                eos.update(int(i) for i in source)
        generator = torch.Generator(device=device)
        if self.seed is None:
            generator.seed()
        else:
            generator.manual_seed(self.seed)
        max_positions = None
        for attr in ("max_position_embeddings", "n_positions"):
            value = getattr(lm.config, attr, None)
            if isinstance(value, int) and value > 0:
                max_positions = value
                break
        try:
            params = set(inspect.signature(lm.forward).parameters)
        except (TypeError, ValueError):
            params = set()
        cache_arg = "cache" if "cache" in params and "past_key_values" not in params else "past_key_values"
        keep_arg = next((name for name in ("logits_to_keep", "num_logits_to_keep") if name in params), None)
        return _Loaded(tokenizer, lm, device, frozenset(eos), generator, max_positions, cache_arg, keep_arg)

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer (loads the model)."""
        return self._load().tokenizer

    # -- tokens ---------------------------------------------------------------------------------------------------

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        """Token ids of the prompt for ``messages``: the tokenizer's chat template (with the generation prompt) when
        it has one, else ``render_plain_prompt``."""
        tokenizer = self._load().tokenizer
        if getattr(tokenizer, "chat_template", None):
            normalised = [{**m, "content": content_text(m.get("content"))} for m in messages]
            try:
                prompt = tokenizer.apply_chat_template(normalised, tokenize=False, add_generation_prompt=True)
            except Exception as exc:
                raise LLMError(f"the chat template of {self.model!r} failed on these messages: {exc}") from exc
            ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        else:
            ids = tokenizer(render_plain_prompt(messages), add_special_tokens=True)["input_ids"]
        return [int(i) for i in ids]

    def completion_ids(self, completion: str) -> list[int]:
        """Token ids of ``completion`` as a continuation of the prompt (no special tokens added)."""
        return [int(i) for i in self._load().tokenizer(completion, add_special_tokens=False)["input_ids"]]

    def decode_pieces(self, ids: list[int]) -> list[str]:
        """One text piece per id, decoded incrementally so that ``"".join(pieces) == decode(ids)``: a token that
        ends inside a multi-byte character gets ``""`` and the character goes to the token that completes it."""
        tokenizer = self._load().tokenizer
        pieces: list[str] = []
        emitted = ""
        for n in range(1, len(ids) + 1):
            decoded = self._decode(tokenizer, ids[:n])
            if decoded.startswith(emitted) and not decoded.endswith(_REPLACEMENT):
                pieces.append(decoded[len(emitted) :])
                emitted = decoded
            else:
                pieces.append("")
        if pieces:
            full = self._decode(tokenizer, ids)
            if full.startswith(emitted):
                pieces[-1] += full[len(emitted) :]
        return pieces

    @staticmethod
    def _decode(tokenizer: Any, ids: list[int]) -> str:
        return str(tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False))

    def _context_left(self, loaded: _Loaded, prompt_len: int) -> int | None:
        if prompt_len == 0:
            raise LLMError(f"the prompt for {self.model!r} is empty")
        if loaded.max_positions is None:
            return None
        left = loaded.max_positions - prompt_len
        if left <= 0:
            raise LLMError(
                f"a prompt of {prompt_len} tokens does not fit the context of {self.model!r} "
                f"({loaded.max_positions} positions)"
            )
        return left

    # -- scoring --------------------------------------------------------------------------------------------------

    def score(self, messages: list[dict], completion: str, *, temperature: float | None = None) -> list[float]:
        """Teacher-forced log-probability of each token of ``completion`` after the prompt of ``messages``.

        Under ``log_softmax(logits)``, the distribution of greedy decoding; give ``temperature`` > 0 to score under
        ``log_softmax(logits / temperature)``, the distribution sampling at that temperature draws from.
        """
        with self._lock:
            return self.score_ids(messages, self.completion_ids(completion), temperature=temperature)

    def score_ids(
        self, messages: list[dict], target: list[int], *, temperature: float | None = None, prefix: str = ""
    ) -> list[float]:
        """``score`` of given token ids (those a ``chat`` generated: ``ChatResult.token_ids``), with no re-tokenising
        of text, so a replay scores exactly the tokens that were drawn. ``prefix``: the start of the reply that was
        given, not generated (``chat``'s ``prefix``)."""
        import torch

        loaded = self._load()
        with self._lock:
            prompt = self.prompt_ids(messages) + (self.completion_ids(prefix) if prefix else [])
            target = [int(t) for t in target]
            if not target:
                return []
            left = self._context_left(loaded, len(prompt))
            if left is not None and len(target) > left:
                raise LLMError(f"prompt plus completion exceed the context of {self.model!r}")
            ids = torch.tensor([prompt + target], device=loaded.device)
            with torch.inference_mode():
                logits, _ = loaded.forward(ids, keep=len(target) + 1, use_cache=False)
                logits = logits[0, :-1].float()
                if temperature is not None and temperature > 0:
                    logits = logits / temperature
                logprobs = torch.log_softmax(logits, dim=-1)
                picked = logprobs.gather(1, ids[0, len(prompt) :].unsqueeze(1)).squeeze(1)
            return [float(x) for x in picked.cpu().tolist()]

    # -- generation -----------------------------------------------------------------------------------------------

    def chat(
        self,
        messages: list[dict],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        prefix: str = "",
    ) -> ChatResult:
        """Generate a reply. Stops at an end-of-sequence token (not included), after ``max_tokens`` (default
        ``max_new_tokens``) tokens, or when a ``stop`` string appears (the text is cut before it; tokens that
        started before it are kept, the last one's piece trimmed). ``prefix``: the reply starts with this text,
        given rather than generated (it is not in the result)."""
        import torch

        temp = self.temperature if temperature is None else temperature
        if temp < 0:
            raise BadInputError(f"temperature must be >= 0, got {temp}")
        limit = self.max_new_tokens if max_tokens is None else max_tokens
        if limit < 1:
            raise BadInputError(f"max_tokens must be >= 1, got {limit}")
        stops = [s for s in (stop or []) if s]
        longest_stop = max((len(s) for s in stops), default=0)

        loaded = self._load()
        tokenizer = loaded.tokenizer
        with self._lock:
            prompt = self.prompt_ids(messages) + (self.completion_ids(prefix) if prefix else [])
            left = self._context_left(loaded, len(prompt))
            if left is not None:
                limit = min(limit, left)
            ids: list[int] = []
            logprobs: list[float] = []
            pieces: list[str] = []
            emitted = ""
            finish = "length"
            cut: int | None = None
            with torch.inference_mode():
                step_logits, cache = loaded.forward(torch.tensor([prompt], device=loaded.device), keep=1)
                for _ in range(limit):
                    logits = step_logits[0, -1].float()
                    if temp > 0:
                        dist = torch.log_softmax(logits / temp, dim=-1)
                        token = int(torch.multinomial(dist.exp(), 1, generator=loaded.generator).item())
                    else:
                        dist = torch.log_softmax(logits, dim=-1)
                        token = int(torch.argmax(dist).item())
                    if token in loaded.eos_ids:
                        finish = "stop"
                        break
                    ids.append(token)
                    logprobs.append(float(dist[token].item()))
                    decoded = self._decode(tokenizer, ids)
                    before = len(emitted)
                    if decoded.startswith(emitted) and not decoded.endswith(_REPLACEMENT):
                        pieces.append(decoded[len(emitted) :])
                        emitted = decoded
                    else:
                        pieces.append("")
                    if stops and len(emitted) > before:
                        window = max(0, before - longest_stop + 1)
                        found = [i for i in (emitted.find(s, window) for s in stops) if i >= 0]
                        if found:
                            cut = min(found)
                            finish = "stop"
                            break
                    if len(ids) < limit and cache is not None:
                        step_logits, cache = loaded.forward(torch.tensor([[token]], device=loaded.device), cache)
                    elif len(ids) < limit:  # a model that returns no KV cache: run the whole sequence again
                        whole = torch.tensor([prompt + ids], device=loaded.device)
                        step_logits, cache = loaded.forward(whole, keep=1, use_cache=False)
            if cut is not None:
                text, pieces, logprobs = _cut(emitted, pieces, logprobs, cut)
                ids = ids[: len(logprobs)]
            else:
                text = self._decode(tokenizer, ids)
                if pieces and text.startswith(emitted):
                    pieces[-1] += text[len(emitted) :]
        return ChatResult(
            text=text,
            tokens=pieces,
            token_logprobs=logprobs,
            model=self.model,
            backend=self.backend,
            finish_reason=finish,
            token_ids=ids,
            temperature=temp,
        )

    async def achat(
        self,
        messages: list[dict],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> ChatResult:
        """``chat`` in a worker thread."""
        return await asyncio.to_thread(self.chat, messages, temperature=temperature, max_tokens=max_tokens, stop=stop)

    # -- choices --------------------------------------------------------------------------------------------------

    def option_logprobs(
        self, messages: list[dict], options: list[str], *, temperature: float | None = None
    ) -> list[float]:
        """The log-probability of choosing each of ``options`` as the start of the reply: each option's teacher-forced
        sequence log-probability (``score_ids``, at ``temperature``), normalised over the options (a softmax). A
        choice among them is then always well formed, whatever the model would have generated freely."""
        import math

        with self._lock:
            totals = [
                math.fsum(self.score_ids(messages, self.completion_ids(o), temperature=temperature)) for o in options
            ]
        top = max(totals)
        norm = top + math.log(math.fsum(math.exp(t - top) for t in totals))
        return [t - norm for t in totals]

    # -- training -------------------------------------------------------------------------------------------------

    def set_model(self, transform: Any) -> Any:
        """Replace the loaded model with ``transform(model)`` (e.g. peft's ``get_peft_model``, for a trainer that
        samples through this client while it updates the weights); returns the new model."""
        import dataclasses

        with self._lock:
            loaded = self._load()
            self._loaded = dataclasses.replace(loaded, lm=transform(loaded.lm))
            return self._loaded.lm


def _cut(text: str, pieces: list[str], logprobs: list[float], cut: int) -> tuple[str, list[str], list[float]]:
    """``text[:cut]`` with the tokens that start before ``cut`` (the last piece trimmed to end there)."""
    kept_pieces: list[str] = []
    kept_logprobs: list[float] = []
    pos = 0
    for piece, logprob in zip(pieces, logprobs):
        if pos >= cut:
            break
        kept_pieces.append(piece[: cut - pos])
        kept_logprobs.append(logprob)
        pos += len(piece)
    return text[:cut], kept_pieces, kept_logprobs
