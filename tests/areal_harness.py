"""Runs INSIDE a virtual environment that has areal==1.0.4 (see tests/test_areal_proxy.py); prints one JSON line.

It stands in for AReaL's proxy: an OpenAI-compatible endpoint on loopback whose handler calls AReaL's own
``ArealOpenAI`` client, backed by a fake inference engine whose ``agenerate`` returns real token log-probabilities
from a tiny transformers model (scripted replies are scored teacher-forced; this drives the writer's tool calls).
The workflow's ``run()`` gets that endpoint as ``base_url``; then the harness does what the proxy does with the
reward (``set_last_reward``), exports the interactions, and checks them with AReaL's trajectory format check.

Usage: python areal_harness.py WORKDIR EXPERIMENT_DIR
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


async def main(workdir: Path, experiment: Path) -> dict:
    from aiohttp import web
    from areal.api.io_struct import ModelRequest, ModelResponse
    from areal.experimental.openai import ArealOpenAI
    from areal.infra.workflow_executor import check_trajectory_format
    from llm_server import make_tiny_model
    from transformers import AutoTokenizer

    from reme.datasets import generate_synthetic, parse_locomo
    from reme.integrations.areal import ReMeWriterAgent
    from reme.llm.hf_client import HFChatClient
    from reme.retrieval.embedding import RandomEncoder

    model_dir = make_tiny_model(workdir / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    scorer = HFChatClient(model_dir, device="cpu", max_new_tokens=16)
    today = datetime.now().strftime("%Y-%m-%d")
    script = [
        "<tool_call>"
        + json.dumps({"name": "write_file", "arguments": {"path": f"memory/{today}.md", "content": "- fact one\n"}})
        + "</tool_call>",
        "Recorded.",
        "[SILENT]",
    ]
    produced: list[dict] = []

    class FakeEngine:
        """AReaL's engine protocol: ``agenerate(ModelRequest) -> ModelResponse`` with real log-probabilities."""

        async def agenerate(self, req: ModelRequest) -> ModelResponse:
            text = script.pop(0) if script else "[SILENT]"
            ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [
                tokenizer.eos_token_id
            ]  # a stop ends in EOS
            logprobs = _score_ids(scorer, list(req.input_ids), ids)
            produced.append({"text": text, "tokens": len(ids), "logprob": float(sum(logprobs))})
            return ModelResponse(
                input_tokens=list(req.input_ids),
                output_tokens=ids,
                output_logprobs=[float(x) for x in logprobs],
                output_versions=[0] * len(ids),
                stop_reason="stop",
                tokenizer=tokenizer,
            )

    client = ArealOpenAI(engine=FakeEngine(), tokenizer=tokenizer, engine_max_tokens=16000)

    async def completions(request: web.Request) -> web.Response:
        body = await request.json()
        completion = await client.chat.completions.create(
            messages=body["messages"], max_completion_tokens=body.get("max_tokens") or 512,
            temperature=body.get("temperature", 1.0),
        )  # fmt: skip
        return web.json_response(completion.model_dump(mode="json"))

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    episodes, _ = parse_locomo(generate_synthetic(1, sessions=2, seed=2), "synthetic")
    agent = ReMeWriterAgent(sink_dir=str(workdir / "sink"), k=5, episode="react")  # the ReAct writer's tool calls
    agent.encoder = RandomEncoder(32)
    data = {"episode": episodes[0].model_dump(mode="json"), "group_id": "g1"}
    reward = await agent.run(data, base_url=f"http://127.0.0.1:{port}/v1", api_key="session-key")
    await runner.cleanup()

    # what the proxy does with run()'s return value
    client.set_last_reward(reward)
    client.apply_reward_discount(turn_discount=1.0)
    interactions = client.export_interactions(style="individual")
    tensors = {cid: item.to_tensor_dict() for cid, item in interactions.items()}
    rows = []
    for cid, t in tensors.items():
        mask = t["loss_mask"][0].bool()
        rows.append(
            {
                "id": cid,
                "generated": int(mask.sum()),
                "logprob_sum": float(t["logprobs"][0][mask].sum()),
                "reward": float(t["rewards"][0]),
            }
        )

    # the experiment written by --dry-run, parsed by AReaL's own loader
    sys.path.insert(0, str(experiment))
    import train  # type: ignore[import-not-found]

    config = train.load(["--config", str(experiment / "config.yaml")])
    return {
        "reward": reward,
        "produced": produced,
        "interactions": rows,
        "format_ok": bool(check_trajectory_format(interactions)),
        "tensor_format_ok": all(bool(check_trajectory_format(t)) for t in tensors.values()),
        "config": {
            "class": type(config).__name__,
            "workflow": config.workflow,
            "n_samples": config.gconfig.n_samples,
            "decoupled": config.actor.use_decoupled_loss,
            "reward_norm": config.actor.reward_norm,
        },
    }


def _score_ids(scorer: object, prompt_ids: list[int], ids: list[int]) -> list[float]:
    """Teacher-forced log-probabilities of ``ids`` after ``prompt_ids`` under the tiny model."""
    import torch

    model = scorer._load().lm  # type: ignore[attr-defined]
    full = torch.tensor([prompt_ids + ids])
    with torch.no_grad():
        logits = model(full).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    start = len(prompt_ids)
    return [float(logp[start - 1 + i, tok]) for i, tok in enumerate(ids)]


if __name__ == "__main__":
    out = asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
    print("HARNESS " + json.dumps(out))
