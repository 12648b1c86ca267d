"""MongoDB adapters of the auth ports: users, single-use tokens and the mail outbox."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from trademesh.services.auth.model import Mail, TokenPurpose, User, ensure_not_taken, normalize_email
from trademesh.services.auth.ports import MailTransport
from trademesh.services.core.smtp import MailNotSent

logger = logging.getLogger(__name__)

Document = dict[str, Any]


async def ensure_indexes(database: AsyncDatabase[Document]) -> None:
    """Create the auth collections' indexes (idempotent; run at start-up)."""
    await database.users.create_index([("email_key", ASCENDING)], unique=True, name="users_email_key_unique")
    await database.users.create_index([("username", ASCENDING)], unique=True, name="users_username_unique")
    await database.auth_tokens.create_index([("expires_at", ASCENDING)], name="auth_tokens_expires_at")
    await database.outbox_mail.create_index([("to", ASCENDING), ("created_at", ASCENDING)], name="outbox_to")


def _user_from_document(document: Document) -> User:
    return User(
        id=document["_id"],
        email=document["email"],
        username=document["username"],
        password_hash=document["password_hash"],
        email_verified=bool(document["email_verified"]),
        roles=tuple(document["roles"]),
        created_at=document["created_at"],
        updated_at=document["updated_at"],
    )


class MongoUserStore:
    """Users in the `users` collection, unique on `email_key` (lower-cased email) and `username`."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._users = database.users

    async def add(self, user: User) -> None:
        try:
            await self._users.insert_one(
                {
                    "_id": user.id,
                    "email": user.email,
                    "email_key": user.email_key,
                    "username": user.username,
                    "password_hash": user.password_hash,
                    "email_verified": user.email_verified,
                    "roles": list(user.roles),
                    "created_at": user.created_at,
                    "updated_at": user.updated_at,
                }
            )
        except DuplicateKeyError:
            # Ask which one collides instead of parsing server-specific error text.
            email_taken = await self._users.find_one({"email_key": user.email_key}, {"_id": 1}) is not None
            ensure_not_taken(email_taken, not email_taken)
            raise

    async def get(self, user_id: str) -> User | None:
        document = await self._users.find_one({"_id": user_id})
        return _user_from_document(document) if document else None

    async def find_by_login(self, login: str) -> User | None:
        key = normalize_email(login)
        field = "email_key" if "@" in key else "username"
        document = await self._users.find_one({field: key})
        return _user_from_document(document) if document else None

    async def set_email_verified(self, user_id: str, now: datetime) -> User | None:
        document = await self._users.find_one_and_update(
            {"_id": user_id},
            {"$set": {"email_verified": True, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return _user_from_document(document) if document else None

    async def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None:
        await self._users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash, "updated_at": now}})

    async def set_roles(self, user_id: str, roles: tuple[str, ...], now: datetime) -> User | None:
        document = await self._users.find_one_and_update(
            {"_id": user_id},
            {"$set": {"roles": list(roles), "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return _user_from_document(document) if document else None


class MongoOneTimeTokenStore:
    """Single-use tokens in `auth_tokens`, keyed by their hash; expired ones are swept."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._tokens = database.auth_tokens

    async def add(
        self, token_hash: str, purpose: TokenPurpose, user_id: str, expires_at: datetime, now: datetime
    ) -> None:
        await self._tokens.insert_one(
            {
                "_id": token_hash,
                "purpose": purpose.value,
                "user_id": user_id,
                "expires_at": expires_at,
                "used_at": None,
                "created_at": now,
            }
        )

    async def consume(self, token_hash: str, purpose: TokenPurpose, now: datetime) -> str | None:
        document = await self._tokens.find_one_and_update(
            {"_id": token_hash, "purpose": purpose.value, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
        )
        return str(document["user_id"]) if document else None

    async def delete_expired(self, now: datetime) -> int:
        """Delete tokens past their expiry; return how many."""
        result = await self._tokens.delete_many({"expires_at": {"$lte": now}})
        return result.deleted_count


class MongoOutbox:
    """Outgoing mail in `outbox_mail` without its code (a hash only), handed to the mail transport."""

    def __init__(self, database: AsyncDatabase[Document], transport: MailTransport) -> None:
        self._mail = database.outbox_mail
        self._transport = transport

    async def send(self, mail: Mail, now: datetime) -> None:
        # Whoever reads the database (or a backup) must not be able to verify or reset with what is stored.
        result = await self._mail.insert_one(
            {
                "to": mail.to,
                "subject": mail.subject,
                "body": mail.redacted_body,
                "code_hash": mail.code_hash,
                "kind": mail.kind,
                "token_expires_at": mail.token_expires_at,
                "created_at": now,
                "sent_at": None,
            }
        )
        try:
            await self._transport.deliver(mail)
        except MailNotSent as error:
            # The caller's answer does not change (it must not tell whether an address exists); the record says
            # the mail failed, and the user asks for a new code. The code itself is not kept anywhere to retry.
            logger.warning("a %s message could not be sent: %s", mail.kind, error)
            await self._mail.update_one({"_id": result.inserted_id}, {"$set": {"failed_at": now, "error": str(error)}})
            return
        await self._mail.update_one({"_id": result.inserted_id}, {"$set": {"sent_at": now}})
