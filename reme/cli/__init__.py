"""The ``reme`` command line. It only parses options and calls the library.

Conventions for every command: ``--workspace DIR`` is accepted before or after the subcommand (and from
``$REME_WORKSPACE``); ``--json OUT`` writes JSON to a path, ``-`` meaning stdout (and then nothing else goes to
stdout); exit code 0 on success, 1 when the operation failed, 2 for bad usage or bad input.

This module owns the Typer ``app`` (its global options and the table of commands), the mapping of library errors to
exit codes, and ``json_command``, the one decorator every command runs under. The commands live one module per
sub-app or group: ``memories`` (add, search, list, ...), ``trajectories``, ``policy``, ``evaluate`` (eval),
``datasets``, ``train`` (train-policy), ``learn``, ``bench``, ``serve`` (serve, mcp) and ``doctor``.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ParamSpec

import typer

from reme import __project_version__, __version__
from reme.cli.options import WorkspaceOpt
from reme.errors import BadInputError, NotFoundError, ReMeError
from reme.threads import configure_process_threads

app = typer.Typer(
    name="reme",
    help="Long-term memory for LLM agents, with learned memory decisions. Drop-in for ReMe 0.3.1.x and 0.4.x "
    "(reme start; reme <job> key=value).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)


def stderr(message: str) -> None:
    """One line for the user on stderr (stdout may be holding JSON)."""
    print(message, file=sys.stderr)


@contextmanager
def _errors() -> Iterator[None]:
    """Library exceptions become a one-line message and an exit code; never a traceback."""
    try:
        yield
    except (BadInputError, NotFoundError) as exc:
        stderr(f"error: {exc}")
        raise typer.Exit(2) from None
    except ReMeError as exc:
        stderr(f"error: {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        stderr("interrupted")
        raise typer.Exit(130) from None


def emit_json(payload: Any, out: str) -> None:
    """Write ``payload`` as JSON to the path ``out`` (``-``: stdout, and nothing else there)."""
    text = json.dumps(payload, indent=2, ensure_ascii=False)
    if out == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise ReMeError(f"cannot write {out}: {exc.strerror}") from None
    stderr(f"wrote {out}")


@dataclass(frozen=True)
class Reply:
    """What a command answers: ``payload`` goes to ``--json OUT`` when it is given, else ``show`` prints the text."""

    payload: Any
    """The JSON form of the answer."""
    show: Callable[[], None]
    """Prints the human form of the answer on stdout."""


P = ParamSpec("P")


def json_command(command: Callable[P, Reply | None]) -> Callable[P, None]:
    """Run a command under the error mapping (one ``error: ...`` line and exit 2, 1 or 130, never a traceback); a
    ``Reply`` it returns is written as JSON to its ``json_out`` option when given, else shown as text. A command
    that prints for itself returns ``None``."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        with _errors():
            reply = command(*args, **kwargs)
            if reply is None:
                return
            json_out = kwargs.get("json_out")
            if json_out:
                emit_json(reply.payload, str(json_out))
            else:
                reply.show()

    return run


CLICK_TYPE_NAMES = {"<str>": "TEXT", "<int>": "INTEGER", "<float>": "FLOAT", "<list[str]>": "TEXT ...",
                    "<list[int]>": "INTEGER ...", "<list[float]>": "FLOAT ..."}  # fmt: skip
"""How an option without a metavar shows what it takes (click's names; ``...``: repeatable)."""


def _hide_flag_types() -> None:
    """``--help`` shows ``<bool>`` beside every on/off flag (``--help`` included) and ``<str>`` beside every named
    argument in this typer; a flag takes no value and an argument's name (``QUERY``) already says what it takes,
    so neither shows a type. Options that take a value show their metavar (``DIR``, ``PATH``, ``TARGET``, ...)."""
    from typer.core import TyperArgument, TyperOption

    option_type = TyperOption.display_type_rich
    if getattr(option_type, "_reme_flags_hidden", False):
        return

    def option_display(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag:
            return None
        shown = option_type(self, ctx)
        return CLICK_TYPE_NAMES.get(shown, shown) if shown is not None else None

    def argument_display(self: TyperArgument, ctx: Any) -> str | None:
        return None

    option_display._reme_flags_hidden = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = option_display  # type: ignore[method-assign]
    TyperArgument.display_type_rich = argument_display  # type: ignore[method-assign,assignment]


_hide_flag_types()


def _version(value: bool) -> None:
    if value:
        print(f"reme {__project_version__} (ReMe API {__version__})")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    workspace: WorkspaceOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what the library does (stderr).")] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            max=1024,
            help="Threads for torch, FAISS and BLAS (default: $REME_THREADS, else your OMP_NUM_THREADS, else half "
            "the cores, at most 8).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Long-term memory for LLM agents, with learned memory decisions."""
    ctx.obj = {"workspace": workspace}
    configure_process_threads(threads)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


# The table of commands, in the order `reme --help` lists them. The command modules import the helpers above, so
# they are imported once those exist.
from reme.cli import bench, datasets, doctor, evaluate, learn, memories, policy, serve, store, train, trajectories  # noqa: E402

app.add_typer(memories.commands)
app.add_typer(train.commands)
app.add_typer(learn.commands)
app.add_typer(serve.commands)
app.add_typer(doctor.commands)
app.add_typer(store.commands)
app.add_typer(evaluate.eval_app, name="eval")
app.add_typer(trajectories.trajectories_app, name="trajectories")
app.add_typer(policy.policy_app, name="policy")
app.add_typer(datasets.datasets_app, name="datasets")
app.add_typer(bench.bench_app, name="bench")


def main() -> None:
    """Entry point of the ``reme`` script: ReMe 0.4's ``reme start`` / ``reme <job> key=value`` form goes to
    ``reme.job_cli``, everything else to this project's commands."""
    from reme.job_cli import is_job_command, run

    try:
        configure_process_threads()  # before anything loads torch or FAISS (reme.threads)
    except BadInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if is_job_command(sys.argv[1:]):
        raise SystemExit(run(sys.argv[1:]))
    app()
