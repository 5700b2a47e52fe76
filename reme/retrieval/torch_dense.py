"""Dense candidates as an exact scan on a torch device: the GPU path when no FAISS GPU wheel loads.

The vectors live on the device as one contiguous matrix (fp16 on CUDA, halving the bytes each query reads;
fp32 on the CPU); a query batch is one matrix product and one ``torch.topk``. Ids are the store's integer keys;
adds append, removals swap the last row into the hole, so neither rebuilds. The interface is ``DenseIndex``'s
(``add``, ``remove``, ``vectors``, ``search``, ``len``), so ``Memory`` uses either.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["TorchDenseIndex"]


class TorchDenseIndex:
    """Exact inner-product top-k over unit vectors held on ``device``."""

    kind = "torch-exact"

    def __init__(self, dim: int, device: str = "cuda", dtype: Any = None, capacity: int = 1024):
        import torch

        self.dim = int(dim)
        self.device = torch.device(device)
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self._matrix = torch.zeros((max(1, capacity), self.dim), dtype=self.dtype, device=self.device)
        self._ids = np.zeros(max(1, capacity), dtype=np.int64)
        self._row: dict[int, int] = {}
        self._n = 0

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, device: str = "cuda") -> TorchDenseIndex:
        dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else 1
        index = cls(dim, device, capacity=max(1024, len(ids)))
        index.add(ids, vectors)
        return index

    def __len__(self) -> int:
        return self._n

    @property
    def bytes_per_scan(self) -> int:
        """Bytes of vectors one query batch reads (the exact scan's memory traffic)."""
        return int(self._n * self.dim * self._matrix.element_size())

    def _grow(self, need: int) -> None:
        import torch

        if need <= self._matrix.shape[0]:
            return
        size = max(need, 2 * self._matrix.shape[0])
        matrix = torch.zeros((size, self.dim), dtype=self.dtype, device=self.device)
        matrix[: self._n] = self._matrix[: self._n]
        self._matrix = matrix
        ids = np.zeros(size, dtype=np.int64)
        ids[: self._n] = self._ids[: self._n]
        self._ids = ids

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        import torch

        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {vectors.shape}")
        fresh = [i for i, key in enumerate(ids.tolist()) if key not in self._row]
        for i, key in enumerate(ids.tolist()):  # a known id is overwritten in place
            if key in self._row:
                self._matrix[self._row[key]] = torch.from_numpy(vectors[i]).to(self.device, self.dtype)
        if not fresh:
            return
        self._grow(self._n + len(fresh))
        block = torch.from_numpy(vectors[fresh]).to(self.device, self.dtype)
        self._matrix[self._n : self._n + len(fresh)] = block
        for offset, i in enumerate(fresh):
            key = int(ids[i])
            self._ids[self._n + offset] = key
            self._row[key] = self._n + offset
        self._n += len(fresh)

    def remove(self, ids: np.ndarray) -> None:
        for key in np.asarray(ids, dtype=np.int64).tolist():
            row = self._row.pop(int(key), None)
            if row is None:
                continue
            last = self._n - 1
            if row != last:
                self._matrix[row] = self._matrix[last]
                moved = int(self._ids[last])
                self._ids[row] = moved
                self._row[moved] = row
            self._n -= 1

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        rows = [self._row[int(k)] for k in np.asarray(ids, dtype=np.int64).tolist()]
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._matrix[rows].float().cpu().numpy()

    def search_torch(self, queries: Any, n: int) -> tuple[Any, Any]:
        """Top ``n`` on the device: ``(scores, rows)`` tensors, for callers that keep scoring there."""
        import torch

        q = torch.as_tensor(queries, device=self.device).to(self.dtype)
        scores = q @ self._matrix[: self._n].T
        return torch.topk(scores.float(), min(n, self._n), dim=1)

    def search(self, queries: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` per query: ``(scores, ids)`` numpy arrays, best first (as ``DenseIndex.search``)."""
        m = np.asarray(queries).shape[0]
        if min(n, self._n) <= 0:
            return np.zeros((m, 0), dtype=np.float32), np.zeros((m, 0), dtype=np.int64)
        scores, rows = self.search_torch(np.ascontiguousarray(queries, dtype=np.float32), n)
        rows_np = rows.cpu().numpy()
        return scores.cpu().numpy().astype(np.float32), self._ids[rows_np]
