"""Which dense-candidate backend serves a workspace, chosen once from ``RetrievalConfig.device`` and the machine:

- ``faiss-cpu``: FAISS on the CPU (exact flat, IVF past ``ann_threshold``): the default, and always for ``cpu``;
- ``faiss-gpu``: FAISS on the GPU, when ``device`` is ``cuda`` / ``auto``, a FAISS GPU wheel loaded
  (``faiss.get_num_gpus() > 0``: ``faiss-gpu-cu12`` needs CUDA 12 libraries, ``faiss-gpu-cu13-cuvs`` CUDA 13 and
  cuVS) and a GPU is visible;
- ``torch-cuda``: an exact fp16 scan with ``torch.topk`` on the GPU (``TorchDenseIndex``), when CUDA is visible
  to torch but no FAISS GPU wheel loads.

``reme doctor`` prints the choice and its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reme.errors import BadInputError

__all__ = ["DenseBackend", "build_dense", "choose_backend"]

DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class DenseBackend:
    name: str
    """``faiss-cpu``, ``faiss-gpu`` or ``torch-cuda``."""
    device: str
    reason: str


def _faiss_gpus() -> int:
    try:
        import faiss

        return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0
    except Exception:
        return 0


def _torch_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def choose_backend(device: str = "cpu", *, faiss_gpus: int | None = None, cuda: bool | None = None) -> DenseBackend:
    """The backend for ``device`` on this machine (``faiss_gpus`` / ``cuda`` override the probes, for tests)."""
    if device not in DEVICES:
        raise BadInputError(f"unknown retrieval device {device!r}: use {', '.join(DEVICES)}")
    if device == "cpu":
        return DenseBackend("faiss-cpu", "cpu", "retrieval device is cpu")
    gpus = _faiss_gpus() if faiss_gpus is None else faiss_gpus
    has_cuda = _torch_cuda() if cuda is None else cuda
    if gpus > 0:
        return DenseBackend("faiss-gpu", "cuda", f"a FAISS GPU wheel sees {gpus} GPU(s)")
    if has_cuda:
        return DenseBackend("torch-cuda", "cuda", "CUDA is visible to torch but no FAISS GPU wheel loaded")
    if device == "cuda":
        raise BadInputError("retrieval device 'cuda' was asked for, but neither FAISS nor torch sees a GPU")
    return DenseBackend("faiss-cpu", "cpu", "auto: no GPU visible")


def build_dense(backend: DenseBackend, ids: np.ndarray, vectors: np.ndarray, ann_threshold: int, nprobe: int) -> Any:
    """A dense index of ``ids`` / ``vectors`` on ``backend``."""
    from reme.retrieval.dense import DenseIndex

    if backend.name == "torch-cuda":
        from reme.retrieval.torch_dense import TorchDenseIndex

        return TorchDenseIndex.build(ids, vectors, device="cuda")
    index = DenseIndex.build(ids, vectors, ann_threshold, nprobe)
    if backend.name == "faiss-gpu":
        index.to_gpu()
    return index
