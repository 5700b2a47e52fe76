"""The story registry: each story is a function registered under its name (``@story("job")``) that plans one
persona's thread of beats and questions on a :class:`~.conversation.Conversation`. ``generator.plan`` calls them by
name, in its fixed order (the order of the random draws is part of the output)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["STORIES", "Story", "story"]

Story = Callable[..., Any]
"""``story(conversation, persona, *options)``: adds the story's beats, questions and traps for ``persona``."""

STORIES: dict[str, Story] = {}
"""Every registered story by name (filled when ``life_stories`` and ``event_stories`` are imported)."""


def story(name: str) -> Callable[[Story], Story]:
    """Register the decorated function as the story ``name`` (each name once)."""

    def register(fn: Story) -> Story:
        if name in STORIES:
            raise ValueError(f"story {name!r} is registered twice")
        STORIES[name] = fn
        return fn

    return register
