"""The fence's strict-revocation property over thousands of hostile schedules (see tests/support/fence_sim.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fence_sim import SESSIONS, Faults, Flaws, Op, Simulation

SESSION_IDS = sorted(SESSIONS)

ops = st.builds(
    Op,
    at=st.floats(0.03, 0.3),
    process=st.integers(0, 2),
    session=st.sampled_from(SESSION_IDS),
    all_of_user=st.booleans(),
    keep=st.booleans(),
)
faults = st.builds(
    Faults,
    slow=st.sampled_from([0.0, 0.02, 0.2]),
    drop=st.sampled_from([0.0, 0.0, 0.01, 0.05]),
    duplicate=st.sampled_from([0.0, 0.1]),
    detect_after=st.sampled_from([0.001, 0.05, 0.3]),
    stalls=st.lists(st.tuples(st.integers(0, 2), st.floats(0.0, 0.35), st.floats(0.0, 0.12)), max_size=3).map(tuple),
    restart_at=st.none() | st.floats(0.05, 0.35),
    flush_at=st.none() | st.floats(0.05, 0.35),
)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    processes=st.integers(2, 3),
    ops=st.lists(ops, min_size=1, max_size=6),
    faults=faults,
)
def test_no_process_accepts_a_session_after_its_revocation_answered(
    seed: int, processes: int, ops: list[Op], faults: Faults
) -> None:
    sim = Simulation(seed, processes, [op for op in ops if op.process < processes], faults).run()
    assert sim.violations() == []


def test_the_steady_state_serves_from_the_cache() -> None:
    """Not vacuous: on a quiet network most requests are answered from the cache."""
    sim = Simulation(7, 3, [Op(0.2, 0, SESSION_IDS[0])], Faults()).run()
    answered = [r for r in sim.requests if r.accepted is not None]
    assert len(answered) > 100
    assert sum(r.cached for r in answered) > 0.6 * len(answered)
    assert sim.violations() == []
    assert all(rev.answered is not None for rev in sim.revocations)


def test_a_lapse_is_mostly_waited_out_on_the_cache() -> None:
    """Not vacuous either: with late hops the lease lapses now and then, and the reads that find
    it lapsed with their session cached wait, and are then mostly answered from the cache."""
    waited = from_cache = 0
    for seed in range(20):
        sim = Simulation(seed, 3, [Op(0.2, 0, SESSION_IDS[0])], Faults(slow=0.02)).run()
        assert sim.violations() == []
        waits = [r for r in sim.requests if r.waited and r.accepted is not None]
        waited += len(waits)
        from_cache += sum(r.cached for r in waits)
    assert waited > 20
    assert from_cache > 0.5 * waited


def _caught(flaws: Flaws, faults: Faults, tries: int = 400) -> bool:
    rng = random.Random(12)
    for _ in range(tries):
        ops = [
            Op(rng.uniform(0.03, 0.3), rng.randrange(3), rng.choice(SESSION_IDS), rng.random() < 0.3)
            for _ in range(rng.randint(1, 5))
        ]
        if Simulation(rng.getrandbits(32), 3, ops, faults, flaws).run().violations():
            return True
    return False


@pytest.mark.parametrize(
    ("flaws", "faults"),
    [
        (Flaws(no_wait=True), Faults()),
        (Flaws(no_versions=True), Faults(slow=0.2)),
        (Flaws(no_marker=True), Faults(flush_at=0.1)),
        (Flaws(trust_after_wait=True), Faults(slow=0.2)),
        (Flaws(ping_apart=True), Faults(slow=0.2)),
    ],
    ids=[
        "revoker-does-not-wait",
        "racing-read-puts-back",
        "flush-unnoticed",
        "waited-read-not-tested",
        "ping-reply-not-in-the-stream",
    ],
)
def test_the_simulation_catches_a_broken_fence(flaws: Flaws, faults: Faults) -> None:
    assert _caught(flaws, faults)
