"""How many threads reme's own processes (the ``reme`` CLI, ``reme serve``, the benchmarks) give torch, FAISS and
BLAS. Torch's default, a thread per core, oversubscribes any machine where something else runs: on a 2-core machine
with three processes busy, a small simulation took 437 s with the default and 57 s with one thread each (issue 24),
because OpenMP workers spin waiting for cores. The memory's models are small (a MiniLM encoder, policy heads of a few
thousand weights); they gain little from more than a few threads.

The count, first that applies: ``--threads N`` on the command line; ``REME_THREADS``; the user's own
``OMP_NUM_THREADS`` (left as it is); else half the usable cores, at least 1 and at most 8. It is set through
``OMP_NUM_THREADS`` before torch or FAISS load (and ``torch.set_num_threads`` when torch already has). A library
user's process is never changed behind its back: ``Memory`` does not call this; a host sets its own threads.

Results of training can depend on the count (floating-point sums are ordered differently), so every ``metrics.json``
records the count it was produced with (``threads``).
"""

from __future__ import annotations

import os
import sys

from reme.errors import BadInputError

__all__ = ["ENV", "MAX_DEFAULT", "choose_threads", "configure_process_threads", "threads_in_use", "usable_cores"]

ENV = "REME_THREADS"
MAX_DEFAULT = 8


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system says, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def choose_threads(requested: int | None = None) -> tuple[int, str]:
    """The thread count and where it came from: ``"--threads"``, ``ENV``, ``"OMP_NUM_THREADS"`` or ``"default"``."""
    if requested is not None:
        return _checked(requested, "--threads"), "--threads"
    if os.environ.get(ENV, "").strip():
        return _checked(os.environ[ENV], ENV), ENV
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return _checked(os.environ["OMP_NUM_THREADS"], "OMP_NUM_THREADS"), "OMP_NUM_THREADS"
    return max(1, min(MAX_DEFAULT, usable_cores() // 2)), "default"


def configure_process_threads(requested: int | None = None) -> int:
    """Apply ``choose_threads(requested)`` to this process (see the module); returns the count."""
    n, source = choose_threads(requested)
    if source != "OMP_NUM_THREADS":
        os.environ["OMP_NUM_THREADS"] = str(n)
        os.environ["MKL_NUM_THREADS"] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(n)
    return n


def threads_in_use() -> int | None:
    """Torch's intra-op thread count when torch is loaded, else what ``OMP_NUM_THREADS`` says (``None``: unset)."""
    if "torch" in sys.modules:
        return int(sys.modules["torch"].get_num_threads())
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() else None


def _checked(value: int | str, name: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{name} must be a whole number of threads, got {value!r}") from None
    if not 1 <= n <= 1024:
        raise BadInputError(f"{name} must be between 1 and 1024 threads, got {n}")
    return n
