"""The AuthService servicer: decode with mapping, call the use case, encode; nothing else."""

from __future__ import annotations

from typing import Any

from grpc import aio

from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.services.auth.client_address import CLIENT_ADDRESS_HEADER, TrustedProxies
from trademesh.services.auth.mapping import jwks_to_proto, tokens_to_proto, user_to_proto
from trademesh.services.auth.service import AuthService
from trademesh.services.core.identity import current_principal
from trademesh.services.core.interceptors import metadata_value
from trademesh.services.core.timestamps import timestamp

Context = aio.ServicerContext[Any, Any]


class AuthServicer(auth_service_pb2_grpc.AuthServiceServicer):
    """Serve trademesh.auth.v1.AuthService over gRPC."""

    def __init__(self, service: AuthService, *, trusted_proxies: TrustedProxies) -> None:
        self._service = service
        self._trusted_proxies = trusted_proxies

    def _client_address(self, context: Context) -> str:
        return self._trusted_proxies.client_address(
            context.peer() or "unknown", metadata_value(context, CLIENT_ADDRESS_HEADER)
        )

    async def Register(
        self, request: auth_service_pb2.RegisterRequest, context: Context
    ) -> auth_service_pb2.RegisterResponse:
        user, tokens = await self._service.register(request.email, request.username, request.password)
        return auth_service_pb2.RegisterResponse(user=user_to_proto(user), tokens=tokens_to_proto(tokens))

    async def Login(self, request: auth_service_pb2.LoginRequest, context: Context) -> auth_service_pb2.LoginResponse:
        user, tokens = await self._service.login(request.login, request.password, self._client_address(context))
        return auth_service_pb2.LoginResponse(user=user_to_proto(user), tokens=tokens_to_proto(tokens))

    async def Refresh(
        self, request: auth_service_pb2.RefreshRequest, context: Context
    ) -> auth_service_pb2.RefreshResponse:
        tokens = await self._service.refresh(request.refresh_token)
        return auth_service_pb2.RefreshResponse(tokens=tokens_to_proto(tokens))

    async def Logout(
        self, request: auth_service_pb2.LogoutRequest, context: Context
    ) -> auth_service_pb2.LogoutResponse:
        await self._service.logout(current_principal(), request.refresh_token)
        return auth_service_pb2.LogoutResponse()

    async def GetMe(self, request: auth_service_pb2.GetMeRequest, context: Context) -> auth_service_pb2.GetMeResponse:
        user = await self._service.get_user(current_principal().subject)
        return auth_service_pb2.GetMeResponse(user=user_to_proto(user))

    async def RequestEmailVerification(
        self, request: auth_service_pb2.RequestEmailVerificationRequest, context: Context
    ) -> auth_service_pb2.RequestEmailVerificationResponse:
        expires_at = await self._service.request_email_verification(current_principal().subject)
        return auth_service_pb2.RequestEmailVerificationResponse(expire_time=timestamp(expires_at))

    async def VerifyEmail(
        self, request: auth_service_pb2.VerifyEmailRequest, context: Context
    ) -> auth_service_pb2.VerifyEmailResponse:
        user = await self._service.verify_email(request.token)
        return auth_service_pb2.VerifyEmailResponse(user=user_to_proto(user))

    async def RequestPasswordReset(
        self, request: auth_service_pb2.RequestPasswordResetRequest, context: Context
    ) -> auth_service_pb2.RequestPasswordResetResponse:
        await self._service.request_password_reset(request.email)
        return auth_service_pb2.RequestPasswordResetResponse()

    async def ResetPassword(
        self, request: auth_service_pb2.ResetPasswordRequest, context: Context
    ) -> auth_service_pb2.ResetPasswordResponse:
        await self._service.reset_password(request.token, request.new_password)
        return auth_service_pb2.ResetPasswordResponse()

    async def GetJwks(
        self, request: auth_service_pb2.GetJwksRequest, context: Context
    ) -> auth_service_pb2.GetJwksResponse:
        return auth_service_pb2.GetJwksResponse(keys=jwks_to_proto(self._service.jwks()))
