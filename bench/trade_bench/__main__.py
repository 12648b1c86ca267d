"""``python -m bench.trade_bench``: run the benchmark (see the package docstring, or ``--help``)."""

from bench.trade_bench.cli import main

main()
