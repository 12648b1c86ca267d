"""The auth service end to end (real gRPC, Redis and MongoDB-wire database): accounts and roles."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc
import pytest

from tests.rpc import bearer, expect_failure
from trademesh.auth.v1 import auth_pb2, auth_service_pb2

if TYPE_CHECKING:
    from trademesh.auth.v1.auth_service_pb2_grpc import AuthServiceAsyncStub as AuthServiceStub
from tests.auth.helpers import PASSWORD, _claims_of, _register
from trademesh.services.auth.settings import AuthSettings


async def test_register_then_get_me(auth: AuthServiceStub) -> None:
    registered = await _register(auth)

    assert registered.user.username.startswith("trader_")
    assert list(registered.user.roles) == [auth_pb2.ROLE_USER]
    assert registered.tokens.token_type == "Bearer"
    me = await auth.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(registered.tokens.access_token))
    assert me.user.id == registered.user.id
    assert me.user.email == registered.user.email
    assert not me.user.email_verified


async def test_duplicate_email_and_username_are_already_exists(auth: AuthServiceStub) -> None:
    registered = await _register(auth)

    same_email = await expect_failure(
        auth.Register(
            auth_service_pb2.RegisterRequest(
                email=registered.user.email.upper(), username="someone_else", password=PASSWORD
            )
        )
    )
    same_username = await expect_failure(
        auth.Register(
            auth_service_pb2.RegisterRequest(
                email="other@example.com", username=registered.user.username.upper(), password=PASSWORD
            )
        )
    )

    assert (same_email.code, same_email.reason) == (grpc.StatusCode.ALREADY_EXISTS, "EMAIL_TAKEN")
    assert (same_username.code, same_username.reason) == (grpc.StatusCode.ALREADY_EXISTS, "USERNAME_TAKEN")


@pytest.mark.parametrize(
    ("email", "username", "password", "bad_fields"),
    [
        ("not-an-email", "ok_name", PASSWORD, {"email"}),
        ("a@example.com", "no", PASSWORD, {"username"}),
        ("a@example.com", "Bad Name!", PASSWORD, {"username"}),
        ("a@example.com", "ok_name", "short", {"password"}),
        ("a@example.com", "ok_name", "password123", {"password"}),
        ("a@example.com", "ok_name", "aaaaaaaaaaaa", {"password"}),
        ("a@example.com", "ok_name", "xx-ok_name-xx", {"password"}),
        ("", "", "", {"email", "username", "password"}),
    ],
)
async def test_invalid_registration_lists_each_bad_field(
    auth: AuthServiceStub, email: str, username: str, password: str, bad_fields: set[str]
) -> None:
    failure = await expect_failure(
        auth.Register(auth_service_pb2.RegisterRequest(email=email, username=username, password=password))
    )

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(failure.violations) == bad_fields
    assert all(failure.violations.values())


async def test_login_by_email_or_username(auth: AuthServiceStub) -> None:
    registered = await _register(auth)

    by_email = await auth.Login(auth_service_pb2.LoginRequest(login=registered.user.email.upper(), password=PASSWORD))
    by_username = await auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password=PASSWORD))

    assert by_email.user.id == by_username.user.id == registered.user.id
    assert by_email.tokens.refresh_token != by_username.tokens.refresh_token


async def test_wrong_password_and_unknown_user_look_the_same(auth: AuthServiceStub) -> None:
    registered = await _register(auth)

    wrong = await expect_failure(
        auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password="Wrong-Password-1"))
    )
    unknown = await expect_failure(auth.Login(auth_service_pb2.LoginRequest(login="nobody_here", password=PASSWORD)))

    assert wrong.code == unknown.code == grpc.StatusCode.UNAUTHENTICATED
    assert (wrong.message, wrong.reason) == (unknown.message, unknown.reason)


async def test_operator_grants_roles_that_appear_in_the_next_token(
    auth: AuthServiceStub, make_auth_settings: Callable[..., AuthSettings]
) -> None:
    registered = await _register(auth)
    settings = make_auth_settings()
    env = {"TRADEMESH_MONGO_URL": settings.mongo_url, "TRADEMESH_MONGO_DATABASE": settings.mongo_database}
    command = [sys.executable, "-m", "trademesh.services.auth.admin", "set-roles"]

    granted = await asyncio.to_thread(
        subprocess.run,
        [*command, registered.user.username, "user,admin"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    refused = await asyncio.to_thread(
        subprocess.run,
        [*command, registered.user.username, "root"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    login = await auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password=PASSWORD))

    assert granted.returncode == 0, granted.stderr
    assert refused.returncode == 1
    assert "roles must be some of" in refused.stderr
    assert set(login.user.roles) == {auth_pb2.ROLE_USER, auth_pb2.ROLE_ADMIN}
    assert set(_claims_of(login.tokens.access_token)["roles"]) == {"user", "admin"}
