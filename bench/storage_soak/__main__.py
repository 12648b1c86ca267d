"""``python -m bench.storage_soak``: run the benchmark (see the package docstring, or ``--help``)."""

from bench.storage_soak.cli import main

main()
