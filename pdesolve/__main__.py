"""``python -m pdesolve``: the same command line as the ``pdesolve`` script."""

from pdesolve.cli.app import main

main()
