"""Run the analytics service: `python -m trademesh.services.analytics`."""

from trademesh.services.analytics.server import main

main()
