"""The security events: typed in `musicez.domain.events`, catalogued in docs/PRODUCTION.md."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from musicez.domain import events
from musicez.domain.events import LoginFailed, RefreshRejected, SecurityEvent, SessionsRevoked, catalogue

DOC = Path(__file__).parents[2] / "docs" / "PRODUCTION.md"


def documented_events() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("Security events are named") : text.index("## Hardening: failure budgets")]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


def test_the_documented_catalogue_is_the_module() -> None:
    assert documented_events() == set(catalogue())


def test_every_event_class_is_catalogued_once() -> None:
    classes = [
        c
        for c in vars(events).values()
        if isinstance(c, type) and issubclass(c, SecurityEvent) and c is not SecurityEvent
    ]
    assert len(classes) == len(catalogue()) == len({c.name for c in classes})


@pytest.mark.parametrize("cls", list(catalogue().values()), ids=lambda c: c.name)
def test_events_are_frozen_and_slotted(cls: type[SecurityEvent]) -> None:
    params = getattr(cls, "__dataclass_params__")  # noqa: B009 - not in typeshed
    assert params.frozen
    assert "__slots__" in vars(cls)
    assert all(f.kw_only for f in dataclasses.fields(cls))


def test_fields_keep_their_order_and_drop_what_is_left_none() -> None:
    assert RefreshRejected(reason="bad_tag").fields() == {"reason": "bad_tag"}
    assert list(RefreshRejected(user_id="u", session_id="s", reason="expired").fields()) == [
        "user_id",
        "session_id",
        "reason",
    ]
    assert LoginFailed().fields() == {}
    revoked = SessionsRevoked(user_id="u", count=0, reason="logout_all", session_ids=[])
    assert revoked.fields() == {"user_id": "u", "count": 0, "reason": "logout_all", "session_ids": []}
