"""The conversations a trainer learns from: several dataset files loaded into one list of episodes, and the split
by conversation (never by question) into training and validation. Shared by every decision's trainer."""

from __future__ import annotations

import random
from collections.abc import Sequence

from reme.errors import BadInputError
from reme.schema import Episode

__all__ = ["load_episodes", "split_episodes"]


def load_episodes(
    paths: Sequence[str], conversations: set[str] | None = None, exclude: set[str] | None = None
) -> list[Episode]:
    """Episodes of several dataset files (any format the loaders read), optionally only some ids, or all but
    some (unknown ids are an error either way)."""
    from reme.datasets import load_dataset

    episodes: list[Episode] = []
    for path in paths:
        loaded, _ = load_dataset(path)
        episodes.extend(loaded)
    missing = ((conversations or set()) | (exclude or set())) - {e.episode_id for e in episodes}
    if missing:
        raise BadInputError(f"unknown conversation id(s): {', '.join(sorted(missing))}")
    if conversations:
        episodes = [e for e in episodes if e.episode_id in conversations]
    if exclude:
        episodes = [e for e in episodes if e.episode_id not in exclude]
    if not episodes:
        raise BadInputError("no conversations to train on")
    return episodes


def split_episodes(episodes: Sequence[Episode], val_fraction: float, seed: int) -> tuple[list[Episode], list[Episode]]:
    """Hold out whole episodes, chosen by a seeded shuffle: ``(train, validation)``."""
    if not 0.0 <= val_fraction < 1.0:
        raise BadInputError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    order = sorted(episodes, key=lambda e: e.episode_id)
    random.Random(seed).shuffle(order)
    n_val = round(len(order) * val_fraction)
    if val_fraction > 0 and n_val == 0 and len(order) > 1:
        n_val = 1
    if n_val >= len(order) and val_fraction > 0:
        raise BadInputError(f"--val-fraction {val_fraction} leaves no conversation to train on")
    val_ids = {e.episode_id for e in order[:n_val]}
    return [e for e in episodes if e.episode_id not in val_ids], [e for e in episodes if e.episode_id in val_ids]
