"""ReMe 0.4.x's tokenizers (``regex_tokenizer.RegexTokenizer``)."""
