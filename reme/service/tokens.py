"""The token file of ``reme serve --token-file``: each bearer token mapped to the targets it may read and write."""

from __future__ import annotations

from pathlib import Path

from reme.errors import BadInputError

__all__ = ["MIN_TOKEN_CHARS", "load_tokens"]

MIN_TOKEN_CHARS = 16


def load_tokens(path: str | Path) -> dict[str, list[str]]:
    """A YAML token file: each bearer token mapped to the targets it may read and write (``*``: all). Everything is
    checked at start: an empty or blank token (it would match a request without ``Authorization``), a token with
    spaces or control characters, or a target that is not a valid target name is refused with ``BadInputError``;
    a token shorter than 16 characters is warned about."""
    import logging

    import yaml

    from reme.schema import normalize_target

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BadInputError(f"cannot read the token file {path}: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise BadInputError(f"{path}: a token file maps each token to a list of targets")
    tokens: dict[str, list[str]] = {}
    for token, targets in data.items():
        if not isinstance(token, str | int) or isinstance(token, bool):
            raise BadInputError(f"{path}: a token must be a string, got {type(token).__name__}")
        name = str(token)
        shown = f"{name[:4]}..." if len(name) > 4 else "(short)"
        if not name.strip():
            raise BadInputError(f"{path}: an empty or blank token would let requests without a token in")
        if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in name):
            raise BadInputError(f"{path}: token {shown} holds spaces or control characters")
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise BadInputError(f"{path}: token {shown}: its targets must be a list of strings")
        for target in targets:
            if target != "*":
                try:
                    normalize_target(target)
                except BadInputError as exc:
                    raise BadInputError(f"{path}: token {shown}: {exc}") from None
        if len(name) < MIN_TOKEN_CHARS:
            logging.getLogger(__name__).warning(
                "%s: token %s is shorter than %d characters: easy to guess", path, shown, MIN_TOKEN_CHARS
            )
        tokens[name] = targets
    return tokens
