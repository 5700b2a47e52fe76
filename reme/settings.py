"""Workspace settings: ``WORKSPACE/reme.yaml``, with environment overrides (``REME_POLICIES__RANK=...``).

Example ``reme.yaml``::

    policies:
      rank: default            # this reme's shipped default; heuristic (ReMe's rule); or a registry version
      write: default
      compact: default
      on_failure: error        # or heuristic: fall back, warned and counted, when a learned policy fails
      target_margin: 0.02      # activation refuses a rank head that loses more than this on any target's slice
      target_min_decisions: 20 # ... of at least this many logged decisions
      style_margin: 0.01       # activation refuses a rank head that loses more than this recall@10 to the
                               # heuristic on any evaluation style (reme eval styles)
      style_scale: small       # or full: the style suite's size at activation
    mode: greedy               # sample: explore (training data); greedy: serve
    trajectories:
      enabled: true
      segment_bytes: 16777216

Environment variables win over the file; the file wins over the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from reme.errors import WorkspaceError

SETTINGS_FILE = "reme.yaml"


class PolicySettings(BaseModel):
    """Which policy serves each decision kind: ``default`` (the shipped default of this reme version: its checkpoint,
    registered into the workspace on first use, or the heuristic where none ships; ``reme.policy.shipped``),
    ``heuristic`` (ReMe's rule), or a version in the workspace's registry."""

    rank: str = "default"
    write: str = "default"
    compact: str = "default"
    on_failure: Literal["error", "heuristic"] = "error"
    """A learned policy that cannot load or decide: ``error`` refuses (``PolicyError``), ``heuristic`` falls back
    to ReMe's rule with a warning and a counter (``reme.policy.guard``)."""
    target_margin: float = Field(default=0.02, ge=0)
    """``reme policy activate`` refuses a rank head whose estimated return on any one target's slice of the log is
    below the serving policy's by more than this (so no tenant's rewards can buy a head that hurts another)."""
    target_min_decisions: int = Field(default=20, ge=1)
    """A target's slice is judged only when it holds at least this many sampled, rewarded decisions."""
    style_margin: float = Field(default=0.01, ge=0)
    """``reme policy activate`` refuses a rank head whose turn recall@10 on any evaluation style
    (``reme.eval.styles``: synthetic chat, assistant, agent traces, LongMemEval-shaped haystacks on held-out seeds)
    is below the heuristic's by more than this."""
    style_scale: Literal["small", "full"] = "small"
    """The size of the style suite activation scores on: ``small`` (seconds once its candidates are cached under
    ``WORKSPACE/cache/style-suite/``) or ``full``."""


class TrajectorySettings(BaseModel):
    enabled: bool = True
    """Log every decision and reward to ``trajectories/``."""
    segment_bytes: int = Field(default=16 * 1024 * 1024, ge=4096)
    """A segment rotates past this size."""
    retention_days: float | None = Field(default=None, ge=0)
    """Delete whole segments whose last write is older than this many days (``reme trajectories prune``, and when
    a workspace opens); ``None`` keeps everything."""


class WorkspaceSettings(BaseSettings):
    """Settings of one workspace."""

    model_config = SettingsConfigDict(env_prefix="REME_", env_nested_delimiter="__", extra="forbid")

    policies: PolicySettings = Field(default_factory=PolicySettings)
    mode: Literal["greedy", "sample"] = "greedy"
    trajectories: TrajectorySettings = Field(default_factory=TrajectorySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the file's values arrive as init arguments; the environment overrides them
        return env_settings, init_settings


def load_settings(workspace: str | Path) -> WorkspaceSettings:
    """The settings of a workspace (defaults when it has no ``reme.yaml``); a bad file is a clear error."""
    import yaml

    path = Path(workspace) / SETTINGS_FILE
    data: Any = {}
    if path.is_file():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise WorkspaceError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise WorkspaceError(f"{path} must be a mapping of settings")
    try:
        return WorkspaceSettings(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise WorkspaceError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def load_dotenv(path: Path) -> None:
    """``KEY=VALUE`` lines of a ``.env`` file into ``os.environ`` (existing variables win); ReMe's ``enable_load_env``
    and ``reme start`` read ``./.env`` this way."""
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))
