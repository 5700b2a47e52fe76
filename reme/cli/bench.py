"""``reme bench``: benchmarks that print JSON, their baselines timed in the same run."""

from __future__ import annotations

from typing import Annotated

import typer

from reme.cli import Reply, emit_json, json_command
from reme.cli.options import JsonOpt

bench_app: typer.Typer = typer.Typer(help="Benchmarks (JSON, baselines in the same run).", no_args_is_help=True)


@bench_app.command("search")
@json_command
def bench_search_cmd(
    n: Annotated[int, typer.Option("--n", help="Memories in the workspace.")] = 10_000,
    dim: Annotated[int, typer.Option("--dim", help="Vector dimension.")] = 384,
    batch: Annotated[int, typer.Option("--batch", help="Queries per timed batch.")] = 1,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or auto.")] = "cpu",
    queries: Annotated[int, typer.Option("--queries", help="Timed batches per path.")] = 200,
    real_embeddings: Annotated[
        bool, typer.Option("--real-embeddings", help="Encode the texts instead of random unit vectors.")
    ] = False,
    head: Annotated[str | None, typer.Option("--head", help="A rank-head checkpoint for the learned path.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    json_out: JsonOpt = None,
) -> Reply:
    """Search latency over N memories: FAISS alone, the heuristic and learned search paths, and a bare
    matmul + torch.topk over the same vectors; p50 / p95 / queries per second (see reme/bench.py)."""
    from reme.bench import bench_search

    result = bench_search(
        n, dim=dim, batch=batch, device=device, queries=queries, real_embeddings=real_embeddings, head=head,
        seed=seed, show_progress=True,
    )  # fmt: skip
    return Reply(result, lambda: emit_json(result, "-"))  # JSON is its only form: on stdout without --json
