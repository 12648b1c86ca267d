"""``python -m bench.runtime_overhead``: run the benchmark (see the package docstring, or ``--help``)."""

import sys

from bench.runtime_overhead.cli import main

sys.exit(main())
