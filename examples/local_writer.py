"""One memory-writer run and one compaction on the local SmolLM2 model, offline (``make demo``).

ReMeLight is built with no LLM settings and no endpoint: with the ``local-llm`` extra installed it picks the local
model by itself (``reme.llm.factory.local_by_default``). Each call is a logged decision carrying the model's token
log-probabilities and what it takes to replay them; ``reme trajectories verify -w WORKING_DIR`` re-runs the model on
them afterwards. ``--max-new-tokens`` bounds each call's generation (and so the time on a CPU).

    python examples/local_writer.py --working-dir demo_out/light --max-new-tokens 48
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from reme.policy.trajectory import read_records
from reme.reme_light import ReMeLight
from reme.reme_light.messages import Msg

CONVERSATION = [
    ("user", "I moved to Lisbon in May 2024, and I am allergic to peanuts."),
    ("assistant", "Noted: Lisbon since May 2024, and a peanut allergy."),
    ("user", "My daughter Ana starts school there in September."),
    ("assistant", "Good luck to Ana with her first term in Lisbon."),
]


async def run(working_dir: str, max_new_tokens: int) -> dict[str, object]:
    messages = [Msg(name=role, role=role, content=text) for role, text in CONVERSATION]
    async with ReMeLight(working_dir=working_dir) as reme:
        reme.llm.max_new_tokens = max_new_tokens  # the writer and the compactor keep to the client's smaller cap
        started = time.perf_counter()
        written = await reme.summary_memory(messages, language="en")
        writer_s = time.perf_counter() - started
        started = time.perf_counter()
        compacted = await reme.compact_memory(messages, language="en", return_dict=True)
        compact_s = time.perf_counter() - started
        model = str(reme.llm.path)
    decisions = [e.record for e in read_records(f"{working_dir}/trajectories") if e.record is not None]
    llm = [d for d in decisions if d.type == "decision" and d.policy.startswith("llm-")]
    return {
        "model": model,
        "writer": {"seconds": round(writer_s, 1), "result": written},
        "compaction": {"seconds": round(compact_s, 1), **compacted},
        "llm_decisions": [
            {"policy": d.policy, "action": d.action, "logprob": d.logprob, "tokens": len(d.extra.get("token_ids") or
             d.extra.get("replay", {}).get("token_ids") or [])}
            for d in llm
        ],  # fmt: skip
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--working-dir", required=True)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.working_dir, args.max_new_tokens)), indent=2, default=str))


if __name__ == "__main__":
    main()
