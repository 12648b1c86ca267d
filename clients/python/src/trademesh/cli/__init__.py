"""The `trademesh` command line (see :mod:`trademesh.cli.app`)."""
