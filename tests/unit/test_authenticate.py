"""AuthenticateRequest: bearer tokens, API keys, both, neither; then the rate limit."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from musicez.adapters.rate_lease import LeasedRateLimiter, MemoryQuotaStore
from musicez.application.authenticate import AuthenticateRequest
from musicez.application.throttle import PrincipalThrottle
from musicez.domain.api_key import ApiKey
from musicez.domain.errors import InvalidApiKey, InvalidToken, MissingCredentials, RateLimited, TokenRevoked
from musicez.domain.ids import ApiKeyId
from musicez.domain.principal import ApiKeyPrincipal, Principal, UserPrincipal
from musicez.domain.rate_limit import RateLimit
from tests.support.world import World


async def an_api_key(world: World, **options: object) -> str:
    created = await world.create_api_key.execute("recommender", **options)  # type: ignore[arg-type]
    return created.secret


async def test_a_valid_bearer_token_authenticates_the_user(world: World) -> None:
    grant = await world.sign_up()

    principal = await world.authenticate.execute(grant.access.token, None)

    assert isinstance(principal, UserPrincipal)
    assert (principal.user_id, principal.session_id) == (grant.user_id, grant.session.id)
    rate = world.observer.decisions[-1]  # what the RateLimit-* headers say
    assert rate.allowed
    assert rate.limit == 5
    assert rate.remaining == 4


async def test_a_valid_api_key_authenticates_the_service(world: World) -> None:
    key = await an_api_key(world)

    principal = await world.authenticate.execute(None, key)

    assert isinstance(principal, ApiKeyPrincipal)
    assert principal.name == "recommender"
    assert world.usage.marked == {principal.key_id: world.clock.now()}


async def test_no_credentials_is_missing_credentials(world: World) -> None:
    with pytest.raises(MissingCredentials):
        await world.authenticate.execute(None, None)


async def test_a_revoked_session_is_token_revoked(world: World) -> None:
    grant = await world.sign_up()
    await world.sessions.revoke(grant.user_id, grant.session.id)

    with pytest.raises(TokenRevoked):
        await world.authenticate.execute(grant.access.token, None)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "x" * 5000])
async def test_a_malformed_bearer_token_is_invalid(world: World, token: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        await world.authenticate.execute(token, None)
    assert type(caught.value) is InvalidToken


async def test_a_token_of_another_issuer_key_is_invalid(world: World) -> None:
    from musicez.adapters.security.jwt_codec import JwtCodec, TokenSettings
    from musicez.adapters.security.keys import asymmetric_ring, generate_private_pem

    grant = await world.sign_up()
    stranger = JwtCodec(
        asymmetric_ring(generate_private_pem("EdDSA"), "EdDSA"), TokenSettings("https://auth.test", "musicez-api", 900)
    )
    forged = stranger.issue(grant.user_id, grant.session.id, datetime.now(UTC))

    with pytest.raises(InvalidToken):
        await world.authenticate.execute(forged.token, None)


async def test_an_expired_bearer_token_is_token_expired(world: World) -> None:
    grant = await world.sign_up()
    old = world.codec.issue(grant.user_id, grant.session.id, datetime.now(UTC) - timedelta(hours=1))

    with pytest.raises(InvalidToken) as caught:
        await world.authenticate.execute(old.token, None)
    assert caught.value.code == "token_expired"


async def test_both_credentials_are_checked_a_bad_key_fails_a_good_token(world: World) -> None:
    grant = await world.sign_up()
    key = await an_api_key(world)

    with pytest.raises(InvalidApiKey):
        await world.authenticate.execute(grant.access.token, key[:-1] + ("A" if key[-1] != "A" else "B"))
    with pytest.raises(InvalidApiKey):
        await world.authenticate.execute(grant.access.token, "mez_garbage")


async def test_both_credentials_are_checked_a_bad_token_fails_a_good_key(world: World) -> None:
    key = await an_api_key(world)

    with pytest.raises(InvalidToken):
        await world.authenticate.execute("not-a-jwt", key)


async def test_when_both_are_invalid_the_bearer_error_wins(world: World) -> None:
    grant = await world.sign_up()
    await world.sessions.revoke(grant.user_id, grant.session.id)

    with pytest.raises(InvalidToken) as caught:
        await world.authenticate.execute("not-a-jwt", "mez_garbage")
    assert caught.value.code == "invalid_token"
    with pytest.raises(TokenRevoked):
        await world.authenticate.execute(grant.access.token, "mez_garbage")


async def test_both_valid_authenticates_as_the_user(world: World) -> None:
    grant = await world.sign_up()
    key = await an_api_key(world)

    principal = await world.authenticate.execute(grant.access.token, key)

    assert isinstance(principal, UserPrincipal)


async def test_unknown_revoked_and_expired_keys_are_invalid(world: World) -> None:
    revoked = await world.create_api_key.execute("old service")
    await world.revoke_api_key.execute(revoked.key.id)
    expiring = await an_api_key(world, expires_in=timedelta(minutes=5))
    unknown = "mez_" + uuid.uuid4().hex + "A" * 32

    for key in (revoked.secret, unknown):
        with pytest.raises(InvalidApiKey):
            await world.authenticate.execute(None, key)
    await world.authenticate.execute(None, expiring)
    world.clock.advance(301)
    with pytest.raises(InvalidApiKey):
        await world.authenticate.execute(None, expiring)
    assert revoked.key.id not in world.usage.marked


async def test_the_principal_rate_limit_refuses_over_the_limit(world: World) -> None:
    grant = await world.sign_up()
    for remaining in (4, 3, 2, 1, 0):
        await world.authenticate.execute(grant.access.token, None)
        assert world.observer.decisions[-1].remaining == remaining

    with pytest.raises(RateLimited):
        await world.authenticate.execute(grant.access.token, None)


async def test_an_api_key_uses_its_own_rate_limit(world: World) -> None:
    key = await an_api_key(world, rate_limit=RateLimit(2, "second"))

    await world.authenticate.execute(None, key)
    assert world.observer.decisions[-1].limit == 2
    assert world.observer.decisions[-1].remaining == 1
    await world.authenticate.execute(None, key)
    with pytest.raises(RateLimited):
        await world.authenticate.execute(None, key)


# --- reuse on the hot path (issue 12): what was checked is reused while nothing changed ---------


async def test_a_token_keeps_its_principal_while_its_session_is_unchanged(world: World) -> None:
    grant = await world.sign_up()

    first = await world.authenticate.execute(grant.access.token, None)
    again = await world.authenticate.execute(grant.access.token, None)
    assert again is first  # no new principal per request while the store answers the same session

    await world.sessions.revoke(grant.user_id, grant.session.id)
    with pytest.raises(TokenRevoked):
        await world.authenticate.execute(grant.access.token, None)


async def test_a_refreshed_session_gives_its_old_token_a_principal_describing_it_afresh(world: World) -> None:
    grant = await world.sign_up()
    first = await world.authenticate.execute(grant.access.token, None)
    assert isinstance(first, UserPrincipal)
    world.clock.advance(60)

    await world.rotate.execute(grant.refresh_token)
    again = await world.authenticate.execute(grant.access.token, None)  # still valid until it expires

    assert isinstance(again, UserPrincipal)
    assert again is not first
    assert again.session is not None
    assert first.session is not None
    assert again.session.refresh_expires_at > first.session.refresh_expires_at


async def test_a_known_key_is_reused_until_its_row_changes(world: World) -> None:
    created = await world.create_api_key.execute("recommender")

    first = await world.authenticate.execute(None, created.secret)
    again = await world.authenticate.execute(None, created.secret)
    assert again is first
    known = world.authenticate.api_key._known  # noqa: SLF001 - what the process keeps of a key
    assert all(isinstance(digest, bytes) and len(digest) == 16 for digest in known)
    assert created.secret not in repr(known)  # a digest of the key, never the key

    await world.revoke_api_key.execute(created.key.id)
    with pytest.raises(InvalidApiKey):
        await world.authenticate.execute(None, created.secret)


async def test_a_known_key_costs_one_lookup_when_every_read_makes_a_new_row(world: World) -> None:
    """As on a lookup without the fenced cache (SQL): the row read for the known key is the one
    the full check uses, never read a second time."""
    created = await world.create_api_key.execute("recommender")
    rows = world.authenticate.api_key.keys
    reads: list[ApiKeyId] = []

    class FreshRows:
        def cached(self, key_id: ApiKeyId) -> ApiKey | None:
            return None  # no cache: every answer is a read

        async def find(self, key_id: ApiKeyId) -> ApiKey | None:
            reads.append(key_id)
            row = await rows.find(key_id)
            return None if row is None else dataclasses.replace(row)

    authenticate = dataclasses.replace(world.authenticate.api_key, keys=FreshRows())
    for _ in range(3):
        principal = await authenticate.execute(created.secret)
    assert principal.key_id == created.key.id
    assert reads == [created.key.id] * 3

    await world.revoke_api_key.execute(created.key.id)
    with pytest.raises(InvalidApiKey):
        await authenticate.execute(created.secret)


async def test_the_tables_of_known_principals_stay_within_their_bound(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every authenticated credential may enter a table; a full one is emptied, so a process that
    sees many tokens and keys keeps at most the bound, and what it keeps still authenticates."""
    import musicez.application.authenticate as module

    monkeypatch.setattr(module, "KNOWN_PRINCIPALS", 3)
    bearer, api_key = world.authenticate.bearer, world.authenticate.api_key
    grants = [await world.sign_up(f"listener-{n}@example.com") for n in range(8)]
    secrets = [(await world.create_api_key.execute(f"service-{n}")).secret for n in range(8)]
    sizes: list[int] = []
    for grant, secret in zip(grants, secrets, strict=True):
        user = await world.authenticate.execute(grant.access.token, None)
        service = await world.authenticate.execute(None, secret)
        assert isinstance(user, UserPrincipal)
        assert isinstance(service, ApiKeyPrincipal)
        assert bearer._known[grant.access.token] is user  # noqa: SLF001 - the table under test
        sizes += [len(bearer._known), len(api_key._known)]  # noqa: SLF001
    assert max(sizes) == 3  # filled up to the bound, never past it
    assert min(sizes[2:]) == 1  # and emptied when full, not walked
    for grant, secret in zip(grants, secrets, strict=True):  # what was dropped is checked afresh
        assert isinstance(await world.authenticate.execute(grant.access.token, None), UserPrincipal)
        assert isinstance(await world.authenticate.execute(None, secret), ApiKeyPrincipal)


async def test_a_known_key_is_still_refused_from_an_address_past_its_failure_budget(world: World) -> None:
    """The no-I/O path for a key checked before keeps `execute`'s order: the address's budget of
    API-key failures first, before any lookup."""
    created = await world.create_api_key.execute("recommender")
    scanner, partner = "198.51.100.88", "203.0.113.6"
    assert isinstance(await world.authenticate.execute(None, created.secret, scanner), ApiKeyPrincipal)
    budget = world.authenticate.api_key.throttle_policy.api_key_failures.amount
    for _ in range(budget):
        with pytest.raises(InvalidApiKey):
            await world.authenticate.execute(None, f"mez_{'x' * 40}", scanner)

    with pytest.raises(RateLimited):
        await world.authenticate.execute(None, created.secret, scanner)
    assert isinstance(await world.authenticate.execute(None, created.secret, partner), ApiKeyPrincipal)


# -- execute_nowait: the guard's hot path, no coroutine -------------------------------------

PER_PRINCIPAL = RateLimit(40, "minute")  # leases of 5 units (40 ÷ 8): some held after each


def holding_units(world: World) -> AuthenticateRequest:
    """The world's guard over the leased limiter (in memory), at a limit where units are held."""
    throttle = PrincipalThrottle(LeasedRateLimiter(MemoryQuotaStore()), world.observer, world.events)
    policy = dataclasses.replace(world.authenticate.throttle_policy, per_principal=PER_PRINCIPAL)
    return dataclasses.replace(world.authenticate, throttle=throttle, throttle_policy=policy)


async def through(guard: AuthenticateRequest, token: str | None, key: str | None) -> Principal:
    """What the guard does: the hot path, else the path with I/O."""
    principal = guard.execute_nowait(token, key)
    return principal if principal is not None else await guard.execute(token, key)


async def test_without_a_held_unit_execute_nowait_defers_and_execute_then_leases(world: World) -> None:
    grant = await world.sign_up()
    guard = holding_units(world)
    before = len(world.observer.decisions)

    assert guard.execute_nowait(grant.access.token, None) is None  # nothing held yet: a lease is I/O
    assert len(world.observer.decisions) == before  # and nothing was counted

    principal = await guard.execute(grant.access.token, None)  # leases a chunk, spends one unit
    again = guard.execute_nowait(grant.access.token, None)  # spends a held unit, no coroutine

    assert again is not None
    assert again == principal
    assert [d.remaining for d in world.observer.decisions[before:]] == [39, 38]  # both counted, and reported


async def test_the_limit_holds_exactly_whichever_path_serves_a_request(world: World) -> None:
    grant = await world.sign_up()
    guard = holding_units(world)
    served_nowait = 0
    for _ in range(PER_PRINCIPAL.amount):
        if guard.execute_nowait(grant.access.token, None) is None:
            await guard.execute(grant.access.token, None)
        else:
            served_nowait += 1

    assert served_nowait >= PER_PRINCIPAL.amount // 4  # many from held units (chunks shrink near the limit)
    with pytest.raises(RateLimited):  # the 41st of 40/minute
        await through(guard, grant.access.token, None)


async def test_execute_nowait_with_an_api_key_spends_a_held_unit(world: World) -> None:
    key = await an_api_key(world)
    guard = holding_units(world)
    assert guard.execute_nowait(None, key) is None  # a key this guard has not checked yet

    principal = await guard.execute(None, key)

    assert guard.execute_nowait(None, key) == principal
    assert world.observer.decisions[-1].remaining == 38


async def test_execute_nowait_answers_a_revoked_session_and_bad_input_as_execute_does(world: World) -> None:
    grant = await world.sign_up()
    guard = holding_units(world)
    await guard.execute(grant.access.token, None)
    await world.sessions.revoke(grant.user_id, grant.session.id)

    assert guard.execute_nowait(grant.access.token, None) is None  # not vouched for: `execute` says why
    with pytest.raises(TokenRevoked):
        await guard.execute(grant.access.token, None)
    with pytest.raises(MissingCredentials):
        guard.execute_nowait(None, None)
    with pytest.raises(InvalidToken):
        guard.execute_nowait("not-a-jwt", None)


async def test_execute_nowait_leaves_both_credentials_to_execute(world: World) -> None:
    grant = await world.sign_up()
    key = await an_api_key(world)
    guard = holding_units(world)
    await guard.execute(grant.access.token, None)

    assert guard.execute_nowait(grant.access.token, key) is None  # both are checked, by `execute`
    assert isinstance(await through(guard, grant.access.token, key), UserPrincipal)
