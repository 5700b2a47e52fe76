"""Load test of ``reme serve`` on loopback: concurrent clients doing mixed add / search / feedback, then a check
that every acknowledged add is present (over HTTP, and again after the server stopped, by reopening the workspace).

    python benchmarks/bench_service.py --clients 8 --duration 60 --json benchmarks/results/service-load.json

The server is a real ``reme serve`` process (uvicorn, the default embedding model) bound to 127.0.0.1 on a free
port; the clients are threads of this process, each with its own httpx connection. The baseline, in the same run,
is the same operation mix called in-process on ``Memory`` by one thread for ``--baseline-seconds`` (what the HTTP
layer and the concurrency cost). Texts and questions come from the synthetic generator. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

TARGETS = [f"user:load{i}" for i in range(4)]


def _texts(seed: int) -> tuple[list[str], list[str]]:
    from reme.datasets import generate_synthetic, parse_locomo

    episodes, _ = parse_locomo(generate_synthetic(6, sessions=10, seed=seed), "synthetic")
    texts = sorted({t.render("plain") for e in episodes for t in e.turns})
    questions = [q.question for e in episodes for q in e.questions]
    return texts, questions


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"count": 0}
    ms = np.asarray(latencies) * 1000
    return {
        "count": len(latencies),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def _pick(rng: random.Random, mix: dict[str, float]) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def baseline(workspace: Path, texts: list[str], questions: list[str], mix: dict[str, float], seconds: float) -> Any:
    """The operation mix in-process on ``Memory``, one thread."""
    from reme.memory import Memory

    memory = Memory(workspace)
    memory.search("warm up", 5, TARGETS[0])  # loads the embedding model: not part of the timings
    rng = random.Random(1)
    lat: dict[str, list[float]] = {op: [] for op in mix}
    decision_ids: list[str] = []
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        op = _pick(rng, mix)
        t0 = time.perf_counter()
        if op == "add":
            memory.add(f"{rng.choice(texts)} (baseline {n})", rng.choice(TARGETS))
        elif op == "search":
            decision, _ = memory.search_with_decision(rng.choice(questions), 5, rng.choice(TARGETS))
            decision_ids.append(decision.decision_id)
        elif decision_ids:
            memory.feedback(1.0, decision_id=rng.choice(decision_ids))
        lat[op].append(time.perf_counter() - t0)
        n += 1
    elapsed = time.perf_counter() - start
    memory.close()
    return {
        "requests": n,
        "requests_per_s": round(n / elapsed, 1),
        "latency": {op: _summary(v) for op, v in lat.items()},
        "all_ops": _summary([x for v in lat.values() for x in v]),
    }


def client_loop(
    url: str, index: int, texts: list[str], questions: list[str], mix: dict[str, float], stop: float, out: dict
) -> None:
    rng = random.Random(100 + index)
    lat: dict[str, list[float]] = {op: [] for op in mix}
    acked: list[tuple[str, str]] = []
    errors: list[str] = []
    decision_ids: list[str] = []
    n = 0
    with httpx.Client(base_url=url, timeout=60) as http:
        while time.perf_counter() < stop:
            op = _pick(rng, mix)
            t0 = time.perf_counter()
            try:
                if op == "add":
                    target = rng.choice(TARGETS)
                    body = {"content": f"{rng.choice(texts)} (client {index}, op {n})", "target": target}
                    r = http.post("/v1/memories", json=body)
                    r.raise_for_status()
                    if r.json()["stored"]:
                        acked.append((r.json()["memory"]["memory_id"], target))
                elif op == "search":
                    r = http.post("/v1/search", json={"query": rng.choice(questions), "target": rng.choice(TARGETS)})
                    r.raise_for_status()
                    decision_ids.append(r.json()["decision_id"])
                elif decision_ids:
                    r = http.post("/v1/feedback", json={"decision_id": rng.choice(decision_ids), "value": 1.0})
                    r.raise_for_status()
            except Exception as exc:  # counted, never hidden
                errors.append(f"{op}: {type(exc).__name__}: {exc}"[:300])
            lat[op].append(time.perf_counter() - t0)
            n += 1
    out[index] = {"latency": lat, "acked": acked, "errors": errors, "requests": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of load (bounded: at most 600).")
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--mix", default="add:0.3,search:0.5,feedback:0.2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="Also write the JSON here")
    args = parser.parse_args()
    if not 0 < args.duration <= 600:
        parser.error("--duration must be in (0, 600]")
    mix = {k: float(v) for k, v in (part.split(":") for part in args.mix.split(","))}
    texts, questions = _texts(args.seed)
    root = Path(tempfile.mkdtemp(prefix="reme-load-"))
    print("baseline (in-process) ...", file=sys.stderr)
    base = baseline(root / "baseline", texts, questions, mix, args.baseline_seconds)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    workspace = root / "served"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-c", "from reme.cli import main; main()", "serve", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*cmd, "--port", str(port), "--workspace", str(workspace)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        httpx.post(f"{url}/v1/search", json={"query": "warm up", "target": TARGETS[0]}, timeout=60)
        print(f"{args.clients} clients for {args.duration:g} s ...", file=sys.stderr)
        results: dict[int, Any] = {}
        stop = time.perf_counter() + args.duration
        started = time.perf_counter()
        threads = [
            threading.Thread(target=client_loop, args=(url, i, texts, questions, mix, stop, results))
            for i in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        acked = [a for r in results.values() for a in r["acked"]]
        present_http: set[str] = set()
        for target in TARGETS:
            listed = httpx.get(f"{url}/v1/memories", params={"target": target}, timeout=120).json()
            present_http |= {m["memory_id"] for m in listed}
    finally:
        server.terminate()
        server.wait(timeout=30)
    from reme.memory import Memory

    reopened = Memory(workspace)
    present_disk = {n.memory_id for t in TARGETS for n in reopened.list(t)}
    reopened.close()
    lat = {op: [x for r in results.values() for x in r["latency"][op]] for op in mix}
    errors = [e for r in results.values() for e in r["errors"]]
    requests = sum(r["requests"] for r in results.values())
    acked_ids = {a for a, _ in acked}
    doc = {
        "benchmark": "service-load",
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "clients": args.clients,
        "duration_s": round(elapsed, 1),
        "mix": mix,
        "http": {
            "requests": requests,
            "requests_per_s": round(requests / elapsed, 1),
            "errors": len(errors),
            "error_examples": errors[:5],
            "latency": {op: _summary(v) for op, v in lat.items()},
            "all_ops": _summary([x for v in lat.values() for x in v]),
        },
        "baseline_in_process_one_thread": base,
        "acknowledged_adds": len(acked_ids),
        "acknowledged_missing_over_http": len(acked_ids - present_http),
        "acknowledged_missing_after_reopen": len(acked_ids - present_disk),
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
