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
    return [e for episodes in load_episode_files(paths, conversations, exclude).values() for e in episodes]


def load_episode_files(
    paths: Sequence[str], conversations: set[str] | None = None, exclude: set[str] | None = None
) -> dict[str, list[Episode]]:
    """``load_episodes`` kept apart by file: ``{path: its chosen episodes}`` (files left with none are dropped;
    no episode at all is an error)."""
    from reme.datasets import load_dataset

    by_file: dict[str, list[Episode]] = {}
    for path in paths:
        loaded, _ = load_dataset(path)
        by_file.setdefault(str(path), []).extend(loaded)
    missing = ((conversations or set()) | (exclude or set())) - {e.episode_id for es in by_file.values() for e in es}
    if missing:
        raise BadInputError(f"unknown conversation id(s): {', '.join(sorted(missing))}")
    for path, episodes in by_file.items():
        by_file[path] = [
            e
            for e in episodes
            if (not conversations or e.episode_id in conversations) and (not exclude or e.episode_id not in exclude)
        ]
    by_file = {path: episodes for path, episodes in by_file.items() if episodes}
    if not by_file:
        raise BadInputError("no conversations to train on")
    return by_file


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
