"""Run the market-data service: `python -m trademesh.services.marketdata`."""

from trademesh.services.marketdata.server import main

main()
