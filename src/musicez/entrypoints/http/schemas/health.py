"""Bodies of the health routes."""

from __future__ import annotations

from typing import Annotated

import msgspec

from musicez.entrypoints.http.schemas.fields import HealthState, doc


class Status(msgspec.Struct, frozen=True):
    status: HealthState


class DependencyOut(msgspec.Struct, frozen=True):
    status: HealthState
    latency_ms: Annotated[float, doc("How long the check took, in milliseconds", 1.27)]
    error: (
        Annotated[str, doc("Why the check failed (the error's type); null when it passed", "TimeoutError")] | None
    ) = None


class HealthOut(msgspec.Struct, frozen=True):
    status: HealthState
    dependencies: Annotated[
        dict[str, DependencyOut],
        doc("Each dependency by name: `database` and `session_store`"),
    ]
