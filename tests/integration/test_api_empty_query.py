"""An empty query parameter counts as absent (API.md's templates: `GET /auth/activity?limit=50&cursor=`,
`GET /admin/users?email_contains=&disabled=true|false&limit=&cursor=`): a client that copies the
template for its first page gets that page, not a 400."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.hooks import without_empty_values
from tests.integration.test_api_admin import scoped_key
from tests.support.api import assert_problem, bearer, register

AnyClient = AsyncTestClient[Litestar]


async def test_the_activity_template_with_an_empty_cursor_is_the_first_page(client: AnyClient) -> None:
    grant = await register(client)

    templated = await client.get("/auth/activity?limit=50&cursor=", headers=bearer(grant))
    bare_cursor = await client.get("/auth/activity?cursor&limit=", headers=bearer(grant))
    plain = await client.get("/auth/activity", headers=bearer(grant))

    assert templated.status_code == bare_cursor.status_code == plain.status_code == 200, templated.text
    assert templated.json()["items"] == bare_cursor.json()["items"] == plain.json()["items"]
    assert [item["type"] for item in plain.json()["items"]] == ["login"]


async def test_the_admin_list_template_with_empty_values_lists_everyone(client: AnyClient) -> None:
    admin = await scoped_key(client, "admin")
    await register(client)

    templated = await client.get("/admin/users?email_contains=&disabled=&limit=&cursor=", headers=admin)
    plain = await client.get("/admin/users", headers=admin)

    assert templated.status_code == plain.status_code == 200, templated.text
    assert templated.json() == plain.json()


async def test_a_value_that_is_there_is_still_checked(client: AnyClient) -> None:
    grant = await register(client)

    assert_problem(await client.get("/auth/activity?limit=0&cursor=", headers=bearer(grant)), 400, "validation_error")
    assert_problem(await client.get("/auth/activity?cursor=nope", headers=bearer(grant)), 400, "validation_error")


_NAME = st.text("abcdefgh_%+", min_size=1, max_size=6)
_VALUE = st.text("abc%=+&", max_size=6).map(lambda value: value.replace("&", ""))


@given(st.lists(st.tuples(_NAME, _VALUE, st.booleans()), max_size=6))
def test_only_empty_values_are_dropped_and_the_rest_keep_their_order(pairs: list[tuple[str, str, bool]]) -> None:
    # an empty value is written `name=` or, with the flag, a bare `name`
    parts = [f"{name}={value}" if value or not bare else name for name, value, bare in pairs]

    dropped = without_empty_values("&".join(parts).encode())

    assert dropped == "&".join(f"{name}={value}" for name, value, _ in pairs if value).encode()
