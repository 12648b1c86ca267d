"""The SDK's method tables come from the contracts, the same ones the services and the gateway read."""

from __future__ import annotations

from trademesh.analytics.v1 import analytics_service_pb2
from trademesh.auth.v1 import auth_service_pb2
from trademesh.marketdata.v1 import marketdata_service_pb2
from trademesh.sdk.options import PUBLIC_METHODS
from trademesh.services.core.access import public_methods
from trademesh.sync.v1 import sync_service_pb2
from trademesh.trade.v1 import trade_service_pb2

SERVICE_MODULES = (auth_service_pb2, trade_service_pb2, sync_service_pb2, marketdata_service_pb2, analytics_service_pb2)
AUTH_PUBLIC = ("Register", "Login", "Refresh", "VerifyEmail", "RequestPasswordReset", "ResetPassword", "GetJwks")


def test_the_sdk_sends_no_token_exactly_on_the_methods_the_contracts_mark_public() -> None:
    full_names = [
        service.full_name for module in SERVICE_MODULES for service in module.DESCRIPTOR.services_by_name.values()
    ]
    assert len(full_names) == 5
    # The same set the services' auth interceptors are built from.
    assert {f"/{service}/{method}" for service in full_names for method in public_methods(service)} == PUBLIC_METHODS
    assert {f"/trademesh.auth.v1.AuthService/{method}" for method in AUTH_PUBLIC} == PUBLIC_METHODS
