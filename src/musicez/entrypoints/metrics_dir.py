"""Metrics across worker processes: prometheus_client shares them through files in
PROMETHEUS_MULTIPROC_DIR. Without it each worker would count alone, and a scrape that lands on
another worker would see counters go backwards."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from prometheus_client import values

log = logging.getLogger("musicez")
VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir(workers: int) -> Path | None:
    """Before the workers start: with several of them, make sure there is a directory (a fresh
    private one when none is given), and empty it, so counts of an earlier run never leak in."""
    given = os.environ.get(VARIABLE)
    if workers <= 1 and not given:
        return None
    if not given:
        given = tempfile.mkdtemp(prefix="musicez-metrics-")
        os.environ[VARIABLE] = given  # the workers (forked or spawned) inherit it
        log.info("%s not set: worker metrics are shared through %s", VARIABLE, given)
    directory = Path(given)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    # prometheus_client picked its value class when it was imported; pick again now that the
    # directory is known (forked workers inherit this module state). Its default asks the kernel
    # for the process id on every sample written (to notice a fork), three system calls a request;
    # `process_id` answers the same from memory, refreshed in every forked child.
    values.ValueClass = values.MultiProcessValue(process_identifier=process_id)  # type: ignore[no-untyped-call]
    return directory


_pid = os.getpid()


def process_id() -> int:
    """`os.getpid()` without a system call: the id is read again in each child after a fork."""
    return _pid


def _forked() -> None:
    global _pid  # noqa: PLW0603 - one value per process, renewed by the fork hook
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)
