"""Effective-dated charge schedules, loaded once from the package's TOML data files.

A schedule maps (component, exchange, segment, side) to a list of rate entries sorted by the IST trade
date they take effect; the entry in force on a trade date is the latest one that took effect on or
before it. Rates are exact: parts per 10^9 of turnover ("nanos"); money is integer micros.
"""

from __future__ import annotations

import bisect
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cache, cached_property
from importlib import resources
from typing import Any, TypeVar

MICROS_PER_RUPEE = 1_000_000
#: Rates are integer parts per NANO of turnover.
NANO = 1_000_000_000
_CRORE = 10_000_000
UNITS = {"micro": 1, "paisa": 10_000, "rupee": MICROS_PER_RUPEE}


class ScheduleError(ValueError):
    """A schedule file is malformed or incomplete, or no schedule is in force for a trade."""


class Exchange(StrEnum):
    """Where an order executed (Kite's NFO/BFO are NSE/BSE derivatives)."""

    NSE = "NSE"
    BSE = "BSE"
    MCX = "MCX"


class Segment(StrEnum):
    """What kind of trade: equity cash (delivery or intraday), futures or options."""

    DELIVERY = "delivery"
    INTRADAY = "intraday"
    FUTURES = "futures"
    OPTIONS = "options"


class Side(StrEnum):
    """Buy or sell."""

    BUY = "buy"
    SELL = "sell"


class Broker(StrEnum):
    """Whose brokerage plan and DP tariff applies."""

    ZERODHA = "ZERODHA"
    UPSTOX = "UPSTOX"


class BrokerageModel(StrEnum):
    """How a plan charges one executed order."""

    ZERO = "zero"
    FLAT = "flat"
    PERCENT_CAPPED = "percent_capped"


#: The segments each exchange trades (MCX: commodity futures and options).
SEGMENTS_OF: Mapping[Exchange, tuple[Segment, ...]] = {
    Exchange.NSE: tuple(Segment),
    Exchange.BSE: tuple(Segment),
    Exchange.MCX: (Segment.FUTURES, Segment.OPTIONS),
}
#: Components charged as a rate of the order's turnover, in the order they appear in a breakdown.
RATE_COMPONENTS = ("transaction_tax", "exchange_transaction", "ipft", "sebi", "stamp_duty")
#: Components levied on one side only where the file says so; an unlisted side pays nothing.
_SIDED = frozenset({"transaction_tax", "stamp_duty"})
#: Every rounded component a policy names.
POLICY_COMPONENTS = ("brokerage", *RATE_COMPONENTS, "gst")


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a figure comes from, and whether it was checked against that source."""

    source: str
    verify: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class RateEntry:
    """A rate (parts per 10^9 of turnover) in force from `effective_from`."""

    effective_from: date
    rate_nanos: int
    citation: Citation


@dataclass(frozen=True, slots=True)
class BrokerageEntry:
    """A brokerage plan for one segment in force from `effective_from`."""

    effective_from: date
    model: BrokerageModel
    citation: Citation
    percent_nanos: int = 0
    #: The most one executed order pays under PERCENT_CAPPED (micros).
    cap_micros: int = 0
    flat_micros: int = 0


@dataclass(frozen=True, slots=True)
class DepositoryEntry:
    """DP charge per scrip per day of delivery sells (micros, before GST) in force from `effective_from`."""

    effective_from: date
    fee_micros: int
    citation: Citation


@dataclass(frozen=True, slots=True)
class Policy:
    """How results are rounded (per executed order) and whether DP charges are included."""

    name: str
    depository: bool
    #: Rounding unit in micros per component name (see POLICY_COMPONENTS).
    units: Mapping[str, int]
    citation: Citation


RateKey = tuple[str, Exchange, Segment, Side]
EntryT = TypeVar("EntryT", RateEntry, BrokerageEntry, DepositoryEntry)
PlanKey = tuple[Broker, str, Segment]


def _in_force(entries: tuple[EntryT, ...], day: date, what: str) -> EntryT:
    index = bisect.bisect_right([entry.effective_from for entry in entries], day) - 1
    if index < 0:
        raise ScheduleError(f"no {what} in force on {day.isoformat()}")
    return entries[index]


@dataclass(frozen=True, eq=False)
class Schedule:
    """Every rate, plan and policy, with the dates they take effect."""

    version: str
    starts: date
    rates: Mapping[RateKey, tuple[RateEntry, ...]]
    gst: tuple[RateEntry, ...]
    plans: Mapping[PlanKey, tuple[BrokerageEntry, ...]]
    depository: Mapping[Broker, tuple[DepositoryEntry, ...]]
    policies: Mapping[str, Policy]
    #: STT on exercised options (purchaser, on intrinsic value) per exchange; NSE and BSE only.
    exercise: Mapping[Exchange, tuple[RateEntry, ...]] = field(default_factory=dict)

    def rate(self, component: str, exchange: Exchange, segment: Segment, side: Side, day: date) -> RateEntry:
        """Return the `component` rate in force on `day`."""
        self.check_day(day)
        entries = self.rates.get((component, exchange, segment, side))
        if entries is None:
            raise ScheduleError(f"{exchange} has no {segment} segment")
        return _in_force(entries, day, f"{component} for {exchange} {segment} {side}")

    def gst_rate(self, day: date) -> RateEntry:
        """Return the GST rate in force on `day`."""
        self.check_day(day)
        return _in_force(self.gst, day, "GST rate")

    def brokerage(self, broker: Broker, plan: str, segment: Segment, day: date) -> BrokerageEntry:
        """Return the brokerage plan in force on `day`."""
        self.check_day(day)
        entries = self.plans.get((broker, plan, segment))
        if entries is None:
            raise ScheduleError(f"no brokerage plan {broker}/{plan} for {segment}")
        return _in_force(entries, day, f"brokerage plan {broker}/{plan} for {segment}")

    def depository_fee(self, broker: Broker, day: date) -> DepositoryEntry:
        """Return the DP charge in force on `day`."""
        self.check_day(day)
        entries = self.depository.get(broker)
        if entries is None:
            raise ScheduleError(f"no DP tariff for {broker}")
        return _in_force(entries, day, f"DP tariff of {broker}")

    def exercise_rate(self, exchange: Exchange, day: date) -> RateEntry | None:
        """Return the STT rate on exercised options of `exchange` in force on `day` (None: not levied there)."""
        self.check_day(day)
        entries = self.exercise.get(exchange)
        return _in_force(entries, day, f"exercise tax for {exchange}") if entries else None

    def policy(self, name: str) -> Policy:
        """Return a rounding policy by name ("contract_note", "kite_api")."""
        try:
            return self.policies[name]
        except KeyError:
            raise ScheduleError(f"no rounding policy {name!r}") from None

    @cached_property
    def change_dates(self) -> tuple[date, ...]:
        """Return every date on which some rate, plan or tariff changes (the schedule start first)."""
        dates = {self.starts}
        groups: list[tuple[RateEntry | BrokerageEntry | DepositoryEntry, ...]] = [
            *self.rates.values(),
            self.gst,
            *self.plans.values(),
            *self.depository.values(),
            *self.exercise.values(),
        ]
        for entries in groups:
            dates.update(entry.effective_from for entry in entries if entry.effective_from > self.starts)
        return tuple(sorted(dates))

    def version_on(self, day: date) -> str:
        """Return the version tag of the set of rates in force on `day`: "<version>/<date it began>"."""
        self.check_day(day)
        began = self.change_dates[bisect.bisect_right(self.change_dates, day) - 1]
        return f"{self.version}/{began.isoformat()}"

    def check_day(self, day: date) -> None:
        """Raise ScheduleError for a trade date before the schedule starts."""
        if day < self.starts:
            raise ScheduleError(f"no schedule in force on {day.isoformat()} (the schedule starts {self.starts})")

    def unverified(self) -> list[str]:
        """Return a line per figure marked `verify = true` (for reports and reviews)."""
        lines = []
        for (component, exchange, segment, side), entries in sorted(self.rates.items()):
            lines += [
                f"{component} {exchange} {segment} {side} from {entry.effective_from}: {entry.citation.note}"
                for entry in entries
                if entry.citation.verify
            ]
        for exchange, exercise in sorted(self.exercise.items()):
            lines += [
                f"exercise tax {exchange} from {entry.effective_from}: {entry.citation.note}"
                for entry in exercise
                if entry.citation.verify
            ]
        for (broker, plan, segment), plans in sorted(self.plans.items()):
            lines += [
                f"brokerage {broker}/{plan} {segment} from {entry.effective_from}: {entry.citation.note}"
                for entry in plans
                if entry.citation.verify
            ]
        return lines


def parse_rate(text: str) -> int:
    """Return "0.1%" or "10/crore" as exact parts per 10^9 of turnover."""
    text = text.strip()
    if text.endswith("%"):
        value = Decimal(text[:-1]) * NANO / 100
    elif text.endswith("/crore"):
        value = Decimal(text[: -len("/crore")]) * NANO / _CRORE
    else:
        raise ScheduleError(f"rate {text!r} is neither a percentage nor a per-crore amount")
    if value != value.to_integral_value() or not 0 <= value <= NANO:
        raise ScheduleError(f"rate {text!r} is not a whole number of parts per 10^9 between 0 and 100%")
    return int(value)


def parse_rupees(text: str) -> int:
    """Return a rupee amount ("20", "13.5") as exact micros."""
    value = Decimal(text) * MICROS_PER_RUPEE
    if value != value.to_integral_value() or value < 0:
        raise ScheduleError(f"amount {text!r} is not a non-negative whole number of micros")
    return int(value)


def _citation(raw: Mapping[str, Any]) -> Citation:
    source = raw.get("source")
    if not isinstance(source, str) or not source:
        raise ScheduleError(f"entry {dict(raw)} cites no source")
    if not isinstance(raw.get("verify"), bool):
        raise ScheduleError(f"entry {dict(raw)} does not say whether it is verified (verify = true/false)")
    note = str(raw.get("note", ""))
    if raw["verify"] and not note:
        raise ScheduleError(f"entry {dict(raw)} is marked verify = true without a note saying what is uncertain")
    return Citation(source, raw["verify"], note)


def _date(raw: Mapping[str, Any]) -> date:
    value = raw.get("effective_from")
    if not isinstance(value, date):
        raise ScheduleError(f"entry {dict(raw)} has no effective_from date")
    return value


def _sorted_unique(entries: list[EntryT], what: str, starts: date) -> tuple[EntryT, ...]:
    entries.sort(key=lambda entry: entry.effective_from)
    dates = [entry.effective_from for entry in entries]
    if len(set(dates)) != len(dates):
        raise ScheduleError(f"{what} has two entries taking effect on the same date")
    if dates[0] > starts:
        raise ScheduleError(f"{what} is not covered from the schedule start {starts}")
    return tuple(entries)


def _rates(document: Mapping[str, Any], starts: date) -> dict[RateKey, tuple[RateEntry, ...]]:
    collected: dict[RateKey, list[RateEntry]] = {}
    for component in RATE_COMPONENTS:
        for raw in document.get(component, []):
            entry = RateEntry(_date(raw), parse_rate(raw["rate"]), _citation(raw))
            sides = raw.get("sides", ["buy", "sell"])
            for exchange in raw["exchanges"]:
                for segment in raw["segments"]:
                    if Segment(segment) not in SEGMENTS_OF[Exchange(exchange)]:
                        raise ScheduleError(f"{component}: {exchange} has no {segment} segment")
                    for side in sides:
                        key = (component, Exchange(exchange), Segment(segment), Side(side))
                        collected.setdefault(key, []).append(entry)
    not_levied = Citation("not levied on this side", verify=False)
    rates: dict[RateKey, tuple[RateEntry, ...]] = {}
    for component in RATE_COMPONENTS:
        for exchange, segments in SEGMENTS_OF.items():
            for segment in segments:
                for side in Side:
                    key = (component, exchange, segment, side)
                    entries = collected.get(key)
                    if entries is None:
                        if component not in _SIDED:
                            raise ScheduleError(f"{component} has no rate for {exchange} {segment} {side}")
                        entries = [RateEntry(starts, 0, not_levied)]
                    rates[key] = _sorted_unique(entries, f"{component} {exchange} {segment} {side}", starts)
    return rates


def _plans(document: Mapping[str, Any], starts: date) -> dict[PlanKey, tuple[BrokerageEntry, ...]]:
    collected: dict[PlanKey, list[BrokerageEntry]] = {}
    for raw in document.get("plan", []):
        model = BrokerageModel(raw["model"])
        entry = BrokerageEntry(
            effective_from=_date(raw),
            model=model,
            citation=_citation(raw),
            percent_nanos=parse_rate(raw["percent"]) if model is BrokerageModel.PERCENT_CAPPED else 0,
            cap_micros=parse_rupees(raw["cap"]) if model is BrokerageModel.PERCENT_CAPPED else 0,
            flat_micros=parse_rupees(raw["flat"]) if model is BrokerageModel.FLAT else 0,
        )
        for segment in raw["segments"]:
            collected.setdefault((Broker(raw["broker"]), str(raw["plan"]), Segment(segment)), []).append(entry)
    plans = {key: _sorted_unique(entries, f"brokerage plan {key}", starts) for key, entries in collected.items()}
    for broker, plan in {(broker, plan) for broker, plan, _ in plans}:
        missing = [segment for segment in Segment if (broker, plan, segment) not in plans]
        if missing:
            raise ScheduleError(f"brokerage plan {broker}/{plan} has no entry for {missing}")
    return plans


def _policies(document: Mapping[str, Any]) -> dict[str, Policy]:
    policies = {}
    for name, raw in document.get("policy", {}).items():
        missing = [component for component in POLICY_COMPONENTS if component not in raw]
        if missing:
            raise ScheduleError(f"policy {name} does not say how to round {missing}")
        units = {component: UNITS[raw[component]] for component in POLICY_COMPONENTS}
        policies[name] = Policy(name, bool(raw["depository"]), units, _citation(raw))
    return policies


def _exercise(statutory: Mapping[str, Any], starts: date) -> dict[Exchange, tuple[RateEntry, ...]]:
    collected: dict[Exchange, list[RateEntry]] = {}
    for raw in statutory.get("exercise_tax", []):
        entry = RateEntry(_date(raw), parse_rate(raw["rate"]), _citation(raw))
        for exchange in raw["exchanges"]:
            if Exchange(exchange) is Exchange.MCX:
                raise ScheduleError("exercise_tax: MCX options devolve into futures; no exercise tax is modelled there")
            collected.setdefault(Exchange(exchange), []).append(entry)
    return {
        exchange: _sorted_unique(entries, f"exercise tax {exchange}", starts) for exchange, entries in collected.items()
    }


def build_schedule(statutory: Mapping[str, Any], brokerage: Mapping[str, Any]) -> Schedule:
    """Build and check a schedule from the parsed statutory and brokerage documents."""
    header = statutory["schedule"]
    starts = header["starts"]
    if not isinstance(starts, date):
        raise ScheduleError("[schedule] starts must be a date")
    gst = [RateEntry(_date(raw), parse_rate(raw["rate"]), _citation(raw)) for raw in statutory.get("gst", [])]
    if not gst:
        raise ScheduleError("no GST rate")
    depository: dict[Broker, list[DepositoryEntry]] = {}
    for raw in brokerage.get("depository", []):
        entry = DepositoryEntry(_date(raw), parse_rupees(raw["fee"]), _citation(raw))
        depository.setdefault(Broker(raw["broker"]), []).append(entry)
    return Schedule(
        version=str(header["version"]),
        starts=starts,
        rates=_rates(statutory, starts),
        gst=_sorted_unique(gst, "GST", starts),
        plans=_plans(brokerage, starts),
        depository={broker: _sorted_unique(entries, f"DP {broker}", starts) for broker, entries in depository.items()},
        policies=_policies(statutory),
        exercise=_exercise(statutory, starts),
    )


@cache
def load_schedule() -> Schedule:
    """Return the packaged schedule (read once per process)."""
    data = resources.files("trademesh.kernel.charges") / "data"
    statutory = tomllib.loads((data / "statutory.toml").read_text(encoding="utf-8"))
    brokerage = tomllib.loads((data / "brokerage.toml").read_text(encoding="utf-8"))
    return build_schedule(statutory, brokerage)
