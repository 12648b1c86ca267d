"""``python -m bench.sync_bench``: run the benchmark (see the package docstring, or ``--help``)."""

from bench.sync_bench.cli import main

main()
