"""Dependency loss and recovery, logged once each (not once per failed request), and told to
whoever listens (the `musicez_dependency_up` gauge).

Most outages end with the next success. One that a success proves nothing about (the database's
schema is behind: a query on an old table still works) is lost `until_checked`, and only
`ok(checked=True)`, from the adapter's own check, ends it; otherwise every success in between
would log a recovery and the next failure the outage again, once per request."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("musicez.dependencies")


class Dependency:
    __slots__ = ("_down", "_listeners", "_until_checked", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._down = False
        self._until_checked = False
        self._listeners: list[Callable[[bool], None]] = []

    @property
    def up(self) -> bool:
        return not self._down

    def listen(self, listener: Callable[[bool], None]) -> None:
        self._listeners.append(listener)
        listener(self.up)

    def unlisten(self, listener: Callable[[bool], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    @property
    def until_checked(self) -> bool:
        """Down, and only a check (`ok(checked=True)`) can tell that it is back."""
        return self._until_checked

    def lost(self, error: BaseException, detail: str | None = None, *, until_checked: bool = False) -> None:
        """Logged once an outage; an outage that a check must end is logged when it starts too, or
        when it becomes one (the database came back without its schema): at most twice."""
        if self._down and (self._until_checked or not until_checked):
            return
        was_down, self._down, self._until_checked = self._down, True, until_checked
        root = error
        while root.__cause__ is not None:  # the driver's own error, not a wrapper's name
            root = root.__cause__
        why = detail or type(root).__name__
        log.error("%s unavailable (%s): answering 503 until it is back", self.name, why)
        if not was_down:
            self._tell(False)

    def ok(self, *, checked: bool = False) -> None:
        """Called on every success: one attribute check unless this is the recovery. `checked`: the
        success is the check itself, which ends an outage lost `until_checked` too."""
        if not self._down or (self._until_checked and not checked):
            return
        self._down = self._until_checked = False
        log.warning("%s is back: serving again", self.name)
        self._tell(True)

    def _tell(self, up: bool) -> None:
        for listener in self._listeners:
            listener(up)


REDIS = Dependency("redis")
DATABASE = Dependency("database")
