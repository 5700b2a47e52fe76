"""How long another caller's search waits while one token sends a huge batch (issue 17, case 11).

A real ``reme serve`` app (uvicorn in this process, the default all-MiniLM-L6-v2 encoder) with two tokens. One
thread posts ``add_task_memory`` with ``--items`` memories; once the first chunk is written, a second token searches
its own target every 0.5 s until the batch ends. The baseline in the same run is the same search with nothing else
running. Prints JSON: the batch's duration, the victim's search latencies (each, and p50/max), the baseline's.

    python benchmarks/bench_fairness.py --items 10000 --json benchmarks/results/fairness.json
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from reme.memory import Memory
from reme.service import create_app

ALICE, BOB = "alice-bench-token-0123456789", "bob-bench-token-0123456789"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="reme-fairness-"))
    memory = Memory(root / "ws")
    memory.add("Bob's door code is 4417.", "user:bob")
    tokens = {ALICE: ["task:alice-ops"], BOB: ["user:bob"]}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(root / "ws", tokens, memory=memory, rate_limit=None)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    bob = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {BOB}"}, timeout=600)
    query = {"query": "What is Bob's door code?", "target": "user:bob"}

    def search() -> float:
        start = time.perf_counter()
        assert bob.post("/v1/search", json=query).status_code == 200
        return (time.perf_counter() - start) * 1000

    search()  # warm the encoder
    baseline = [search() for _ in range(20)]
    items = [
        {"content": f"deploy note {i}: restart service {i % 97} after the migration {i % 13}"}
        for i in range(args.items)
    ]
    batch: dict[str, float] = {}

    def send() -> None:
        alice = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ALICE}"}, timeout=3600)
        start = time.perf_counter()
        r = alice.post("/add_task_memory", json={"workspace_id": "alice-ops", "memory_list": items})
        batch["seconds"] = time.perf_counter() - start
        batch["status"] = r.status_code

    thread = threading.Thread(target=send)
    thread.start()
    while memory.count("task:alice-ops") == 0:
        time.sleep(0.01)
    during = []
    while thread.is_alive():
        during.append(search())
        time.sleep(0.5)
    thread.join()
    server.should_exit = True
    result = {
        "benchmark": "fairness",
        "machine": platform.platform(),
        "python": platform.python_version(),
        "items": args.items,
        "batch_seconds": round(batch["seconds"], 2),
        "batch_status": batch["status"],
        "written": memory.count("task:alice-ops"),
        "victim_searches_during_batch": len(during),
        "victim_ms": {"p50": round(statistics.median(during), 1), "max": round(max(during), 1)},
        "baseline_ms": {"p50": round(statistics.median(baseline), 1), "max": round(max(baseline), 1)},
    }
    memory.close()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
