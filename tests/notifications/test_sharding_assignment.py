"""The rendezvous assignment of instruments and guarded users to live replicas (decision 0340), pure."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from trademesh.services.notifications.service.sharding import assignment, owner_of, weight

INSTRUMENTS = [f"tick:NSE:S{number:04d}" for number in range(3000)]
MEMBERS = ["replica-a", "replica-b", "replica-c", "replica-d"]


def test_the_weight_is_a_stable_hash_not_pythons_per_process_one() -> None:
    # blake2b-64 of "replica-a\0tick:NSE:INFY": the same in every process and on every machine (pinned).
    assert weight("replica-a", "tick:NSE:INFY") == 4202742030432635090
    assert weight("replica-a", "tick:NSE:INFY") != weight("replica-b", "tick:NSE:INFY")


@given(
    members=st.sets(st.text(min_size=1, max_size=8), min_size=1, max_size=6),
    keys=st.lists(st.text(max_size=12), max_size=40),
)
def test_every_key_has_exactly_one_owner_among_the_live_members_whatever_their_order(
    members: set[str], keys: list[str]
) -> None:
    forward = assignment(keys, sorted(members))
    backward = assignment(keys, sorted(members, reverse=True))
    assert forward == backward
    assert set(forward) == set(keys)
    assert set(forward.values()) <= members
    for key in keys:
        owners = [member for member in members if owner_of(key, members) == member]
        assert owners == [forward[key]]


def test_no_members_own_nothing() -> None:
    assert owner_of("tick:NSE:INFY", []) is None
    assert assignment(["tick:NSE:INFY"], []) == {}


def test_the_instruments_spread_evenly_over_the_members() -> None:
    counts = Counter(assignment(INSTRUMENTS, MEMBERS).values())
    assert set(counts) == set(MEMBERS)
    for count in counts.values():
        assert abs(count - len(INSTRUMENTS) / len(MEMBERS)) < 0.1 * len(INSTRUMENTS) / len(MEMBERS)


def test_a_member_joining_takes_about_one_nth_and_only_moves_instruments_to_itself() -> None:
    before = assignment(INSTRUMENTS, MEMBERS[:3])
    after = assignment(INSTRUMENTS, MEMBERS)
    moved = [key for key in INSTRUMENTS if before[key] != after[key]]
    assert all(after[key] == "replica-d" for key in moved)
    assert abs(len(moved) - len(INSTRUMENTS) / 4) < 0.1 * len(INSTRUMENTS) / 4


def test_a_member_leaving_hands_over_only_its_own_instruments_spread_over_the_rest() -> None:
    before = assignment(INSTRUMENTS, MEMBERS)
    after = assignment(INSTRUMENTS, [member for member in MEMBERS if member != "replica-b"])
    moved = [key for key in INSTRUMENTS if before[key] != after[key]]
    assert set(moved) == {key for key, owner in before.items() if owner == "replica-b"}
    takers = Counter(after[key] for key in moved)
    assert set(takers) == {"replica-a", "replica-c", "replica-d"}
    for count in takers.values():
        assert abs(count - len(moved) / 3) < 0.2 * len(moved) / 3
