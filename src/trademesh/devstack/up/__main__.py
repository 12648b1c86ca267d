"""``python -m trademesh.devstack.up``: run the local mesh (what ``make up`` runs)."""

from trademesh.devstack.up.cli import main

main()
