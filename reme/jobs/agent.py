"""The LLM behind ReMe 0.4.x's writing jobs, and its tool loop: every model output is a logged write decision.

``llm_client(app)`` is the ``as_llm`` component's model as this project's ``LLMClient``: an AgentScope chat model a
host injected (``update_component("as_llm", "default", model=...)``, AgentScope 1.x or 2.x), an ``LLMClient``, or
one built from the component's ``model`` name and ``credential`` (``api_key``, ``base_url``) against an
OpenAI-compatible endpoint, else from ReMe's ``LLM_BASE_URL`` / ``LLM_API_KEY`` / ``LLM_MODEL`` environment.
``run_tools`` offers jobs of the application as native tools (their JSON-Schema parameters, less the keys the caller
injects), runs the calls the model makes, feeds the answers back, and stops at
the first output with no call. Each output is one ``write`` decision (``reme.llm.decisions.llm_decision``): its
log-probability is the sum of the output's token log-probabilities, ``null`` (and not trainable) where the model
returns none (AgentScope models do not).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reme.errors import BadInputError

if TYPE_CHECKING:
    from reme.jobs.steps import JobRun

__all__ = ["AgentRun", "llm_client", "run_tools", "tool_schemas"]

MAX_ITERS = 12


def llm_client(app: Any) -> Any | None:
    """The application's LLM client, or ``None`` when none is configured."""
    from reme.llm.agentscope_chat import AgentScopeChat, is_agentscope_model

    try:
        component = app.component("as_llm", "default")
    except KeyError:
        return None
    model = getattr(component, "model", None)
    if model is None or model == "":
        return _from_env()
    if is_agentscope_model(model):
        cached = getattr(component, "_client", None)
        if cached is None or cached.agent_model is not model:
            cached = AgentScopeChat(model)
            component._client = cached
        return cached
    if hasattr(model, "achat"):
        return model
    if isinstance(model, str):
        credential = dict(getattr(component, "credential", {}) or {})
        if not credential.get("base_url"):
            return _from_env(model)
        from reme.llm import LLMConfig, build_llm

        return build_llm(
            LLMConfig(model=model, base_url=credential["base_url"], api_key=credential.get("api_key") or None)
        )
    raise BadInputError(f"as_llm.default.model must be a model name, an AgentScope chat model or an LLM client, "
                        f"got {type(model).__name__}")  # fmt: skip


def _from_env(model: str | None = None) -> Any | None:
    """An OpenAI-compatible client from ReMe's ``LLM_BASE_URL`` / ``LLM_API_KEY`` (and ``LLM_MODEL``), if set."""
    import os

    from reme.llm import build_llm

    if not os.environ.get("LLM_BASE_URL", "").strip():
        return None
    return build_llm(None, model=model)


def tool_schemas(app: Any, names: list[str], injected: dict[str, Any]) -> list[dict[str, Any]]:
    """OpenAI function schemas of the jobs ``names`` (their parameters without the injected keys)."""
    out = []
    for name in names:
        job = app.context.jobs[name]
        params = json.loads(json.dumps(job.parameters or {"type": "object", "properties": {}}))
        params.setdefault("type", "object")
        for key in injected:
            params.get("properties", {}).pop(key, None)
        params["required"] = [r for r in params.get("required", []) if r not in injected]
        out.append({"type": "function", "function": {"name": name, "description": job.description,
                                                      "parameters": params}})  # fmt: skip
    return out


@dataclass
class AgentRun:
    """What a tool loop did: its final text, the decisions it logged, the tools it called, the paths written."""

    text: str = ""
    decision_ids: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    trainable: bool = True


async def run_tools(
    run: JobRun,
    llm: Any,
    system: str,
    user: str,
    tools: list[str],
    *,
    policy: str,
    injected: dict[str, Any] | None = None,
    max_iters: int = MAX_ITERS,
) -> AgentRun:
    """The tool loop (see the module docstring). ``injected`` keys go to every tool call, unseen by the model."""
    from reme.llm.decisions import llm_decision

    injected = dict(injected or {})
    schemas = tool_schemas(run.app, tools, injected)
    chat: list[dict[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    out = AgentRun()
    memory = run.file_store.memory
    episode = uuid.uuid4().hex
    for iteration in range(max_iters):
        result = await llm.achat(chat, tools=schemas)
        calls = list(getattr(result, "tool_calls", None) or [])
        if not calls:
            out.text = result.text.strip()
            decision = llm_decision("write", policy, "done", result, extra={"iteration": iteration, "job": run.job})
            _log(memory, decision, episode, iteration, out)
            return out
        if not result.text and result.token_logprobs:  # the tokens spelled the calls: the whole output is the action
            result = result.model_copy(update={"tokens": None})
        elif not result.text:  # no token expressed it: unknown, not certain
            result = result.model_copy(update={"tokens": None, "token_logprobs": None})
        done: list[dict[str, Any]] = []
        chat.append({"role": "assistant", "content": result.text, "tool_calls": calls})
        for call in calls:
            name, arguments = str(call.get("name", "")), dict(call.get("input") or {})
            if name in tools:
                response = await run.app.run_job(name, **{**arguments, **injected})
                observation, ok = str(response.answer), response.success
                path = response.metadata.get("path") or response.metadata.get("dst_path")
                if ok and name not in ("read", "frontmatter_read", "daily_list") and isinstance(path, str):
                    out.written.append(path)
            else:
                observation, ok = f"Error: unknown tool {name!r}; use one of {', '.join(tools)}", False
            done.append({"tool": name, "arguments": arguments, "success": ok})
            chat.append({"role": "tool", "tool_call_id": str(call.get("id", "")), "name": name,
                         "content": observation})  # fmt: skip
        out.calls += done
        # one output, one action: the calls it made (their log-probability is the output's)
        decision = llm_decision("write", policy, {"tool_calls": done}, result,
                                extra={"iteration": iteration, "job": run.job})  # fmt: skip
        _log(memory, decision, episode, iteration, out)
    out.text = "(stopped: the model kept calling tools)"
    return out


def _log(memory: Any, decision: Any, episode: str, step: int, out: AgentRun) -> None:
    decision.episode_id = episode
    decision.step = step
    memory.log_decision(decision)
    out.decision_ids.append(decision.decision_id)
    out.trainable = out.trainable and decision.logprob is not None
