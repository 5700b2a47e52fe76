"""``reme serve --workers N`` (``reme.service.server.run_workers``): several worker processes on one port over one
workspace; concurrent writers and searchers lose no acknowledged write, every worker reads the others' writes, and
a worker killed with SIGKILL is replaced while the others go on answering (issue 22)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
psutil = pytest.importorskip("psutil")
pytest.importorskip("uvicorn")

SERVER = textwrap.dedent(
    """
    import sys
    from reme.memory import Memory
    from reme.retrieval.embedding import RandomEncoder
    from reme.service import create_app
    from reme.service.server import run_workers

    workspace, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

    def build():
        return create_app(workspace, None, memory=Memory(workspace, encoder=RandomEncoder(16)), rate_limit=None)

    run_workers(build, "127.0.0.1", port, workers, log_level="warning", restart_delay=0.2)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the service did not start")


def _workers(parent: subprocess.Popen) -> list[int]:
    return [c.pid for c in psutil.Process(parent.pid).children() if c.is_running() and c.status() != "zombie"]


def test_workers_share_one_workspace_and_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    from reme.memory import Memory
    from reme.retrieval.embedding import RandomEncoder

    ws = tmp_path / "ws"
    Memory(ws, encoder=RandomEncoder(16)).close()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, "-c", SERVER, str(ws), str(port), "2"], env=env)
    try:
        _wait(url)
        deadline = time.monotonic() + 30
        while len(_workers(parent)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_workers(parent)) == 2
        acknowledged: list[str] = []
        statuses: list[int] = []
        lock = threading.Lock()

        def writer(w: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                for i in range(25):
                    r = client.post("/v1/memories", json={"content": f"writer {w} fact {i}", "target": "user:a"})
                    with lock:
                        statuses.append(r.status_code)
                        if r.status_code == 200 and r.json()["stored"]:
                            acknowledged.append(r.json()["memory"]["memory_id"])

        def searcher() -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                for i in range(25):
                    r = client.post("/v1/search", json={"query": f"fact {i}", "target": "user:a", "min_score": -1})
                    with lock:
                        statuses.append(r.status_code)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
        threads += [threading.Thread(target=searcher) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(statuses) == {200} and len(acknowledged) == 50
        listed = httpx.get(f"{url}/v1/memories", params={"target": "user:a", "limit": 1000}).json()
        ids = [m["memory_id"] for m in listed]
        assert sorted(ids) == sorted(acknowledged) and len(set(ids)) == len(ids)  # none lost, none twice
        # a worker dies: the other answers meanwhile and a new one takes its place
        victim = _workers(parent)[0]
        os.kill(victim, signal.SIGKILL)
        for _ in range(10):
            r = httpx.post(f"{url}/v1/search", json={"query": "fact", "target": "user:a", "min_score": -1}, timeout=30)
            assert r.status_code == 200 and r.json()["results"]
        deadline = time.monotonic() + 30
        while (len(_workers(parent)) < 2 or victim in _workers(parent)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_workers(parent)) == 2 and victim not in _workers(parent)
    finally:
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 0
    from reme.policy.audit import verify

    report = verify(ws)  # both workers appended decisions to one log
    assert report.problems == [] and report.checked >= 60
