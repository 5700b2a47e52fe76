"""ReMe 0.4.x's file chunkers (``default_file_chunker.DefaultFileChunker``)."""
