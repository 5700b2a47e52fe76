"""The HTTP service (``reme serve``): ``create_app`` builds the FastAPI application over a workspace."""

from .app import create_app, load_tokens

__all__ = ["create_app", "load_tokens"]
