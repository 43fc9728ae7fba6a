"""Reprs that never show a secret: a traceback, a log line or a debugger prints `<hidden>`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T", bound=type)

HIDDEN = "<hidden>"
# Every field of that name, in any command or body, is a secret.
SECRET_FIELDS = frozenset(
    {
        "password",
        "current_password",
        "new_password",
        "token",
        "access_token",
        "refresh_token",
        "device_token",
        "secret",
        "key",
    }
)


def _field_names(cls: type) -> tuple[str, ...]:
    struct_fields = getattr(cls, "__struct_fields__", None)  # a msgspec Struct
    if struct_fields is not None:
        return tuple(struct_fields)
    return tuple(f.name for f in dataclasses.fields(cls))


def hide_secrets(cls: T) -> T:
    """Class decorator (dataclasses and msgspec structs): the repr shows every field of
    `SECRET_FIELDS` as `<hidden>`, including fields added to the class later in its body."""

    def hidden_repr(self: Any) -> str:
        shown = (
            f"{name}={HIDDEN if name in SECRET_FIELDS else repr(getattr(self, name, None))}"
            for name in _field_names(type(self))
        )
        return f"{type(self).__name__}({', '.join(shown)})"

    def hidden_rich_repr(self: Any) -> Any:
        for name in _field_names(type(self)):
            yield name, HIDDEN if name in SECRET_FIELDS else getattr(self, name, None)

    setter: Callable[[Any, str, Any], None] = setattr
    setter(cls, "__repr__", hidden_repr)
    setter(cls, "__rich_repr__", hidden_rich_repr)
    return cls
