"""Request rules every service shares: idempotency request ids and page sizes. Pure: raises domain errors."""

from __future__ import annotations

import re

from trademesh.kernel.errors import FieldViolation, InvalidArgument

__all__ = ["UUID_PATTERN", "check_page_size", "check_request_id"]

UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def check_request_id(request_id: str) -> str:
    """Return the canonical (lower-case) request id or raise INVALID_ARGUMENT (REQUEST_ID_INVALID)."""
    value = request_id.strip().lower()
    if not UUID_PATTERN.fullmatch(value):
        raise InvalidArgument(
            "request_id must be a UUID (8-4-4-4-12 hex)",
            [FieldViolation("request_id", "must be a UUID in canonical 8-4-4-4-12 hex form")],
            reason="REQUEST_ID_INVALID",
        )
    return value


def check_page_size(page_size: int, default: int, maximum: int) -> int:
    """Return the effective page size (0 → `default`, capped at `maximum`); negative → INVALID_ARGUMENT."""
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative", [FieldViolation("page_size", "must be >= 0")])
    return min(page_size or default, maximum)
