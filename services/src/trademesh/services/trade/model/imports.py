"""What imports and reconciles report: parsed rows, row errors, results, reconcile items."""

from __future__ import annotations

from dataclasses import dataclass, field

from trademesh.services.trade.model.trades import TradeFields


@dataclass(frozen=True, slots=True)
class ImportRowError:
    """One problem with one row of an imported file."""

    row_number: int
    column: str
    value: str
    reason: str
    message: str


@dataclass(slots=True)
class ImportResult:
    """What an import did (see ImportTradesResponse)."""

    import_id: str
    dry_run: bool
    rows_total: int = 0
    rows_created: int = 0
    rows_duplicate: int = 0
    rows_failed: int = 0
    row_errors: list[ImportRowError] = field(default_factory=list)
    row_errors_truncated: bool = False


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """One data row of an import: its number, fields (None when invalid) and problems."""

    row_number: int
    fields: TradeFields | None
    errors: list[ImportRowError]
    broker_key: str | None = None
    #: Field path (as in a FieldViolation) -> the file's column holding it, for row errors.
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReconcileItem:
    """The outcome of one reconcile item."""

    index: int
    broker_trade_id: str
    outcome: str
    trade_id: str = ""
    trade_version: int = 0
    error_reason: str = ""
    error_message: str = ""
