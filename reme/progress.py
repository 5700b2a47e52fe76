"""One rich progress bar helper for long work (encoding, indexing, evaluation). Writes to stderr only."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Advance(Protocol):
    def __call__(self, n: int, status: str | None = None) -> None: ...


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Advance]:
    """Yield ``advance(n, status=None)``; ``status`` is shown after the bar (a reward, a validation score).
    Draws on stderr when enabled and the work is long enough to watch."""
    if not enabled or total < 2:

        def nothing(n: int, status: str | None = None) -> None:
            return None

        yield nothing
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(file=sys.stderr)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=not console.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=total, status="")

        def advance(n: int, status: str | None = None) -> None:
            if status is None:
                bar.advance(task, n)
            else:
                bar.update(task, advance=n, status=status)

        yield advance
