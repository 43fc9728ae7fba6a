"""Worker metrics across processes: prometheus_client's multi-process files, with the process id
read from memory rather than asked of the kernel on every sample (metrics_dir.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, values
from prometheus_client.mmap_dict import MmapedDict

from musicez.entrypoints.metrics_dir import prepare_metrics_dir, process_id


@pytest.fixture
def metrics_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    before = values.ValueClass
    try:
        yield tmp_path
    finally:
        values.ValueClass = before


def _samples(path: Path) -> list[float]:
    found = MmapedDict(str(path))  # type: ignore[no-untyped-call]
    try:
        return [value for _, value, _ in found.read_all_values()]  # type: ignore[no-untyped-call]
    finally:
        found.close()  # type: ignore[no-untyped-call]


def test_a_forked_child_writes_its_samples_under_its_own_process_id(metrics_dir: Path) -> None:
    prepare_metrics_dir(2)
    assert process_id() == os.getpid()
    counter = Counter("forked", "A counter incremented on both sides of a fork", registry=CollectorRegistry())
    counter.inc()

    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        status = 0
        try:
            status = 0 if process_id() == os.getpid() else 3
            counter.inc(5)
        except BaseException:
            status = 4
        finally:
            os._exit(status)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    # Each process in its own file: a child that kept the parent's id would have added to the
    # parent's file (one file, 6), which a scrape cannot tell from two processes' counts.
    assert _samples(metrics_dir / f"counter_{os.getpid()}.db") == [1.0]
    assert _samples(metrics_dir / f"counter_{child}.db") == [5.0]
