"""The CLI's commands, one module per group; :mod:`trademesh.cli.app` composes them."""
