"""Which RPCs need no access token: the contract's ``(trademesh.common.v1.access)`` method option.

The option is the one declaration (see ``proto/trademesh/common/v1/options.proto``); every service's
auth interceptor is built from it, so a service cannot drift from its contract.
"""

from __future__ import annotations

from google.protobuf import descriptor_pool

from trademesh.common.v1 import options_pb2

__all__ = ["public_methods"]


def public_methods(service_full_name: str) -> frozenset[str]:
    """Return the names of the service's methods marked ``ACCESS_PUBLIC`` in its proto.

    The service's generated ``*_service_pb2`` module must have been imported (its descriptor is then in the
    default pool); an unknown service raises :class:`LookupError` rather than making every method private.
    """
    try:
        service = descriptor_pool.Default().FindServiceByName(service_full_name)
    except KeyError:
        raise LookupError(
            f"no service descriptor {service_full_name!r}: import its generated *_service_pb2 module first"
        ) from None
    return frozenset(
        method.name
        for method in service.methods
        if method.GetOptions().Extensions[options_pb2.access] == options_pb2.ACCESS_PUBLIC
    )
