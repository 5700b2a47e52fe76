"""``python -m reme.cli``: the ``reme`` script."""

from reme.cli import main

main()
