"""The ``pdesolve`` command line (installed as the package ``pdesolve.cli``)."""
