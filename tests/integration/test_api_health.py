"""Health routes, the JWK set and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.api import assert_problem, bearer, create_api_key, register

Client = AsyncTestClient[Litestar]


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
async def test_public_probes(client: Client, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer garbage"}, {"X-API-Key": "mez_garbage"}):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ok"}
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["x-request-id"]


async def test_detailed_health_needs_credentials(client: Client) -> None:
    response = await client.get("/health")
    assert_problem(response, 401, "missing_credentials")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_problem(await client.get("/health", headers={"Authorization": "Bearer garbage"}), 401, "invalid_token")


async def test_detailed_health_lists_each_dependency_with_its_latency(client: Client) -> None:
    grant = await register(client)
    created = await create_api_key(client)
    for headers in (bearer(grant), {"X-API-Key": created.secret}):
        response = await client.get("/health", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["status"] == "ok"
        dependencies = body["dependencies"]
        assert {"database", "session_store"} <= set(dependencies)
        for name in ("database", "session_store"):
            assert dependencies[name]["status"] == "ok"
            latency = dependencies[name]["latency_ms"]
            assert isinstance(latency, (int, float))
            assert latency >= 0
        assert "postgres" not in response.text.lower() or "password" not in response.text.lower()


async def test_jwks_is_public(client: Client) -> None:
    for headers in ({}, {"Authorization": "Bearer garbage"}):
        response = await client.get("/.well-known/jwks.json", headers=headers)
        assert response.status_code == 200
        keys = response.json()["keys"]
        assert keys
        for key in keys:
            assert key["kty"] in ("OKP", "EC")
            assert key.get("kid")
            assert key.get("alg") in ("EdDSA", "ES256")
            assert not {"d", "p", "q", "k"} & set(key)


async def test_schema_is_public_and_declares_both_security_schemes(client: Client) -> None:
    response = await client.get("/schema/openapi.json", headers={"Authorization": "Bearer garbage"})
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["openapi"].startswith("3.1")
    schemes = document["components"]["securitySchemes"]
    kinds = {(s["type"], s.get("scheme", "").lower(), s.get("name", ""), s.get("in", "")) for s in schemes.values()}
    assert ("http", "bearer", "", "") in kinds, schemes
    assert ("apiKey", "", "X-API-Key", "header") in kinds, schemes
    paths = document["paths"]
    for path in ("/auth/register", "/auth/login", "/auth/refresh", "/auth/me", "/auth/sessions", "/health"):
        assert path in paths, sorted(paths)


async def test_schema_page_is_public_and_works_offline(client: Client) -> None:
    response = await client.get("/schema")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    page = response.text
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com", "fonts.googleapis.com"):
        assert cdn not in page
    for asset in ("/schema/assets/swagger-ui-bundle.js", "/schema/assets/swagger-ui.css"):
        assert asset in page
        assert (await client.get(asset)).status_code == 200


async def test_unknown_paths_under_schema_are_404_problems(client: Client) -> None:
    for path in ("/schema/nope", "/schema/swagger", "/schema/openapi.yaml.bak", "/schema/nope.json"):
        assert_problem(await client.get(path), 404, "not_found")
