"""``python -m gbrules``: the same as the ``gbrules`` command."""

from gbrules.io.cli import main

main()
