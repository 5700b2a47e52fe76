"""A LangChain retrieval chain over reme memory; the answer's verdict goes back as a reward on the retrieval.

Needs the ``langchain`` extra (``pip install "reme-rl[langchain]"``) and any OpenAI-compatible chat endpoint::

    python examples/langchain_retriever.py --base-url http://localhost:8000/v1 --model Qwen/Qwen3-8B --workspace ./ws

A few facts are stored, then ``retriever | format | ask`` answers a question from what the retriever returned.
Each document carries ``memory_id``, ``score`` and ``decision_id`` in its metadata; ``retriever.feedback(value)``
logs a reward on the search once the answer is judged (here: does it name the right city?).
"""

from __future__ import annotations

import argparse
import os

from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from openai import OpenAI

from reme.integrations.langchain import ReMeRetriever

FACTS = [
    "Alice moved to Lisbon in May 2024.",
    "Alice is allergic to peanuts.",
    "Alice plays the cello on Sundays.",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://localhost:8000/v1"))
    parser.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "EMPTY"))
    parser.add_argument("--workspace", default="./reme_langchain_ws")
    parser.add_argument("--target", default="user:alice", help="memory target (namespace) of this user")
    parser.add_argument("--question", default="Which city does Alice live in?")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> bool:
    retriever = ReMeRetriever.from_workspace(args.workspace, target=args.target, k=3)
    client = OpenAI(base_url=args.base_url, api_key=args.api_key)
    try:
        retriever.memory.add_many(FACTS, target=args.target)  # each goes through the write policy

        def format_docs(docs: list[Document]) -> str:
            return "\n".join(f"- {d.page_content}" for d in docs)

        def ask(inputs: dict[str, str]) -> str:
            messages = [
                {"role": "system", "content": f"Answer from these memories only:\n{inputs['context']}"},
                {"role": "user", "content": inputs["question"]},
            ]
            reply = client.chat.completions.create(model=args.model, messages=messages)
            return reply.choices[0].message.content or ""

        chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | RunnableLambda(ask)
        answer = chain.invoke(args.question)
        success = "lisbon" in answer.lower()
        events = retriever.feedback(1.0 if success else -1.0, source="answer")
        print(f"answer: {answer}\nverdict {'right' if success else 'wrong'}: reward on {len(events)} search(es)")
        return success
    finally:
        retriever.memory.close()


if __name__ == "__main__":
    main(parse_args())
