"""Run the trade service: `python -m trademesh.services.trade`."""

from trademesh.services.trade.server import main

main()
