"""Dependency loss and recovery, logged once each (not once per failed request), and told to
whoever listens (the `musicez_dependency_up` gauge)."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("musicez.dependencies")


class Dependency:
    __slots__ = ("_down", "_listeners", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._down = False
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

    def lost(self, error: BaseException, detail: str | None = None) -> None:
        if self._down:
            return
        self._down = True
        root = error
        while root.__cause__ is not None:  # the driver's own error, not a wrapper's name
            root = root.__cause__
        why = detail or type(root).__name__
        log.error("%s unavailable (%s): answering 503 until it is back", self.name, why)
        self._tell(False)

    def ok(self) -> None:
        """Called on every success: one attribute check unless this is the recovery."""
        if not self._down:
            return
        self._down = False
        log.warning("%s is back: serving again", self.name)
        self._tell(True)

    def _tell(self, up: bool) -> None:
        for listener in self._listeners:
            listener(up)


REDIS = Dependency("redis")
DATABASE = Dependency("database")
