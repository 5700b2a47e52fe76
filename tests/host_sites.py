"""Test helper: ``ensure_site(folder, requirements, no_deps)``, a ``pip install --target`` folder holding a host
application (or a framework) that cannot share this environment's packages, built once and kept.

The folder goes first on ``PYTHONPATH`` of a subprocess (``site_env``), with this repository after it, so the host
imports its own pinned versions (AgentScope, openai, mcp, anyio) and this project's ``reme`` in place of the
``reme-ai`` it pins. ``no_deps`` are installed without their dependencies: a host's own wheel, whose requirements
name ``reme-ai`` (it would install the original beside this project) and many services a test never starts; the
requirements list names what its code paths import. A folder is rebuilt when the lists change (a marker file holds
them); a registry that cannot be reached skips the test, and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SITES = Path(os.environ.get("REME_HOST_SITES", REPO / ".venv"))
"""Where the folders live (``$REME_HOST_SITES``, default ``.venv``, which ``make clean`` removes)."""
NETWORK_ERRORS = ("Could not find a version", "No matching distribution", "Failed to establish", "Network is",
                  "Temporary failure in name resolution", "ConnectionError", "Max retries exceeded")  # fmt: skip

__all__ = ["REPO", "SITES", "ensure_site", "site_env"]


def _pip(site: Path, packages: Sequence[str], *flags: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--upgrade", *flags, "--target", str(site), *packages],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        if any(marker in done.stderr for marker in NETWORK_ERRORS):
            pytest.skip(
                f"the package registry cannot be reached, so {site.name} cannot be installed: {done.stderr[-300:]}"
            )
        raise AssertionError(f"pip install --target {site} failed:\n{done.stderr[-2000:]}")


def ensure_site(site: Path, requirements: Sequence[str], no_deps: Sequence[str] = ()) -> Path:
    """The folder with ``requirements`` (and ``no_deps`` without their dependencies) installed; built when missing
    or built from other lists."""
    marker = site / ".reme-installed"
    wanted = repr((list(requirements), list(no_deps)))
    if marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return site
    _pip(site, requirements)
    if no_deps:
        _pip(site, no_deps, "--no-deps")
    marker.write_text(wanted, encoding="utf-8")
    return site


def site_env(site: Path, *extra: Path) -> dict[str, str]:
    """The environment of a subprocess that imports from ``site`` first, then ``extra`` and this repository."""
    env = dict(os.environ)
    paths = [str(site), *map(str, extra), str(REPO), *filter(None, [env.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env
