"""An OpenAI Agents SDK agent with reme memory tools; the run's outcome and the user's verdict become rewards.

Needs the ``openai-agents`` extra (``pip install "reme-rl[openai-agents]"``) and any OpenAI-compatible chat
endpoint (the agent talks Chat Completions, so vLLM, SGLang, Ollama, DashScope ... all work)::

    python examples/openai_agents_memory.py --base-url http://localhost:8000/v1 --model Qwen/Qwen3-8B --workspace ./ws

The first run tells the agent a fact (``remember``: the write policy decides whether to keep it); the second asks
about it (``recall``: a logged ranking decision). The second run's outcome (does the answer name the right city?)
is logged as a reward on its searches when the run ends; ``--feedback`` adds a user's verdict on top.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled
from openai import AsyncOpenAI

from reme.integrations.openai_agents import MemoryTools, run_with_memory

INSTRUCTIONS = (
    "You are a helpful assistant with a long-term memory. Save facts the user tells you with `remember`; "
    "before answering a question about the user, look it up with `recall`."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://localhost:8000/v1"))
    parser.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "EMPTY"))
    parser.add_argument("--workspace", default="./reme_agents_ws")
    parser.add_argument("--target", default="user:alice", help="memory target (namespace) of this user")
    parser.add_argument("--feedback", type=float, default=None, help="a user's verdict on the answer, e.g. 1 or -1")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> bool:
    set_tracing_disabled(True)  # no trace upload to OpenAI from a local endpoint
    client = AsyncOpenAI(base_url=args.base_url, api_key=args.api_key)
    model = OpenAIChatCompletionsModel(model=args.model, openai_client=client)
    tools = MemoryTools(args.workspace, target=args.target)
    agent = Agent(name="assistant", instructions=INSTRUCTIONS, tools=tools.tools, model=model)
    try:
        await Runner.run(agent, "Please remember: I moved to Lisbon in May 2024.")

        def outcome(output: object) -> float:
            return 1.0 if "lisbon" in str(output).lower() else -1.0

        result, hooks = await run_with_memory(agent, "Which city do I live in now?", tools, outcome=outcome)
        print(f"answer: {result.final_output}")
        print(f"searches: {len(hooks.decision_ids)}; task reward: {outcome(result.final_output):+.0f}")
        if args.feedback is not None:
            hooks.reward(args.feedback, source="feedback")
            print(f"user feedback {args.feedback:+g} logged on the same searches")
        return outcome(result.final_output) > 0
    finally:
        tools.close()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
