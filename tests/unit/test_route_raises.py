"""Each route declares the errors it can raise next to its handler (`opt={"raises": ...}`), and
its documented problem responses are derived from that, when the app is built (issue 13, item 1)."""

from __future__ import annotations

from litestar import Litestar

from musicez.entrypoints.http.app import ROUTES
from musicez.entrypoints.http.docs import RAISES, documented_operations, problem_statuses
from musicez.entrypoints.http.statuses import status_of

# As the app sees them: each handler's `opt` merged with its router's (guard rule, prefix).
HANDLERS = {
    f"{next(iter(h.http_methods))} {path}": h
    for path, h in documented_operations(Litestar(route_handlers=ROUTES, openapi_config=None))
}


def test_every_declared_error_has_an_error_status() -> None:
    declared = [error for handler in HANDLERS.values() for error in handler.opt.get(RAISES) or ()]
    assert declared
    for error in declared:
        assert 400 <= status_of(error) < 500 or status_of(error) == 503, error


def test_a_route_documents_what_it_declares_and_what_its_kind_answers() -> None:
    statuses = problem_statuses(HANDLERS["POST /auth/register"])
    assert set(statuses) == {400, 409, 413, 415, 422, 429, 503}
    assert statuses[409].startswith("email_taken")
    assert "every failed rule in `errors`" in statuses[422]
    assert "hasher" in statuses[503]  # the busy example goes with it


def test_the_guard_keys_add_their_refusals() -> None:
    statuses = problem_statuses(HANDLERS["POST /auth/password/change"])
    assert "missing_credentials" in statuses[401]
    assert statuses[403].startswith("user_token_required")
    assert "invalid_current_password" in statuses[400]
    assert "insufficient_scope" in problem_statuses(HANDLERS["GET /admin/users"])[403]


def test_a_route_that_never_fails_documents_no_problem() -> None:
    assert problem_statuses(HANDLERS["GET /health/live"]) == {}


def test_a_router_states_the_guard_rule_of_its_routes() -> None:
    assert HANDLERS["GET /auth/sessions"].opt.get("user_only") is True
    assert HANDLERS["DELETE /auth/sessions/{session_id:str}"].opt.get("user_only") is True
    assert HANDLERS["POST /admin/users/{user_id:str}/disable"].opt.get("scope") == "admin"
    assert HANDLERS["POST /admin/users/{user_id:str}/disable"].opt.get("optional_body") is True
    assert "user_not_found" in problem_statuses(HANDLERS["POST /admin/users/{user_id:str}/disable"])[404]
