"""Per-target FAISS and BM25 indexes saved under ``WORKSPACE/index/`` so that a new process need not rebuild
them from the records. They are caches: a manifest names the target's generation and the embedding model they
were built for, and anything stale, torn or unreadable is ignored (and rebuilt from ``reme.db``).

Layout: ``index/<sha256(target)[:16]>/{manifest.json, dense.faiss, ids.npy, bm25/}``, written to a temporary
folder, fsynced and swapped into place (``reme.atomic.replace_dir``), so a crash never leaves a
half-written index that looks whole. The manifest, written last, names the generation, the model, the number of
memories and whether a keyword index exists, and carries a build id: a reader checks every file against it and
reads the manifest again at the end, so an index replaced by another process mid-read is never mixed from two
builds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from reme.atomic import replace_dir
from reme.retrieval.dense import DenseIndex
from reme.retrieval.keyword import BM25Index

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
"""Written last: a folder without it is not an index."""

PERSIST_MIN = 2000
"""Targets smaller than this rebuild in milliseconds and are not written to disk."""


def _folder(root: Path, target: str) -> Path:
    return root / hashlib.sha256(target.encode()).hexdigest()[:16]


def save_index(root: Path, target: str, generation: int, model_id: str, dense: DenseIndex, bm25: BM25Index) -> bool:
    """Write one target's indexes; returns whether they were written."""
    import faiss

    def fill(folder: Path) -> None:
        faiss.write_index(dense.faiss_index, str(folder / "dense.faiss"))
        np.save(folder / "ids.npy", bm25.ids)
        if bm25.retriever is not None:
            bm25.retriever.save(str(folder / "bm25"), show_progress=False)
        manifest = {
            "target": target,
            "generation": generation,
            "model_id": model_id,
            "kind": dense.kind,
            "count": len(bm25.ids),
            "bm25": bm25.retriever is not None,
            "build": uuid.uuid4().hex,
        }
        (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    try:
        replace_dir(_folder(root, target), fill, MANIFEST)
        return True
    except (OSError, RuntimeError) as exc:  # a cache: failing to write it only costs a rebuild later
        log.warning("could not save the index of %s: %s", target, exc)
        return False


def delete_index(root: Path, target: str) -> bool:
    """Remove the saved indexes of a target (``reme forget``: no copy of forgotten text stays on disk); returns
    whether a saved copy was there."""
    import shutil

    folder = _folder(root, target)
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def load_index(
    root: Path, target: str, generation: int, model_id: str, ann_threshold: int, nprobe: int, k1: float, b: float
) -> tuple[DenseIndex, BM25Index] | None:
    """The saved indexes of a target if they match ``generation`` and ``model_id``, else ``None`` (with a log
    line when a saved copy exists but is stale, torn or unreadable, or was replaced while it was being read)."""
    folder = _folder(root, target)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return None
    try:
        raw = manifest_path.read_bytes()
        manifest: dict[str, Any] = json.loads(raw)
        if manifest.get("target") != target or manifest.get("model_id") != model_id:
            log.info("the saved index of %s was made for another target or model: rebuilding", target)
            return None
        if manifest.get("generation") != generation:
            log.info(
                "the saved index of %s is at generation %s, the records at %d: rebuilding",
                target, manifest.get("generation"), generation,
            )  # fmt: skip
            return None
        import bm25s
        import faiss

        dense = DenseIndex.from_faiss(
            faiss.read_index(str(folder / "dense.faiss")), manifest["kind"], ann_threshold, nprobe
        )
        ids = np.load(folder / "ids.npy")
        retriever = bm25s.BM25.load(str(folder / "bm25"), show_progress=False) if manifest["bm25"] else None
        bm25 = BM25Index.from_retriever(ids, retriever, k1, b)
        count = int(manifest["count"])
        if not len(dense) == len(ids) == count:
            raise ValueError(f"sizes disagree: dense {len(dense)}, ids {len(ids)}, manifest {count}")
        if retriever is not None and int(retriever.scores["num_docs"]) != count:
            raise ValueError(f"the keyword index holds {retriever.scores['num_docs']} documents, not {count}")
        if manifest_path.read_bytes() != raw:  # replaced by another process while this one read the files
            log.info("the saved index of %s was replaced while being read: rebuilding", target)
            return None
        return dense, bm25
    except Exception as exc:  # corrupt, torn or foreign files: rebuild from the records
        log.warning("ignoring the saved index of %s (%s): rebuilding from the records", target, exc)
        return None
