"""ReMe 0.4.x's components that hosts import by path: ``file_store.LocalFileStore`` (the notes' index),
``tokenizer.regex_tokenizer.RegexTokenizer``, ``file_chunker.default_file_chunker.DefaultFileChunker`` and
``keyword_index.bm25_index.BM25Index`` (used standalone, in memory, by QwenPaw's ``recall_context`` tool)."""
