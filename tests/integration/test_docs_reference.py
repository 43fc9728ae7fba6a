"""docs/API.md, the reference in the repository, and the served OpenAPI document name the same
routes, so neither can drift from the other."""

from __future__ import annotations

import re
from pathlib import Path

from litestar import Litestar
from litestar.testing import AsyncTestClient

ROOT = Path(__file__).resolve().parents[2]
_ROW = re.compile(r"^\| (GET|POST|DELETE|PUT|PATCH) \| `([^`]+)` \|", re.MULTILINE)


def documented_routes() -> set[tuple[str, str]]:
    return {(method, path) for method, path in _ROW.findall((ROOT / "docs" / "API.md").read_text())}


async def test_the_reference_and_the_served_document_name_the_same_routes(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    served = {
        (method.upper(), path)
        for path, operations in response.json()["paths"].items()
        for method in operations
        if method.upper() in {"GET", "POST", "DELETE", "PUT", "PATCH"}
    }
    documented = documented_routes()
    assert documented, "docs/API.md lists no route?"
    assert served - documented == set(), "served but not in docs/API.md"
    assert documented - served == set(), "in docs/API.md but not served"
