"""An AgentScope ReAct agent with reme as its long-term memory; the task outcome goes back as a reward.

Needs the ``agentscope`` extra (``pip install "reme-rl[agentscope]"``) and any OpenAI-compatible endpoint::

    python examples/agentscope_memory.py --base-url http://localhost:8000/v1 --model Qwen/Qwen3-8B --workspace ./ws

The agent is told a fact (it may store it with ``record_to_memory``: the write policy decides), then asked about it
in a fresh conversation (it may look it up with ``retrieve_from_memory``: a logged ranking decision). Whether the
answer names the right city is the task outcome, logged as a reward on those retrieval decisions; ``reme
--workspace ./ws trajectories stats`` shows them.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from agentscope.agent import ReActAgent
from agentscope.formatter import OpenAIChatFormatter
from agentscope.message import Msg
from agentscope.model import OpenAIChatModel

from reme.integrations.agentscope import ReMeLongTermMemory

SYS_PROMPT = (
    "You are a helpful assistant with a long-term memory. Record facts the user tells you with record_to_memory; "
    "before answering a question about the user, look it up with retrieve_from_memory."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://localhost:8000/v1"))
    parser.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "EMPTY"))
    parser.add_argument("--workspace", default="./reme_agentscope_ws")
    parser.add_argument("--target", default="user:alice", help="memory target (namespace) of this user")
    return parser.parse_args(argv)


def make_agent(args: argparse.Namespace, ltm: ReMeLongTermMemory) -> ReActAgent:
    model = OpenAIChatModel(args.model, api_key=args.api_key, stream=False, client_kwargs={"base_url": args.base_url})
    return ReActAgent(
        name="Friday",
        sys_prompt=SYS_PROMPT,
        model=model,
        formatter=OpenAIChatFormatter(),
        long_term_memory=ltm,
        long_term_memory_mode="agent_control",  # "static_control" / "both": retrieve and record around every reply
    )


async def main(args: argparse.Namespace) -> bool:
    ltm = ReMeLongTermMemory(args.workspace, target=args.target)
    try:
        await make_agent(args, ltm)(Msg("user", "Please remember: I moved to Lisbon in May 2024.", "user"))
        ltm.reward(0.0)  # the first conversation is no task: settle its searches, if any, at 0

        agent = make_agent(args, ltm)  # a new conversation: only the long-term memory knows the answer
        reply = await agent(Msg("user", "Which city do I live in now?", "user"))
        answer = reply.get_text_content() or ""
        success = "lisbon" in answer.lower()
        events = ltm.reward(1.0 if success else -1.0, source="task")
        print(f"answer: {answer}\ntask {'succeeded' if success else 'failed'}: reward on {len(events)} search(es)")
        return success
    finally:
        ltm.close()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
