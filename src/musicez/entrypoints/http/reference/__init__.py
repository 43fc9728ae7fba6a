"""The OpenAPI reference of every operation: its summary, a description (what it does, who may
call it, what it returns, the errors worth knowing), the text of its success response, its
parameters, and named examples of its request and response bodies, including one problem
document for each code its error responses name (as the service writes it).

`describe_operations` puts them on the route handlers when the app is built; Litestar reads them
when it builds the document (at the first request for it). Nothing here runs while a request is
served. Response examples are the response structs themselves, so they have the real shape and
keep their `null`s (Litestar drops `None` from plain dicts in the document)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import Example, OpenAPIResponse, Operation, Parameter, Reference, RequestBody

from musicez.entrypoints.http.problems import PROBLEM_JSON
from musicez.entrypoints.http.reference import accounts, admin_services, passwords_health
from musicez.entrypoints.http.reference.common import (
    BUSY_HASHERS,
    CODE,
    PROBLEMS,
    OperationDoc,
    example,
    invalid,
)

OPERATIONS: dict[str, OperationDoc] = {
    **accounts.OPERATIONS,
    **passwords_health.OPERATIONS,
    **admin_services.OPERATIONS,
}


def _add_examples(operation: Operation, doc: OperationDoc) -> None:
    if doc.request:
        if not isinstance(operation.request_body, RequestBody):
            raise LookupError(f"{doc.summary}: request examples, but the operation takes no body")
        for media in operation.request_body.content.values():
            media.examples = dict(doc.request)
    for status, examples in doc.responses.items():
        response = (operation.responses or {}).get(str(status))
        if not isinstance(response, OpenAPIResponse) or not response.content:
            raise LookupError(f"{doc.summary}: examples for {status}, which has no documented body")
        for media in response.content.values():
            media.examples = dict(examples)
    for parameter in operation.parameters or []:
        if isinstance(parameter, Parameter) and parameter.name in doc.parameters:
            parameter.description = doc.parameters[parameter.name]
    for code, documented in (operation.responses or {}).items():
        if not isinstance(documented, OpenAPIResponse):
            continue
        problems = (documented.content or {}).get(PROBLEM_JSON)
        if problems is not None and not problems.examples:
            problems.examples = _problem_examples(operation, doc, int(code), documented.description or "")


def _problem_examples(
    operation: Operation, doc: OperationDoc, status: int, text: str
) -> dict[str, Example | Reference]:
    """One example per code that the response's description names, as this route words it."""
    codes = [code for code in dict.fromkeys(CODE.findall(text)) if code in PROBLEMS or code in doc.problems]
    if not codes:
        raise LookupError(f"{doc.summary}: the {status} response names no problem code: {text!r}")
    examples: dict[str, Example | Reference] = {}
    for code in codes:
        found = doc.problems.get(code) or PROBLEMS[code]
        if code == "validation_error" and code not in doc.problems and operation.request_body is None:
            name = next((p.name for p in operation.parameters or [] if isinstance(p, Parameter)), "parameter")
            found = invalid(name, "is not valid")  # the generic example is about a body, and there is none
        if found.status != status:
            raise LookupError(f"{doc.summary}: {code} is a {found.status}, documented as a {status}")
        examples[code] = example(found.title, found)
    if status == 503 and "hasher" in text:
        examples["busy"] = example(BUSY_HASHERS.title, BUSY_HASHERS)
    return examples


def _operation_class(doc: OperationDoc) -> type[Operation]:
    """Litestar builds each operation with the handler's `operation_class`: this one adds the examples."""

    @dataclass
    class DocumentedOperation(Operation):
        def __post_init__(self) -> None:
            _add_examples(self, doc)

    return DocumentedOperation


_OPERATION_CLASSES = {key: _operation_class(doc) for key, doc in OPERATIONS.items()}


def operation_key(path: str, handler: HTTPRouteHandler) -> str:
    """`POST /auth/register`, `DELETE /auth/sessions/{session_id}`: as the document names it."""
    path = "/".join(part.split(":", 1)[0] + ("}" if ":" in part else "") for part in path.split("/"))
    return f"{next(iter(sorted(handler.http_methods)))} {path}"


def describe_operations(operations: Iterable[tuple[str, HTTPRouteHandler]]) -> None:
    """Put each operation's reference on its handler (given with its route's full path). Every
    documented route needs one, and every entry a route, so neither can be forgotten."""
    described = set()
    for path, handler in operations:
        key = operation_key(path, handler)
        if key not in OPERATIONS:
            raise LookupError(f"{key} has no entry in the OpenAPI reference (reference.OPERATIONS)")
        doc = OPERATIONS[key]
        handler.summary = doc.summary
        handler.description = doc.description
        handler.response_description = doc.success
        handler.operation_class = _OPERATION_CLASSES[key]
        own = handler.responses or {}
        if handler.status_code in own:  # a route's own success spec (e.g. a 204 that clears the cookie)
            success = dataclasses.replace(own[handler.status_code], description=doc.success)
            handler.responses = {**own, handler.status_code: success}
        described.add(key)
    if stale := set(OPERATIONS) - described:
        raise LookupError(f"reference.OPERATIONS describes routes that are not served: {sorted(stale)}")
