"""ReMe 0.4.x's jobs over this project's parts: the configuration (``config``), the step functions (``steps``,
``files``, ``index``, ``evolve``), the LLM tool loop (``agent``), the notes (``notes``), the ``key=value`` argument
parsing (``cli_args``). The application that runs them is ``reme.application``."""
