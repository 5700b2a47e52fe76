"""ReMe 0.4.x's keyword indexes (``bm25_index.BM25Index``)."""
