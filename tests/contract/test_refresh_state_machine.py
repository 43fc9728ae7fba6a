"""The refresh-token state machine, explored by Hypothesis against a plain-Python model.

One user opens a few sessions; Hypothesis interleaves logins, refreshes with the current,
previous, older and garbage tokens, the three logout scopes and jumps of a fake clock, and
after every step checks the session store against the model. It drives the real use cases
(`SessionOpener`, `RotateRefresh` with a real `HmacHasher` and `JwtCodec`, `RevokeSession`,
`RevokeAllSessions`, `RevokeOtherSessions`), so the deterministic successor of a retry is
covered too, on the memory store and on the Redis store.

Time is a fake clock that starts at a whole second (so every timestamp is exact in Redis's
floats) and only moves forward. The use cases pass it to the store as `now`; the memory
store reads the same clock. Redis, though, expires keys by its own clock, which a test run
never lets reach any session's end: there a session whose end only the fake clock passed
may linger until something touches it, so for such a session `get`, `revoke`
and `revoke_all` may answer either way (the model knows this as the store's `lazy_expiry`).
`list_for_user` and refresh take `now`, and must agree with the model exactly on both.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from musicez.adapters.fence.none import NoSpentBudgetNotifier
from musicez.adapters.memory.session_store import MemorySessionStore
from musicez.adapters.redis.client import AnyRedis, connect
from musicez.adapters.redis.session_store import RedisSessionStore
from musicez.adapters.security.jwt_codec import JwtCodec, TokenSettings
from musicez.adapters.security.keyed_hash import HmacHasher
from musicez.adapters.security.keys import shared_secret_ring
from musicez.application.policies import RefreshPolicy, SessionPolicy
from musicez.application.ports import SessionStore
from musicez.application.session_opening import SessionOpener, TokenGrant, signed
from musicez.application.sessions import RevokeAllSessions, RevokeOtherSessions, RevokeSession, RotateRefresh
from musicez.application.throttle import FailureBudget, Throttle
from musicez.domain.email import Email
from musicez.domain.errors import InvalidRefreshToken, RefreshTokenReused, SessionNotFound
from musicez.domain.ids import SessionId, UserId
from musicez.domain.principal import UserPrincipal
from musicez.domain.rate_limit import RateLimit
from musicez.domain.refresh_token import SECRET_BYTES, RefreshToken
from musicez.domain.session import EndReason, RotationOutcome
from musicez.domain.user import User
from tests.support.fakes import FakeClock, FakeEvents, FakeRateLimiter, FakeRateObserver, FakeSecrets

GRACE = 10
REFRESH_TTL = 120
MAX_AGE = 150  # so a rotation after 30 s or more meets the absolute lifetime
MAX_LIVE_SESSIONS = 3
MAX_SESSIONS = 8
POLICY = SessionPolicy(
    access_token_ttl=900, refresh_token_ttl=REFRESH_TTL, refresh_reuse_grace=GRACE, session_max_age=MAX_AGE
)
# Roomy: the machine explores the chain, not the limits (the contract suite covers those).
REFRESH_LIMITS = RefreshPolicy(RateLimit(10_000, "minute"), RateLimit(10_000, "minute"))
# Seconds, or to (just before) a session's end: the edges where its outcomes change.
TIME_JUMPS: list[int | str] = [1, 3, GRACE - 1, GRACE, GRACE + 1, 45]
TIME_JUMPS += ["to refresh expiry", "just before refresh expiry", "to absolute end", "just before absolute end"]
SERVER_KEY = b"state-machine-server-key-0123456789abcdef"
TOLERANCE = timedelta(milliseconds=2)
RUN = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

T = TypeVar("T")


# --- the model ----------------------------------------------------------------------------


@dataclass
class ModelSession:
    id: SessionId
    chain: list[str]  # every refresh token the session handed out, oldest first
    refresh_expires_at: datetime
    absolute_expires_at: datetime
    rotated_at: datetime | None = None
    ended: bool = False  # revoked, stolen, or removed by the store once past its end
    # What `ended_reason` may answer once an ending was recorded (None: it simply ran out).
    reasons: set[str | None] | None = None
    # Ended for theft: how many of `chain` had been rotated away then (each is reuse still).
    stolen_at: int | None = None

    def expiry_reason(self) -> str:
        return EndReason.MAX_AGE if self.refresh_expires_at >= self.absolute_expires_at else EndReason.EXPIRED

    def alive(self, now: datetime) -> bool:
        return not self.ended and now < self.refresh_expires_at

    def predict(self, token: str, now: datetime) -> RotationOutcome:
        """What API.md says presenting `token` of this session at `now` does."""
        if not self.alive(now):
            # A token rotated away before the theft that ended the session: reuse all the same.
            if self.stolen_at is not None and token in self.chain[: self.stolen_at]:
                return RotationOutcome.REUSED
            return RotationOutcome.INVALID
        if token == self.chain[-1]:
            return RotationOutcome.ROTATED
        previous = self.chain[-2] if len(self.chain) >= 2 else None
        if token == previous and self.rotated_at is not None and now - self.rotated_at <= timedelta(seconds=GRACE):
            return RotationOutcome.RETRIED
        if token in self.chain[:-1]:
            return RotationOutcome.REUSED
        return RotationOutcome.INVALID


# --- the stores ---------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    # Builds the store for one run of the machine; the memory store takes the fake clock.
    make_store: Callable[[FakeClock], SessionStore]
    # True when the store expires sessions by a clock of its own (Redis), not by the fake one.
    lazy_expiry: bool


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    backend: Backend

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)


class RefreshMachine(RuleBasedStateMachine):
    harness: ClassVar[Harness]  # set by a subclass per test: the loop and the store to build

    def __init__(self) -> None:
        super().__init__()
        self.lazy = self.harness.backend.lazy_expiry
        self.clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
        self.store = self.harness.backend.make_store(self.clock)
        self.events = FakeEvents()
        self.macs = HmacHasher(SERVER_KEY)
        codec = JwtCodec(
            shared_secret_ring("state-machine-jwt-secret-" + "x" * 32),
            TokenSettings(issuer="https://auth.test", audience="musicez-api", ttl_seconds=POLICY.access_token_ttl),
        )
        self.opener = SessionOpener(self.store, codec, self.macs, FakeSecrets(), self.clock, POLICY)
        budget = FailureBudget(
            Throttle(FakeRateLimiter(), FakeRateObserver(), self.events), self.clock, self.macs, NoSpentBudgetNotifier()
        )
        self.rotate = RotateRefresh(
            self.store,
            self.macs,
            self.opener,
            self.clock,
            POLICY,
            self.events,
            budget,
            REFRESH_LIMITS,
            FakeRateObserver(),
        )
        self.revoke_one = RevokeSession(self.store, self.events)
        self.revoke_all = RevokeAllSessions(self.store, self.events, self.clock)
        self.revoke_others = RevokeOtherSessions(self.revoke_all)
        now = self.clock.now()
        self.user = User(UserId(uuid.uuid4()), Email.parse("listener@example.com"), "unused", now, now)
        self.sessions: list[ModelSession] = []
        self.seen_dead: set[SessionId] = set()  # sessions the store once reported inactive

    # --- helpers ---

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def present(self, session: ModelSession) -> bool | None:
        """Whether the store still holds the session, for the calls that take no `now`.

        None when either answer is right: a session Redis still keeps because only the
        fake clock, not Redis's own, passed its end.
        """
        if session.alive(self.now):
            return True
        if session.ended or not self.lazy:
            return False
        return None

    def count_present(self, sessions: list[ModelSession]) -> range:
        """How many of `sessions` a revoke-all may find: the live ones, plus any lingering."""
        found = [self.present(s) for s in sessions]
        return range(found.count(True), found.count(True) + found.count(None) + 1)

    def principal(self, session: ModelSession) -> UserPrincipal:
        return UserPrincipal(self.user.id, session.id, self.now + timedelta(seconds=POLICY.access_token_ttl))

    def refresh(self, session: ModelSession | None, token: str) -> None:
        """Present `token`, which names `session` (None: names no session of the model)."""
        now = self.now
        expected = session.predict(token, now) if session is not None else RotationOutcome.INVALID
        before = len(self.events.recorded)
        grant: TokenGrant | None = None
        refused: InvalidRefreshToken | None = None
        try:
            grant = self.harness.run(self.rotate.execute(token))
        except RefreshTokenReused:
            assert expected is RotationOutcome.REUSED, f"got REUSED, model says {expected}"
        except InvalidRefreshToken as error:
            assert expected is RotationOutcome.INVALID, f"got INVALID, model says {expected}"
            refused = error
        if grant is None:
            if session is not None and expected is RotationOutcome.REUSED and session.alive(now):
                self.end(session, EndReason.REUSE_DETECTED)
                session.ended = True
                session.stolen_at = len(session.chain) - 1
            elif session is not None and not session.alive(now):
                # A refresh past its end clears it out of the store, which now knows why.
                session.ended = True
                session.reasons = (session.reasons or {session.expiry_reason()}) - {None}
            if refused is not None:
                # The 401 says why the session ended; a token that names no session, nothing.
                if session is None:
                    assert refused.reason is None
                else:
                    assert session.reasons is not None
                    assert refused.reason in session.reasons, f"reason {refused.reason}, model {session.reasons}"
            return
        assert session is not None, "a token naming no known session was accepted"
        outcome = {"refresh_rotated": RotationOutcome.ROTATED, "refresh_retried": RotationOutcome.RETRIED}.get(
            self.events.names[before] if len(self.events.recorded) > before else ""
        )
        assert outcome is expected, f"got {outcome}, model says {expected}"
        assert grant.session.id == session.id
        assert grant.user_id == self.user.id
        if outcome is RotationOutcome.ROTATED:
            # A fresh token, never one the session handed out before.
            assert grant.refresh_token not in session.chain
            session.chain.append(grant.refresh_token)
            session.rotated_at = now
            session.refresh_expires_at = min(now + timedelta(seconds=REFRESH_TTL), session.absolute_expires_at)
        else:
            # A retry gets the successor already handed out: never a second live successor.
            assert grant.refresh_token == session.chain[-1]
        assert abs(grant.refresh_expires_at - session.refresh_expires_at) <= TOLERANCE
        assert grant.session.absolute_expires_at == session.absolute_expires_at

    def end(self, session: ModelSession, reason: str) -> None:
        """Record an ending with `reason` as the store sees it: a session already gone keeps
        its first reason; one lingering in Redis past its end may or may not be reached."""
        present = self.present(session)
        if present is True:
            session.reasons = {reason}
        elif present is None:
            # An earlier ending of a lingering session may have stuck (the first ending wins).
            session.reasons = (session.reasons or set()) | {reason, session.expiry_reason(), None}

    def end_live(self, sessions: list[ModelSession], reason: str) -> None:
        # A lingering Redis session may have left the user's index already (a later login
        # prunes what is past its end), so a revoke-all need not reach it: it stays "either".
        for session in sessions:
            present = self.present(session)
            self.end(session, reason)
            if present is True:
                session.ended = True

    def expected_reasons(self, session: ModelSession) -> set[str | None]:
        if session.alive(self.now):
            return {None}
        if session.reasons is not None:
            return session.reasons
        return {session.expiry_reason(), None} if self.lazy else {session.expiry_reason()}

    def live(self) -> list[ModelSession]:
        return [s for s in self.sessions if s.alive(self.now)]

    def pick(self, data: st.DataObject) -> ModelSession:
        """Nine times in ten a live session (if any), else any session at all."""
        live = self.live()
        any_session = data.draw(st.integers(0, 9), label="any session") == 0
        return data.draw(st.sampled_from(self.sessions if any_session or not live else live), label="session")

    def move_clock_to(self, when: datetime) -> None:
        if when > self.now:
            self.clock.set(when)

    # --- rules ---
    # Destructive moves (logouts, time jumps) are one rule each so refreshes dominate the
    # rule mix; refreshes mostly pick a live session, sometimes any.

    @initialize()
    def first_login(self) -> None:
        self.login(device="Firefox on Linux")

    @precondition(lambda self: len(self.live()) < MAX_LIVE_SESSIONS and len(self.sessions) < MAX_SESSIONS)
    @rule(device=st.sampled_from(["Firefox on Linux", "iPhone", None]))
    def login(self, device: str | None) -> None:
        grant = self.harness.run(self.opener.open(self.user, device))
        assert grant.session.user_id == self.user.id
        assert all(grant.session.id != s.id for s in self.sessions)
        self.sessions.append(
            ModelSession(
                grant.session.id,
                [grant.refresh_token],
                grant.refresh_expires_at,
                grant.session.absolute_expires_at,
            )
        )

    @precondition(lambda self: self.live())
    @rule(data=st.data())
    def refresh_with_current_token(self, data: st.DataObject) -> None:
        session = self.pick(data)
        self.refresh(session, session.chain[-1])

    @precondition(lambda self: self.live())
    @rule(data=st.data(), rotate_first=st.booleans(), pause=st.sampled_from([None, 0, 1, GRACE, GRACE + 1]))
    def refresh_with_previous_token(self, data: st.DataObject, rotate_first: bool, pause: int | None) -> None:
        """The token just rotated away (rotating first if asked or needed), at once or
        `pause` seconds after its rotation: the edge of the grace window and just past it."""
        session = self.pick(data)
        if rotate_first or len(session.chain) < 2:
            self.refresh(session, session.chain[-1])
        if len(session.chain) < 2:
            return
        if pause is not None:
            assert session.rotated_at is not None
            self.move_clock_to(session.rotated_at + timedelta(seconds=pause))
        self.refresh(session, session.chain[-2])

    @precondition(lambda self: self.live())
    @rule(data=st.data())
    def refresh_with_an_older_token(self, data: st.DataObject) -> None:
        """A token two or more rotations back (rotating first as needed): theft, whenever."""
        session = self.pick(data)
        while len(session.chain) < 3 and session.alive(self.now):
            self.refresh(session, session.chain[-1])
        if len(session.chain) < 3:
            return
        token = data.draw(st.sampled_from(session.chain[:-2]), label="older token")
        self.refresh(session, token)

    @precondition(lambda self: self.sessions)
    @rule(
        data=st.data(),
        kind=st.sampled_from(["garbage", "forged", "minted elsewhere", "other user", "other generation"]),
        garbage=st.text(max_size=140),
        secret=st.binary(min_size=SECRET_BYTES, max_size=SECRET_BYTES),
    )
    def refresh_with_a_bad_token(self, data: st.DataObject, kind: str, garbage: str, secret: bytes) -> None:
        """Malformed text; a well-formed token for a real session with a made-up tag, or
        signed under another server key; a real token's secret and tag under another user
        (the session id alone is not enough) or relabelled with an older generation (the
        tag covers the generation: no one can make a live token look stolen)."""
        session = self.pick(data)
        real = RefreshToken.parse(session.chain[-1])
        if kind == "garbage":
            self.refresh(None, garbage)
        elif kind == "forged":
            self.refresh(None, RefreshToken(self.user.id, session.id, real.generation, secret, secret[:16]).encode())
        elif kind == "minted elsewhere":
            elsewhere = signed(HmacHasher(b"another-server-key-0123456789abcdef"), real)
            self.refresh(None, elsewhere.encode())
        elif kind == "other user":
            self.refresh(
                None, RefreshToken(UserId(uuid.uuid4()), session.id, real.generation, real.secret, real.tag).encode()
            )
        elif real.generation > 0:
            self.refresh(None, RefreshToken(self.user.id, session.id, 0, real.secret, real.tag).encode())

    @precondition(lambda self: self.sessions)
    @rule(data=st.data(), from_itself=st.booleans())
    def logout_one(self, data: st.DataObject, from_itself: bool) -> None:
        """DELETE /auth/sessions/{id}: 404 unless it is a live session of the caller; from
        that session itself (a logout) or from another one of the user's."""
        session = self.pick(data)
        caller = session if from_itself else data.draw(st.sampled_from(self.sessions), label="caller")
        expected = self.present(session)
        try:
            self.harness.run(self.revoke_one.execute(self.principal(caller), session.id))
            revoked = True
        except SessionNotFound:
            revoked = False
        assert expected is None or revoked is expected
        self.end(session, EndReason.LOGOUT if caller is session else EndReason.ENDED_FROM_OTHER_DEVICE)
        session.ended = True

    @precondition(lambda self: self.live())
    @rule(data=st.data(), keep_current=st.booleans())
    def logout_everywhere(self, data: st.DataObject, keep_current: bool) -> None:
        """logout-all, or logout-others from one live session."""
        current = data.draw(st.sampled_from(self.live()), label="current session")
        if keep_current:
            others = [s for s in self.sessions if s is not current]
            count = self.harness.run(self.revoke_others.execute(self.principal(current)))
        else:
            others = list(self.sessions)
            count = self.harness.run(self.revoke_all.execute(self.user.id))
        assert count in self.count_present(others)
        self.end_live(others, EndReason.ENDED_FROM_OTHER_DEVICE if keep_current else EndReason.LOGOUT_ALL)

    @precondition(lambda self: self.sessions)
    @rule(
        data=st.data(),
        jump=st.sampled_from(TIME_JUMPS),
    )
    def time_passes(self, data: st.DataObject, jump: int | str) -> None:
        if isinstance(jump, int):
            self.clock.advance(jump)
            return
        session = self.pick(data)
        early = timedelta(seconds=1 if jump.startswith("just before") else 0)
        end = session.refresh_expires_at if jump.endswith("refresh expiry") else session.absolute_expires_at
        self.move_clock_to(end - early)

    # --- invariants ---

    @invariant()
    def store_agrees_with_the_model(self) -> None:
        now = self.now
        listed = self.harness.run(self.store.list_for_user(self.user.id, now))
        alive = {s.id: s for s in self.sessions if s.alive(now)}
        assert {s.id for s in listed} == set(alive), "list_for_user disagrees with the model"
        for found in listed:
            model = alive[found.id]
            assert abs(found.refresh_expires_at - model.refresh_expires_at) <= TOLERANCE
            assert found.absolute_expires_at == model.absolute_expires_at
            assert found.user_id == self.user.id
            assert found.id not in self.seen_dead, "a session came back to life"
        for session in self.sessions:
            stored = self.harness.run(self.store.get(self.user.id, session.id))
            active = stored is not None
            expected = self.present(session)
            assert expected is None or active is expected, f"found={active} for {session}"
            reason = self.harness.run(self.store.ended_reason(self.user.id, session.id))
            assert reason in self.expected_reasons(session), f"ended_reason={reason} for {session}"
            assert (reason is None) or not active
            if active:
                assert session.id not in self.seen_dead, "a session came back to life"
            else:
                self.seen_dead.add(session.id)

    @invariant()
    def every_session_ends_by_its_absolute_lifetime(self) -> None:
        for session in self.sessions:
            assert session.refresh_expires_at <= session.absolute_expires_at


# --- the tests ----------------------------------------------------------------------------


def run_machine(loop: asyncio.AbstractEventLoop, backend: Backend) -> None:
    class RefreshMachineOnThisStore(RefreshMachine):
        harness = Harness(loop, backend)

    run_state_machine_as_test(RefreshMachineOnThisStore, settings=RUN)


def test_refresh_state_machine_on_the_memory_store(event_loop_for_hypothesis: asyncio.AbstractEventLoop) -> None:
    run_machine(event_loop_for_hypothesis, Backend("memory", MemorySessionStore, lazy_expiry=False))


def test_refresh_state_machine_on_the_redis_store(
    event_loop_for_hypothesis: asyncio.AbstractEventLoop, redis_url: str, redis_prefix: str
) -> None:
    client: AnyRedis = connect(redis_url)

    def make_store(_: FakeClock) -> SessionStore:
        # A key space per run of the machine, so runs never see each other's sessions.
        return RedisSessionStore(client, f"{redis_prefix}:refresh-machine:{uuid.uuid4().hex[:12]}")

    try:
        run_machine(event_loop_for_hypothesis, Backend("redis", make_store, lazy_expiry=True))
    finally:
        event_loop_for_hypothesis.run_until_complete(client.aclose())


def test_refresh_state_machine_on_the_redis_cluster_store(
    event_loop_for_hypothesis: asyncio.AbstractEventLoop, redis_cluster_url: str
) -> None:
    client: AnyRedis = event_loop_for_hypothesis.run_until_complete(_connected(redis_cluster_url))

    def make_store(_: FakeClock) -> SessionStore:
        return RedisSessionStore(client, f"refresh-machine:{uuid.uuid4().hex[:12]}")

    try:
        run_machine(event_loop_for_hypothesis, Backend("redis-cluster", make_store, lazy_expiry=True))
    finally:
        event_loop_for_hypothesis.run_until_complete(client.aclose())


async def _connected(url: str) -> AnyRedis:
    """A client made on the machine's own loop (a cluster client binds to the loop it starts on)."""
    return connect(url)
