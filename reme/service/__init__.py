"""The service: ``reme serve`` (``create_app``, the FastAPI application over a workspace, with ``load_tokens`` for its
token file) and ``reme mcp`` (``mcp_server``), both thin adapters over the shared operations of ``ops``."""

from .app import create_app
from .tokens import load_tokens

__all__ = ["create_app", "load_tokens"]
