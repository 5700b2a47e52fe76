"""One progress helper for long work (encoding, indexing, training, evaluation). Writes to stderr only: a rich bar on
a terminal, and plain rate-limited lines when stderr is a file or a pipe (``cmd > log 2>&1``), so that a long job
that is not watched live still says how far it got."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

LINE_INTERVAL_S = 10.0
"""Seconds between two progress lines when stderr is not a terminal."""


class Advance(Protocol):
    def __call__(self, n: int, status: str | None = None) -> None: ...


@contextmanager
def progress_bar(
    description: str,
    total: int,
    enabled: bool = True,
    *,
    interval: float = LINE_INTERVAL_S,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Advance]:
    """Yield ``advance(n, status=None)``; ``status`` is shown after the bar (a reward, a validation score).
    Draws on stderr when enabled and the work is long enough to watch; when stderr is not a terminal, writes a line
    such as ``train rank: 120/500 (24%), 35 s, about 110 s left, val 0.61`` every ``interval`` seconds, and a last
    one when it ends (work shorter than ``interval`` writes nothing: a log is not filled by every small batch)."""
    if not enabled or total < 2:

        def nothing(n: int, status: str | None = None) -> None:
            return None

        yield nothing
        return
    from rich.console import Console

    out = stream or sys.stderr
    console = Console(file=out)
    if not console.is_terminal:
        with _lines(description, total, out, interval, clock) as advance:
            yield advance
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    ) as bar:
        task = bar.add_task(description, total=total, status="")

        def advance(n: int, status: str | None = None) -> None:
            if status is None:
                bar.advance(task, n)
            else:
                bar.update(task, advance=n, status=status)

        yield advance


@contextmanager
def _lines(description: str, total: int, out: TextIO, interval: float, clock: Callable[[], float]) -> Iterator[Advance]:
    start = clock()
    done = 0
    last_status = ""
    last_line = start  # work shorter than one interval writes nothing
    written = False

    def write(now: float) -> None:
        nonlocal last_line, written
        elapsed = now - start
        line = f"{description}: {done}/{total} ({100 * done / total:.0f}%), {elapsed:.0f} s"
        if 0 < done < total:
            line += f", about {elapsed * (total - done) / done:.0f} s left"
        if last_status:
            line += f", {last_status}"
        out.write(line + "\n")
        out.flush()
        last_line, written = now, True

    def advance(n: int, status: str | None = None) -> None:
        nonlocal done, last_status
        done = min(total, done + n)
        if status is not None:
            last_status = status
        now = clock()
        if now - last_line >= interval and done < total:
            write(now)

    try:
        yield advance
    finally:
        now = clock()
        if written or now - start >= interval:
            write(now)  # the last line: where it ended (also when the work failed or stopped early)
