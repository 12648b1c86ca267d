"""``python -m trademesh.gateway``: see :mod:`trademesh.gateway.cli`."""

from trademesh.gateway.cli import main

raise SystemExit(main())
