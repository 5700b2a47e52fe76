"""Workspace settings: ``WORKSPACE/reme.yaml``, with environment overrides (``REME_POLICIES__RANK=...``).

Example ``reme.yaml``::

    policies:
      rank: default            # this reme's shipped default; heuristic (ReMe's rule); or a registry version
      write: default
      compact: default
      on_failure: error        # or heuristic: fall back, warned and counted, when a learned policy fails
      write_budget: null       # e.g. 0.3: a paced write policy stores 30% of each target's candidates in use
      target_margin: 0.02      # activation refuses a rank head that loses more than this on any target's slice
      target_min_decisions: 20 # ... of at least this many logged decisions
      style_margin: 0.01       # activation refuses a rank head that loses more than this recall@10 to the
                               # heuristic on any evaluation style (reme eval styles)
      style_scale: small       # or full: the style suite's size at activation
      exploration:             # epsilon per decision kind; 0 = the policy alone (reme.policy.explore)
        write: 0.05            # a candidate the policy would discard is stored with this probability
        compact: 0.0           # a message the policy would compact is kept verbatim with this probability
        rank: 0.0              # a greedy search samples its ordering from the policy with this probability
        canary: 0.5            # while reme learn tries a rank canary: the share of the searches where its
                               # ordering differs from the serving one that it answers
        seed: 0                # the draws hash (seed, decision id): reproducible from the log
    credit:                    # the credit rules of reme.policy.rewards
      gamma: 0.9
      storage_cost_per_day: 0.001
      storage_horizon_days: 365
    mode: greedy               # sample: explore (training data); greedy: serve
    trajectories:
      enabled: true
      segment_bytes: 16777216
    embedding:                 # reme.config.EmbeddingConfig; left out: the workspace's stored encoder (or the
      model: sentence-transformers/all-MiniLM-L6-v2   # default for a new one). Another model re-encodes the store.
      device: auto
    retrieval:                 # reme.config.RetrievalConfig
      vector_weight: 0.7       # ReMe's fusion: 0.7 * cosine + 0.3 * bm25_norm
      min_score: 0.1           # the fused-score floor of a hit
      candidate_multiplier: 3.0
    store:                     # where the records live; left out: WORKSPACE/reme.db (SQLite)
      url: null                # postgresql://user:pass@host/db (or REME_STORE_URL): PostgreSQL with pgvector
      schema: reme             # the PostgreSQL schema of this workspace's tables

Environment variables win over the file; the file wins over the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from reme.config import EmbeddingConfig, RetrievalConfig
from reme.errors import WorkspaceError

SETTINGS_FILE = "reme.yaml"


class ExplorationSettings(BaseModel):
    """Exploration per decision kind (``reme.policy.explore``): the probability that a decision takes the
    exploring action instead of the policy's; ``0`` is the policy alone, exactly as without exploration. Every
    decision taken while its kind's epsilon is above 0 records its behaviour propensity (the probability of the
    action taken under the mixture of the policy and this rule) in ``extra["exploration"]``."""

    write: float = Field(default=0.05, ge=0, le=1)
    """A candidate the policy would ``discard`` is stored instead with this probability (when ``store`` is allowed
    and the policy gives it a non-zero probability). The default, 5%, is the safe direction: exploration never
    drops a candidate the policy keeps, and what it adds is charged per memory-day by the credit rules."""
    compact: float = Field(default=0.0, ge=0, le=1)
    """At each unforced gate, a message the policy would compact is kept verbatim instead with this probability
    (never past the reserve). Off by default: it changes the context a live model sees now, and ReMeLight's
    split stays ReMe's until a workspace asks for it."""
    rank: float = Field(default=0.0, ge=0, le=1)
    """A ``greedy`` search samples its ordering from the policy's Plackett-Luce distribution instead with this
    probability. Off by default: ``mode: sample`` already samples every search (where this setting changes
    nothing), and a greedy serving workspace keeps its order."""
    canary: float = Field(default=0.5, ge=0, le=1)
    """While ``reme learn`` tries a rank canary (a candidate that does not serve, ``reme.policy.registry``), the
    share of the searches where the canary's top k differs from the serving version's that the canary answers; the
    others are answered as usual. Searches where the two agree are not touched, so what this costs is bounded by
    how often they differ and by how much worse the canary is there (``reme learn`` ends a canary that loses)."""
    seed: int = 0
    """The draws are ``blake2b(seed, decision id, gate)``: no global random state, and each draw can be recomputed
    from the log."""


class CreditSettings(BaseModel):
    """The parameters of the credit rules (``reme.policy.rewards``, which documents each rule)."""

    gamma: float = Field(default=0.9, gt=0, le=1)
    """Discount per step of distance (writes between a write and its reward; decisions between a compaction and
    a reward of its target or episode)."""
    storage_cost_per_day: float = Field(default=0.001, ge=0)
    """Charged to a write per day that the memory it stored (or last updated) stays in the store: 0.001 makes a
    year of storage cost 0.365, about a third of one fully positive retrieval."""
    storage_horizon_days: float = Field(default=365.0, gt=0)
    """At most this many days are charged to one write, so a return stays bounded however old the log is."""


class PolicySettings(BaseModel):
    """Which policy serves each decision kind: ``default`` (the shipped default of this reme version: its checkpoint,
    registered into the workspace on first use, or the heuristic where none ships; ``reme.policy.shipped``),
    ``heuristic`` (ReMe's rule), or a version in the workspace's registry."""

    rank: str = "default"
    write: str = "default"
    compact: str = "default"
    poll_seconds: float = Field(default=10.0, ge=0)
    """A service over a PostgreSQL store checks the database's registry this often and serves what a learner on any
    host published (``reme.service.policy_watch``); ``0`` never checks."""
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
    write_budget: float | None = Field(default=None, gt=0, le=1)
    """The share of a target's incoming candidates that a budget-paced write policy (``mlp-write-paced``,
    ``heuristic-novelty-length``, ``random-budget``) stores in use, as the offline write environment's ``--budget``:
    each target's candidates form a live stream (``reme.policy.write.WriteStream.at_rate``) whose budget columns
    pace the policy. ``None`` (the default) leaves the live budget unlimited: a paced policy then stores nearly
    everything. ReMe's rule (``heuristic``) stores every new text whatever the budget."""
    exploration: ExplorationSettings = Field(default_factory=ExplorationSettings)
    """Exploration per decision kind (``REME_POLICIES__EXPLORATION__WRITE=0`` in the environment)."""


class TrajectorySettings(BaseModel):
    enabled: bool = True
    """Log every decision and reward to ``trajectories/``."""
    segment_bytes: int = Field(default=16 * 1024 * 1024, ge=4096)
    """A segment rotates past this size."""
    retention_days: float | None = Field(default=None, ge=0)
    """Delete whole segments whose last write is older than this many days (``reme trajectories prune``, and when
    a workspace opens); ``None`` keeps everything."""
    location: Literal["auto", "files", "database"] = "auto"
    """Where the log lives: ``files``, segments under ``trajectories/``; ``database``, the ``trajectory`` table of
    the PostgreSQL store (every replica appends to one log, learners elsewhere read it); ``auto``, the database when
    ``store.url`` names one, else files."""


def is_store_url(place: str | Path) -> bool:
    """Whether ``place`` names a PostgreSQL database (``postgresql://``) rather than a workspace folder."""
    return str(place).startswith(("postgresql://", "postgres://"))


class StoreSettings(BaseModel):
    """Where the memory records live (``reme.store``): the workspace's SQLite file (the default, nothing to start),
    or PostgreSQL with pgvector for several workers and hosts over one database (``reme.store.postgres``)."""

    url: str | None = None
    """``postgresql://user:password@host:5432/db``; ``None``: ``WORKSPACE/reme.db``. ``REME_STORE_URL`` overrides it."""
    schema_name: str = Field(default="reme", alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """The PostgreSQL schema of this workspace's tables (several workspaces can share one database)."""
    pool_size: int = Field(default=8, ge=1, le=256)
    """Connections per process."""
    dense: Literal["local", "pgvector"] = "local"
    """Where the dense candidates come from in PostgreSQL mode: ``local``, each worker's FAISS index built from the
    rows (as in SQLite mode); ``pgvector``, the database itself (exact ``<=>`` over the target's rows, or pgvector's
    HNSW index for a target of at least ``hnsw_min_rows`` once ``reme hnsw`` built it), so that no worker holds the
    vectors. Ignored for the SQLite file."""
    hnsw_min_rows: int = Field(default=20_000, ge=0)
    """With ``dense: pgvector``, a target with at least this many memories is searched through the HNSW index (when it
    exists; exact below, and exact when it does not). docs/store.md has the measurement behind the default."""
    ef_search: int = Field(default=100, ge=1, le=1000)
    """pgvector's ``hnsw.ef_search``: candidates the HNSW search keeps (recall versus time; docs/store.md)."""

    model_config = {"populate_by_name": True}

    @field_validator("url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is not None and not is_store_url(value):
            raise ValueError("store.url must be a postgresql:// URL (leave it out for the workspace's SQLite file)")
        return value


class WorkspaceSettings(BaseSettings):
    """Settings of one workspace."""

    model_config = SettingsConfigDict(env_prefix="REME_", env_nested_delimiter="__", extra="forbid")

    policies: PolicySettings = Field(default_factory=PolicySettings)
    mode: Literal["greedy", "sample"] = "greedy"
    trajectories: TrajectorySettings = Field(default_factory=TrajectorySettings)
    credit: CreditSettings = Field(default_factory=CreditSettings)
    embedding: EmbeddingConfig | None = None
    """The encoder (``Memory(embedding=...)`` wins); ``None``: the one the workspace stored, else the default."""
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    store: StoreSettings = Field(default_factory=StoreSettings)
    """Candidates, fusion weight, ``min_score``, index thresholds (``Memory(retrieval=...)`` wins)."""

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
