"""`Dependency`: an outage is logged once when it starts and once when it ends, whatever order
successes and failures arrive in; one lost `until_checked` (the database's schema behind) ends
only with the check's own success, so the successes in between flip nothing."""

from __future__ import annotations

import logging
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from musicez.adapters.outages import Dependency

Event = Literal["lost", "lost_until_checked", "ok", "ok_checked"]
EVENTS: tuple[Event, ...] = ("lost", "lost_until_checked", "ok", "ok_checked")


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def apply(dependency: Dependency, event: Event) -> None:
    if event == "lost":
        dependency.lost(ConnectionRefusedError())
    elif event == "lost_until_checked":
        dependency.lost(RuntimeError("schema"), "behind", until_checked=True)
    elif event == "ok":
        dependency.ok()
    else:
        dependency.ok(checked=True)


@given(st.lists(st.sampled_from(EVENTS), max_size=40))
def test_each_outage_is_logged_once_each_way_and_told_once_each_way(events: list[Event]) -> None:
    dependency = Dependency("thing")
    told: list[bool] = []
    dependency.listen(told.append)
    recorder = Recorder()
    log = logging.getLogger("musicez.dependencies")
    log.addHandler(recorder)
    try:
        down = until_checked = False  # the model
        lost_lines = back_lines = 0
        for event in events:
            apply(dependency, event)
            if event.startswith("lost"):
                if not down or (event == "lost_until_checked" and not until_checked):
                    lost_lines += 1  # a start, or a plain outage that turns out to need the check
                down = True
                until_checked = until_checked or event == "lost_until_checked"
            elif down and (event == "ok_checked" or not until_checked):
                down = until_checked = False
                back_lines += 1
            assert dependency.up is not down
            assert dependency.until_checked is until_checked
    finally:
        log.removeHandler(recorder)
    assert sum("unavailable" in m for m in recorder.messages) == lost_lines
    assert sum("serving again" in m for m in recorder.messages) == back_lines
    assert told == [True] + [False, True] * back_lines + ([False] if down else [])  # the gauge


@pytest.mark.parametrize("successes", [1, 50])
def test_successes_during_a_schema_outage_log_nothing(successes: int, caplog: pytest.LogCaptureFixture) -> None:
    dependency = Dependency("database")
    with caplog.at_level(logging.INFO, "musicez.dependencies"):
        for _ in range(successes):
            dependency.lost(RuntimeError(), "The database schema is not up to date", until_checked=True)
            dependency.ok()
        assert not dependency.up
        dependency.ok(checked=True)
    assert [r.getMessage() for r in caplog.records] == [
        "database unavailable (The database schema is not up to date): answering 503 until it is back",
        "database is back: serving again",
    ]
