"""The feature columns this version computes for each decision kind, which a checkpoint must have been trained on.
Apart from the policies' modules (which import ``checkpoint``) so that checking a checkpoint's spec needs no cycle."""

from __future__ import annotations

__all__ = ["live_features"]


def live_features(kind: str) -> tuple[str, ...]:
    """The feature columns this version computes for a live decision of ``kind``."""
    if kind == "rank":
        from reme.policy.rank_features import RANK_FEATURES

        return RANK_FEATURES
    if kind == "write":
        from reme.policy.write_features import WRITE_FEATURES

        return WRITE_FEATURES
    from reme.policy.compact import COMPACT_FEATURES

    return COMPACT_FEATURES
