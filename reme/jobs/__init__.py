"""ReMe 0.4.x's jobs over this project's parts: the configuration (``config``), the step functions (``steps``,
``files``, ``index``, ``evolve``), the LLM tool loop (``agent``), the notes (``notes``). The application that runs
them is ``reme.application``; their command line is ``reme.job_cli``."""
