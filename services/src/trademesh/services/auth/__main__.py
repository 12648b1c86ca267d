"""Run the auth service: `python -m trademesh.services.auth`."""

from trademesh.services.auth.server import main

main()
