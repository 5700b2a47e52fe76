"""Per-target FAISS and BM25 indexes saved under ``WORKSPACE/index/`` so that a new process need not rebuild
them from the records. They are caches: a manifest names the target's generation and the embedding model they
were built for, and anything stale, torn or unreadable is ignored (and rebuilt from ``reme.db``).

Layout: ``index/<sha256(target)[:16]>/{manifest.json, dense.faiss, ids.npy, bm25/}``, written to a temporary
folder and renamed into place, so a crash never leaves a half-written index that looks whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from reme.retrieval.dense import DenseIndex
from reme.retrieval.keyword import BM25Index

log = logging.getLogger(__name__)

PERSIST_MIN = 2000
"""Targets smaller than this rebuild in milliseconds and are not written to disk."""


def _folder(root: Path, target: str) -> Path:
    return root / hashlib.sha256(target.encode()).hexdigest()[:16]


def save_index(root: Path, target: str, generation: int, model_id: str, dense: DenseIndex, bm25: BM25Index) -> bool:
    """Write one target's indexes; returns whether they were written."""
    import faiss

    final = _folder(root, target)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        faiss.write_index(dense.faiss_index, str(tmp / "dense.faiss"))
        np.save(tmp / "ids.npy", bm25.ids)
        if bm25.retriever is not None:
            bm25.retriever.save(str(tmp / "bm25"), show_progress=False)
        manifest = {"target": target, "generation": generation, "model_id": model_id, "kind": dense.kind}
        (tmp / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        return True
    except OSError as exc:  # a cache: failing to write it only costs a rebuild later
        log.warning("could not save the index of %s: %s", target, exc)
        shutil.rmtree(tmp, ignore_errors=True)
        return False


def load_index(
    root: Path, target: str, generation: int, model_id: str, ann_threshold: int, nprobe: int, k1: float, b: float
) -> tuple[DenseIndex, BM25Index] | None:
    """The saved indexes of a target if they match ``generation`` and ``model_id``, else ``None``."""
    folder = _folder(root, target)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return None
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        if (
            manifest.get("target") != target
            or manifest.get("generation") != generation
            or manifest.get("model_id") != model_id
        ):
            return None
        import bm25s
        import faiss

        dense = DenseIndex.from_faiss(
            faiss.read_index(str(folder / "dense.faiss")), manifest["kind"], ann_threshold, nprobe
        )
        ids = np.load(folder / "ids.npy")
        retriever = bm25s.BM25.load(str(folder / "bm25"), show_progress=False) if (folder / "bm25").is_dir() else None
        bm25 = BM25Index.from_retriever(ids, retriever, k1, b)
        if len(dense) != len(ids):
            raise ValueError("dense and keyword indexes disagree in size")
        return dense, bm25
    except Exception as exc:  # corrupt or foreign files: rebuild from the records
        log.warning("ignoring the saved index of %s (%s): rebuilding from the records", target, exc)
        return None
