"""Replicas follow the registry (issue 22.5): a service whose records live in PostgreSQL checks the database's
registry epoch every ``policies.poll_seconds`` and, when a learner on any host published a change (``reme learn``,
``reme policy activate`` / ``rollback``), reloads what serves (``Memory.reload_policies``, which pulls the new
versions into the workspace folder first). A failed check (the database away) is logged and retried next time;
serving goes on with what was loaded."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("reme.service")

__all__ = ["watch_registry"]


def watch_registry(memory: Any, every: float) -> threading.Event | None:
    """Start the watcher thread for ``memory`` (nothing for the SQLite file or ``every == 0``); set the returned
    event to stop it."""
    from reme.store.open import in_database

    if every <= 0 or not in_database(memory.records):
        return None
    from reme.store.postgres_registry import epoch

    stop = threading.Event()
    try:
        seen = epoch(memory.records)
    except Exception as exc:  # the database away at start: the first check that reaches it reloads
        log.warning("registry watch: cannot read the epoch yet (%s)", exc)
        seen = -1

    def run() -> None:
        nonlocal seen
        while not stop.wait(every):
            try:
                now = epoch(memory.records)
                if now != seen:
                    served = memory.reload_policies()
                    log.info("registry epoch %d -> %d: serving %s", seen, now, served)
                    seen = now
            except Exception as exc:  # keep serving what is loaded; try again at the next check
                if getattr(memory.records, "closed", False):
                    return
                log.warning("registry watch: %s: %s", type(exc).__name__, exc)

    threading.Thread(target=run, name="reme-registry-watch", daemon=True).start()
    return stop
