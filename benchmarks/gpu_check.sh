#!/usr/bin/env bash
# The GPU check of issue 23.5, to run once on a lent GPU machine (the `device` tool), in the repository root, after
# `make install` (or with the checkout's .venv carried). Everything it measures goes to $OUT (default
# ./gpu_check_out) as JSON, one file per part; each part has its own time limit, and a part that cannot run here says
# why in its file instead of stopping the others.
#
#   1. the CUDA dense path (reme.retrieval.torch_dense.TorchDenseIndex: exact fp16 scan + torch.topk) at 1M and 10M
#      384-dimensional unit vectors, top 100, batches of 1 and 64, against a bare matmul + torch.topk over the same
#      fp16 matrix, and its recall@100 against an exact float32 scan of the same queries;
#   2. `reme bench search --device cuda` at 1M (every search path of the library, the same run's torch reference);
#   3. the local writer GRPO (`reme train-policy --decision writer --backend local`) on CUDA: 10 steps on synthetic
#      conversations with the held-out comparison, its wall time against the CPU figure in docs/training.md;
#   4. one AReaL training step with SmolLM2, when areal installs there (`--backend areal` writes the experiment;
#      the step needs areal==1.0.4 in its own environment, which this script does not install offline).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check_out}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" 2>&1 || echo "no nvidia-smi" > "$OUT/gpu.csv"

timeout 420 "$PY" - "$OUT/dense.json" <<'PY' || echo '{"error": "the dense check failed or ran out of time"}' > "$OUT/dense.json"
import json, sys, time

import numpy as np
import torch

from reme.retrieval.torch_dense import TorchDenseIndex

out = {"cuda": torch.cuda.is_available(), "torch": torch.__version__, "runs": []}
if not torch.cuda.is_available():
    out["error"] = "CUDA is not available here"
    json.dump(out, open(sys.argv[1], "w"), indent=2)
    sys.exit(0)
out["device"] = torch.cuda.get_device_name(0)
dim, k = 384, 100
for n in (1_000_000, 10_000_000):
    gen = torch.Generator(device="cuda").manual_seed(0)
    base = torch.randn(n, dim, device="cuda", generator=gen)
    base = torch.nn.functional.normalize(base, dim=1)
    vectors = base.half().cpu().numpy()  # what a workspace would hand the index (host memory)
    started = time.perf_counter()
    index = TorchDenseIndex.build(np.arange(n), vectors, device="cuda")
    torch.cuda.synchronize()
    build_s = time.perf_counter() - started
    matrix = torch.as_tensor(vectors, device="cuda")
    for batch in (1, 64):
        queries = torch.nn.functional.normalize(torch.randn(200, dim, device="cuda", generator=gen), dim=1)
        q_host = queries.cpu().numpy()

        def timed(fn, reps):
            times = []
            for i in range(reps):
                q = q_host[(i * batch) % 200 : (i * batch) % 200 + batch] if batch == 1 else q_host[:batch]
                torch.cuda.synchronize()
                t = time.perf_counter()
                fn(q)
                torch.cuda.synchronize()
                times.append((time.perf_counter() - t) * 1000)
            times = sorted(times[5:])
            return {"p50_ms": round(times[len(times) // 2], 3), "p95_ms": round(times[int(len(times) * 0.95)], 3),
                    "queries_per_s": round(batch / (sum(times) / len(times) / 1000), 1)}

        reme_path = timed(lambda q: index.search(q, k), 105)
        bare = timed(lambda q: torch.topk(torch.as_tensor(q, device="cuda").half() @ matrix.T, k, dim=1), 105)
        got = index.search(q_host[:64], k)[1]
        exact = torch.topk(queries[:64] @ base.T, k, dim=1).indices.cpu().numpy()
        recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(got.tolist(), exact.tolist())]))
        out["runs"].append({"n": n, "batch": batch, "build_s": round(build_s, 2), "reme_torch_dense": reme_path,
                            "bare_matmul_topk": bare, "recall@100_vs_fp32": round(recall, 4)})
        print(json.dumps(out["runs"][-1]), flush=True)
    del index, matrix, base, vectors
    torch.cuda.empty_cache()
json.dump(out, open(sys.argv[1], "w"), indent=2)
PY

timeout 420 .venv/bin/reme bench search --n 1000000 --device cuda --batch 1 --queries 100 --json "$OUT/bench-search-1m.json" \
  > "$OUT/bench-search-1m.log" 2>&1 || echo '{"error": "reme bench search at 1M failed or ran out of time; see the log"}' > "$OUT/bench-search-1m.json"

.venv/bin/reme datasets synth --out "$OUT/writer-train.json" --conversations 6 --sessions 4 --seed 11 > /dev/null 2>&1
.venv/bin/reme datasets synth --out "$OUT/writer-val.json" --conversations 2 --sessions 4 --seed 12 > /dev/null 2>&1
timeout 420 .venv/bin/reme train-policy --decision writer --backend local --dataset "$OUT/writer-train.json" \
  --val-dataset "$OUT/writer-val.json" --steps 10 --out "$OUT/writer-grpo" > "$OUT/writer-grpo.log" 2>&1 \
  && cp "$OUT/writer-grpo/metrics.json" "$OUT/writer-grpo.json" \
  || echo '{"error": "the writer GRPO run failed or ran out of time; see writer-grpo.log"}' > "$OUT/writer-grpo.json"
rm -rf "$OUT/writer-grpo/adapter"
if "$PY" -c "import areal" 2>/dev/null; then
  timeout 300 .venv/bin/reme train-policy --backend areal --decision writer --dataset "$OUT/writer-train.json" \
    --out "$OUT/areal-exp" > "$OUT/areal-step.log" 2>&1 || echo "the AReaL step failed; see areal-step.log" >> "$OUT/areal-step.log"
else
  echo '{"skipped": "areal is not importable in this environment (it needs areal==1.0.4 with its own pins)"}' > "$OUT/areal-step.json"
fi
ls -l "$OUT"
