"""The AgentScope integration's tests, run where AgentScope can live: AgentScope 1.x needs mcp 1.x (this
environment has mcp 2.x for ``reme mcp``) and would replace ReMeLight's stand-in message classes for the rest of
the suite, so it is installed with pip ``--target`` into its own folder and the AgentScope tests of
``tests/test_integrations.py`` and ``tests/test_reme_light_agentscope.py`` run in a subprocess with that folder first
on ``PYTHONPATH``: a real ReActAgent turn against the loopback scripted endpoint, the long-term memory's search logged
and its reward joined, the pre-reasoning hook, and ReMeLight with an AgentScope chat model, formatter and token
counter and its memory as the agent's across turns.

The folder is ``$REME_AGENTSCOPE_SITE`` or ``.venv/agentscope-site`` (kept between runs; about 140 MB). Where
AgentScope is importable here already, ``test_integrations.py`` runs those tests itself and this one skips.
Skipped only when the package registry cannot be reached, and it says so.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from host_sites import REPO, SITES, ensure_site, site_env

REQUIREMENTS = ["agentscope>=1.0.17,<2", "mcp>=1.13,<2", "greenlet>=3"]


@pytest.mark.skipif(
    importlib.util.find_spec("agentscope") is not None, reason="AgentScope is importable: test_integrations runs it"
)
def test_agentscope_integration_in_its_own_site():
    site = ensure_site(Path(os.environ.get("REME_AGENTSCOPE_SITE", SITES / "agentscope-site")), REQUIREMENTS)
    env = site_env(site)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_integrations.py",
            "tests/test_reme_light_agentscope.py",
            "-k",
            "agentscope",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert "11 passed" in done.stdout and "skipped" not in done.stdout.splitlines()[-1], tail
