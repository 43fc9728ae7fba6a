"""Prometheus metrics at /metrics: request counts and latency by route and status, login and
refresh outcomes (reuse included), rate-limit rejections; guarded like any route, or by a scrape token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import MakeSettings, bearer, create_api_key, register

SCRAPE_TOKEN = "scrape-token-for-prometheus-0123456789"


@pytest.fixture
async def ops_client(make_settings: MakeSettings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    from musicez.entrypoints.http.app import create_app

    app = create_app(
        settings=make_settings(
            login_rate_limit="3/minute",
            register_rate_limit="4/minute",
            refresh_reuse_grace=10,
            metrics_token=SCRAPE_TOKEN,
        )
    )
    async with AsyncTestClient(app) as client:
        yield client


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: AsyncTestClient[Litestar]) -> Samples:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def event(samples: Samples, name: str) -> float:
    return value(samples, "musicez_security_events_total", event=name)


async def test_login_refresh_and_throttling_outcomes_are_counted(ops_client: AsyncTestClient[Litestar]) -> None:
    client = ops_client
    email = unique_email("metrics")
    first = await register(client, email)

    ok = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert ok.status_code == 200
    for _ in range(2):
        bad = await client.post("/auth/login", json={"email": email, "password": "Wrong-Password-12345"})
        assert bad.status_code == 401
    unknown = await client.post("/auth/login", json={"email": unique_email("nobody"), "password": STRONG_PASSWORD})
    assert unknown.status_code == 401

    # Refresh: rotated twice, one honest retry within the grace window, then theft.
    a = first["refresh_token"]
    b = (await client.post("/auth/refresh", json={"refresh_token": a})).json()["refresh_token"]
    retry = await client.post("/auth/refresh", json={"refresh_token": a})
    assert retry.status_code == 200
    assert retry.json()["refresh_token"] == b
    c = await client.post("/auth/refresh", json={"refresh_token": b})
    assert c.status_code == 200
    reused = await client.post("/auth/refresh", json={"refresh_token": a})
    assert reused.status_code == 401
    assert reused.json()["code"] == "refresh_token_reused"
    after_theft = await client.post("/auth/refresh", json={"refresh_token": c.json()["refresh_token"]})
    assert after_theft.json()["code"] == "invalid_refresh_token"  # the whole session went with the theft
    malformed = await client.post("/auth/refresh", json={"refresh_token": "x" * 43})
    assert malformed.json()["code"] == "invalid_refresh_token"

    # Rate limits: failed logins for one (email, client) pair, and registrations per client.
    throttled_login = None
    for _ in range(4):
        throttled_login = await client.post("/auth/login", json={"email": email, "password": "Wrong-Password-12345"})
        if throttled_login.status_code == 429:
            break
    assert throttled_login is not None
    assert throttled_login.status_code == 429
    statuses = [
        (await client.post("/auth/register", json={"email": unique_email(), "password": STRONG_PASSWORD})).status_code
        for _ in range(4)
    ]
    assert 429 in statuses

    samples = await scrape(client)
    assert event(samples, "login_succeeded") == 1
    assert event(samples, "login_failed") >= 3
    assert event(samples, "login_throttled") == 1
    assert event(samples, "throttled") >= 1  # the register limit
    assert event(samples, "refresh_rotated") == 2
    assert event(samples, "refresh_retried") == 1
    assert event(samples, "refresh_reused") == 1
    assert event(samples, "refresh_rejected") == 1

    requests = "musicez_http_requests_total"
    assert value(samples, requests, method="POST", route="/auth/login", status="200") == 1
    assert value(samples, requests, method="POST", route="/auth/login", status="401") == event(samples, "login_failed")
    assert value(samples, requests, method="POST", route="/auth/login", status="429") == 1
    assert value(samples, requests, method="POST", route="/auth/refresh", status="401") == 3
    assert value(samples, requests, method="POST", route="/auth/register", status="429") == statuses.count(429)
    latency = "musicez_http_request_duration_seconds_count"
    logins = value(samples, latency, method="POST", route="/auth/login")
    assert logins == 1 + event(samples, "login_failed") + 1
    assert (
        value(samples, "musicez_http_request_duration_seconds_bucket", method="POST", route="/auth/login", le="+Inf")
        == logins
    )


async def test_routes_are_labelled_by_template_not_by_raw_path(ops_client: AsyncTestClient[Litestar]) -> None:
    tokens = await register(ops_client)
    for _ in range(2):
        missing = await ops_client.delete(f"/auth/sessions/{tokens['user']['id']}", headers=bearer(tokens))
        assert missing.status_code == 404
    await ops_client.get("/no/such/path")
    samples = await scrape(ops_client)
    requests = "musicez_http_requests_total"
    assert value(samples, requests, method="DELETE", route="/auth/sessions/{session_id}", status="404") == 2
    assert value(samples, requests, method="GET", route="unmatched", status="404") == 1
    assert not any(tokens["user"]["id"] in dict(labels).get("route", "") for _, labels in samples)


async def test_a_head_request_is_counted_as_head_on_its_route(ops_client: AsyncTestClient[Litestar]) -> None:
    for _ in range(3):
        assert (await ops_client.head("/health/live")).status_code == 200
    samples = await scrape(ops_client)
    requests = "musicez_http_requests_total"
    assert value(samples, requests, method="HEAD", route="/health/live", status="200") == 3


async def test_guard_reads_the_fence_could_not_answer_are_counted(ops_client: AsyncTestClient[Litestar]) -> None:
    """The fence's counters are on /metrics (docs/PRODUCTION.md): a session's first guarded read
    in this process goes to Redis and is counted; the hits after it are not."""
    tokens = await register(ops_client)
    for _ in range(5):
        assert (await ops_client.get("/auth/me", headers=bearer(tokens))).status_code == 200
    await asyncio.sleep(0.3)  # the fence's channel is subscribed by now: the next read is cached
    for _ in range(5):
        assert (await ops_client.get("/auth/me", headers=bearer(tokens))).status_code == 200
    samples = await scrape(ops_client)
    reads = "musicez_guard_store_reads_total"
    session_reads = sum(value(samples, reads, cache="session", reason=r) for r in ("not_cached", "untrusted"))
    assert 1 <= session_reads <= 6  # at most the reads before the channel was up, and one after
    assert value(samples, reads, cache="api_key", reason="not_cached") == 0
    for outcome in ("trusted", "store"):
        assert ("musicez_fence_lapse_waits_total", frozenset({("outcome", outcome)})) in samples
    for cause in ("channel_lost", "flushed"):
        assert value(samples, "musicez_fence_resets_total", cause=cause) == 0


async def test_metrics_need_the_scrape_token_or_a_credential(ops_client: AsyncTestClient[Litestar]) -> None:
    anonymous = await ops_client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "missing_credentials"
    wrong = await ops_client.get("/metrics", headers={"Authorization": "Bearer not-the-scrape-token"})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_token"
    assert "metrics token" in wrong.json()["detail"]  # not "the access token is invalid"
    assert "access token is invalid" not in wrong.json()["detail"].lower()
    # Any account could be registered, so a user token may not read the security counters.
    tokens = await register(ops_client)
    as_user = await ops_client.get("/metrics", headers=bearer(tokens))
    assert as_user.status_code == 403
    assert as_user.json()["code"] == "insufficient_scope"
    created = await create_api_key(ops_client, name="prometheus")
    as_service = await ops_client.get("/metrics", headers={"X-API-Key": created.secret})
    assert as_service.status_code == 200
    assert "musicez_http_requests_total" in as_service.text


async def test_without_a_scrape_token_metrics_need_a_credential(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/metrics")).status_code == 401
    # An arbitrary bearer is no scrape token when none is configured.
    assert (await client.get("/metrics", headers={"Authorization": "Bearer "})).status_code == 401
    tokens = await register(client)
    assert (await client.get("/metrics", headers=bearer(tokens))).status_code == 403
    created = await create_api_key(client, name="prometheus")
    assert (await client.get("/metrics", headers={"X-API-Key": created.secret})).status_code == 200


async def test_metrics_content_type_parses_as_one_media_type(ops_client: AsyncTestClient[Litestar]) -> None:
    """Prometheus parses Content-Type as a media type (Go's mime.ParseMediaType, which refuses a
    repeated parameter; Prometheus 3 fails the scrape then). The exposition format's own type,
    with its one charset, is what goes out."""
    from email.message import Message

    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    response = await ops_client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert response.status_code == 200, response.text
    content_type = response.headers["content-type"]
    assert content_type == CONTENT_TYPE_LATEST
    parsed = Message()
    parsed["content-type"] = content_type
    names = [name.strip().split("=", 1)[0].lower() for name in content_type.split(";")[1:]]
    assert len(names) == len(set(names)), content_type  # no parameter twice
    assert parsed.get_content_type() == "text/plain"


async def test_made_up_methods_and_paths_do_not_grow_the_metrics(ops_client: AsyncTestClient[Litestar]) -> None:
    """Issue 11 item 3: an unknown method is counted as OTHER, any unknown path as `unmatched`."""
    headers = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}
    for i in range(3):  # every label set that the loop below can produce, once
        await ops_client.request(f"WARMUP{i}", "/health/live")
        await ops_client.request(f"WARMUP{i}", f"/health/live/{i}")
        await ops_client.get(f"/no-such-route-{i}")
        await ops_client.get("/metrics", headers=headers)
    before = len((await ops_client.get("/metrics", headers=headers)).content)

    for i in range(200):
        method = f"M{i:03d}" + "X" * 60_000
        response = await ops_client.request(method, f"/health/live/{i}" if i % 2 else "/health/live")
        assert response.status_code in (404, 405), response.status_code
        assert (await ops_client.get(f"/made-up/{i}/{'p' * 2000}")).status_code == 404

    scrape = await ops_client.get("/metrics", headers=headers)
    assert len(scrape.content) - before < 1_000  # counts changed, no new series
    assert b"XXXX" not in scrape.content
    assert b"made-up" not in scrape.content
    samples = await scrape_samples(ops_client)
    requests = "musicez_http_requests_total"
    other = sum(v for (name, labels), v in samples.items() if name == requests and ("method", "OTHER") in labels)
    assert other == 206
    assert value(samples, requests, method="GET", route="unmatched", status="404") == 203


async def scrape_samples(client: AsyncTestClient[Litestar]) -> Samples:
    return await scrape(client)
