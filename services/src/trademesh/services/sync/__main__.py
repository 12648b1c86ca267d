"""Run the sync service: `python -m trademesh.services.sync`."""

from trademesh.services.sync.server import main

main()
