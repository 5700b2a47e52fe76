"""``reme doctor``: what this installation runs on (versions, devices, model, dense backend, indexes)."""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path
from typing import Any

__all__ = ["diagnose"]

PACKAGES = ("reme-rl", "torch", "faiss-cpu", "faiss-gpu-cu12", "faiss-gpu-cu13-cuvs", "bm25s", "sentence-transformers",
            "transformers", "openai", "flash-attn", "agentscope", "areal")  # fmt: skip


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def diagnose(workspace: str | Path | None = None) -> dict[str, Any]:
    """A flat report: ``python``, package versions (installed ones), CUDA and GPU, the embedding model and
    device, the dense backend for ``device`` ``cpu`` and ``auto`` with reasons, and, for an existing workspace,
    its settings' devices and each target's memory count."""
    from reme.config import EmbeddingConfig
    from reme.retrieval.backend import _faiss_gpus, choose_backend

    report: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    report["packages"] = {name: v for name in PACKAGES if (v := _version(name)) is not None}
    try:
        import torch

        cuda = bool(torch.cuda.is_available())
        report["cuda"] = {"available": cuda, "torch_cuda": torch.version.cuda}
        if cuda:
            report["cuda"]["gpu"] = torch.cuda.get_device_name(0)
            report["cuda"]["memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    except Exception as exc:  # torch missing or broken: say so
        report["cuda"] = {"available": False, "error": str(exc)}
    report["faiss_gpus"] = _faiss_gpus()
    embedding = EmbeddingConfig()
    report["embedding"] = {"backend": embedding.backend, "model": embedding.model, "device": embedding.device}
    for device in ("cpu", "auto"):
        backend = choose_backend(device)
        report[f"dense_backend[{device}]"] = f"{backend.name} ({backend.reason})"
    root = Path(workspace) if workspace is not None else None
    if root is not None and (root / "reme.db").is_file():
        from reme.memory import Memory

        with Memory(root) as memory:
            report["workspace"] = str(root)
            report["workspace_embedding"] = memory.model_id
            report["retrieval_device"] = memory.retrieval.device
            report["targets"] = {t: memory.count(t) for t in sorted(memory.records.targets())}
    return report
