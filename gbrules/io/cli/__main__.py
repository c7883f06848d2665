"""``python -m gbrules.io.cli``: the same as the ``gbrules`` command."""

from gbrules.io.cli import main

main()
