from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import bearer, register


async def test_register_login_me(client: AsyncTestClient[Litestar]) -> None:
    email = unique_email()
    await register(client, email)
    login = await client.post("/auth/login", json={"email": email.upper(), "password": STRONG_PASSWORD})
    assert login.status_code == 200, login.text
    me = await client.get("/auth/me", headers=bearer(login.json()))
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "user"
    assert me.json()["user"]["email"] == email
