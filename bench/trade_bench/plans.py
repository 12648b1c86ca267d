"""Query plans: MongoDB-wire explain output summarised, and the PostgreSQL backend's tables, indexes and plans."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

from pymongo.asynchronous.database import AsyncDatabase

from bench.trade_bench.common import DATABASE, PAGE, Document
from trademesh.devstack.processes import (
    PostgreSQLServer,
    repo_root,
)


def _ensure_postgres() -> None:
    """Install PostgreSQL with the project's script when its binaries are missing."""
    try:
        PostgreSQLServer.bindir()
    except FileNotFoundError:
        subprocess.run(["bash", str(repo_root() / "scripts" / "install-postgres.sh")], check=True)


def _plan_nodes(plan: Document) -> Iterator[Document]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _plan_nodes(child)


def _describe_plan(plan: Document) -> str:
    parts = []
    for node in _plan_nodes(plan):
        text = str(node.get("Node Type", "?"))
        if node.get("Index Name"):
            text += f" using {node['Index Name']}"
        if node.get("Filter"):
            text += f" filter {node['Filter']}"
        parts.append(text)
    return " <- ".join(parts)


async def _explain(database: AsyncDatabase[Document], query: Document, order: list[tuple[str, int]]) -> str:
    """FerretDB's explain of a ListTrades find: what is pushed down, and the backend's plan."""
    command = {"find": "trades", "filter": query, "sort": dict(order), "limit": PAGE + 1, "projection": {"outbox": 0}}
    result = await database.command({"explain": command, "verbosity": "queryPlanner"})
    pushed = ", ".join(
        f"{name}={result.get(f'{name}Pushdown')}" for name in ("filter", "sort", "limit") if f"{name}Pushdown" in result
    )
    planner = result.get("queryPlanner") or {}
    plan = planner.get("Plan") if isinstance(planner, dict) else None
    return f"pushdown: {pushed or 'n/a'}" + (f"; plan: {_describe_plan(plan)}" if isinstance(plan, dict) else "")


def _pg_table(pg: PostgreSQLServer, collection: str) -> str:
    """The PostgreSQL table FerretDB keeps a collection in."""
    # The interpolated values are this script's constants, FerretDB's table names and an auth-issued id.
    metadata = f"{DATABASE}._ferretdb_database_metadata"
    return pg.psql(f"SELECT _jsonb->>'table' FROM {metadata} WHERE _jsonb->>'_id' = '{collection}'").strip()  # noqa: S608


def _pg_gin_indexes(pg: PostgreSQLServer) -> list[str]:
    """GIN expression indexes that can serve FerretDB's pushed-down `->'field' @> value` equalities.

    FerretDB's own indexes are btree on `(_jsonb->'field')`, which PostgreSQL cannot use for `@>`,
    so without these every pushed-down equality, `_id` lookups included, is a sequential scan.
    """
    made = []
    for collection, fields in {"trades": ["_id", "user_id"], "trade_quotas": ["_id"]}.items():
        table = _pg_table(pg, collection)
        if not table:
            continue
        for field in fields:
            name = f"bench_gin_{table}_{field.strip('_')}"
            pg.psql(f"CREATE INDEX IF NOT EXISTS {name} ON {DATABASE}.\"{table}\" USING gin ((_jsonb->'{field}'))")
            made.append(f"{collection}.{field}")
    pg.psql("ANALYZE")
    return made


def _pg_analyze(pg: PostgreSQLServer, user_id: str) -> str:
    """PostgreSQL's own time for the SQL FerretDB sends for the first page (user_id and status pushed down)."""
    table = _pg_table(pg, "trades")
    sql = (
        f'SELECT _jsonb FROM {DATABASE}."{table}" '  # noqa: S608
        f"WHERE _jsonb->'user_id' @> '{json.dumps(user_id)}' AND _jsonb->'status' @> '\"ACTIVE\"'"
    )
    analyzed = json.loads(pg.psql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}"))[0]
    plan = analyzed["Plan"]
    size = pg.psql(f"SELECT pg_size_pretty(pg_total_relation_size('{DATABASE}.\"{table}\"'))").strip()
    return (
        f"{analyzed['Execution Time']:.0f} ms, {plan['Actual Rows']:,} rows returned; "
        f"plan: {_describe_plan(plan)}; table {table} with its indexes: {size}"
    )
