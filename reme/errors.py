"""Library exceptions. Only the CLI turns them into exit codes (1 operation failed, 2 bad input)."""

from __future__ import annotations


class ReMeError(Exception):
    """Base class: an operation of the memory library failed."""


class BadInputError(ReMeError, ValueError):
    """The caller passed something unusable: empty or oversized text, invalid UTF-8, a bad option."""


class NotFoundError(ReMeError, KeyError):
    """An id, file or target that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain message
        return str(self.args[0]) if self.args else "not found"


class ConflictError(BadInputError):
    """A write would take over a memory id that belongs to another target (HTTP 409). The message never names
    that target or its text: ids are not an oracle of other targets' memories."""


class DatasetError(BadInputError):
    """A dataset file is missing, unreadable, or not in the format it claims."""


class WorkspaceError(ReMeError):
    """A workspace is corrupt, locked by an incompatible version, or cannot be opened."""


class StoreUnavailableError(WorkspaceError):
    """The memory database cannot be reached (PostgreSQL mode); nothing acknowledged was lost. The service answers
    503 with this message, and the next request tries the database again."""
