"""Generated request ids: 32 hex characters from os.urandom, drawn from a pool refilled every
128 ids; never repeated across refills, and a sane client id is kept."""

from __future__ import annotations

import re

from musicez.entrypoints.http.outer_middleware import _request_id

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_generated_ids_are_distinct_across_many_refills_of_the_pool() -> None:
    ids = [_request_id([(b"host", b"example.com")]) for _ in range(1_000)]
    assert all(HEX32.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_sane_client_id_is_kept_and_an_insane_one_replaced() -> None:
    assert _request_id([(b"x-request-id", b"abc-123")]) == "abc-123"
    assert HEX32.fullmatch(_request_id([(b"x-request-id", b"no spaces allowed")]))
