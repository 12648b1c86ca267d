"""The methods let through without a token are exactly the ones the contracts mark public.

Every RPC of every service is called with no ``authorization`` header (an empty request: a public call then
fails validation or answers, it is not refused for want of a token), straight to the service and through
the gateway. What is let through must be the ``(trademesh.common.v1.access) = ACCESS_PUBLIC`` set: a method
left out of the option cannot become public by a list elsewhere, nor a marked one private.
"""

from __future__ import annotations

import grpc
import pytest

from tests.security.calls import Outcome, call, request_class, services
from tests.security.conftest import ROUTES, World
from trademesh.services.core.access import public_methods

#: What the auth contract marks public (the set the services' PUBLIC_METHODS constants used to list).
AUTH_PUBLIC_METHODS = frozenset(
    {"Register", "Login", "Refresh", "VerifyEmail", "RequestPasswordReset", "ResetPassword", "GetJwks"}
)


def _refused_for_want_of_a_token(route: str, outcome: Outcome) -> bool:
    if outcome.code != grpc.StatusCode.UNAUTHENTICATED:
        return False
    if outcome.reason == "TOKEN_MISSING":  # the service's auth interceptor
        return True
    # Envoy's jwt_authn answers for itself, with no google.rpc details.
    return route == "gateway" and not outcome.reason and "Jwt is missing" in outcome.message


def test_the_contracts_mark_the_auth_entry_points_public_and_nothing_else() -> None:
    marked = {service.full_name: public_methods(service.full_name) for service in services()}
    assert marked.pop("trademesh.auth.v1.AuthService") == AUTH_PUBLIC_METHODS
    assert set(marked.values()) == {frozenset()}


@pytest.mark.parametrize("route", ROUTES)
async def test_exactly_the_methods_marked_public_are_let_through_without_a_token(world: World, route: str) -> None:
    let_through: set[str] = set()
    outcomes: dict[str, Outcome] = {}
    for service in services():
        channel = world.channel(route, service.full_name)
        for method in service.methods:
            full_name = f"{service.full_name}/{method.name}"
            outcome = await call(channel, full_name, request_class(full_name)(), token=None)
            outcomes[full_name] = outcome
            if not _refused_for_want_of_a_token(route, outcome):
                let_through.add(full_name)
    marked = {f"{service.full_name}/{method}" for service in services() for method in public_methods(service.full_name)}
    assert let_through == marked, {name: (outcomes[name].code, outcomes[name].reason) for name in let_through ^ marked}
