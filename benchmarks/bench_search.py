"""Search latency at several sizes (``reme bench search`` for each), one JSON document.

    python benchmarks/bench_search.py --sizes 10000,100000 --device cpu --json benchmarks/results/search-cpu.json

Every size measures, in the same run: FAISS candidates alone, the heuristic and the learned search paths (FAISS +
BM25 + features + rank decision + records), a bare matmul + ``torch.topk`` over the same vectors, and the query
embedding's own cost (see ``reme/bench.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

from reme.bench import bench_search


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", help="Also write the JSON here")
    args = parser.parse_args()
    runs = []
    for size in (int(s) for s in args.sizes.split(",") if s.strip()):
        print(f"n = {size} ...", file=sys.stderr)
        runs.append(bench_search(size, dim=args.dim, batch=args.batch, device=args.device, queries=args.queries))
    doc = {"benchmark": "search", "machine": platform.platform(), "python": platform.python_version(), "runs": runs}
    text = json.dumps(doc, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
