"""``python -m bench.marketdata_fanout``: run the benchmark (see the package docstring, or ``--help``)."""

from bench.marketdata_fanout.cli import main

main()
