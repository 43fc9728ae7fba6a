"""The user-agent parser is cheap and bounded (issue 11, item 15): a long UA is cut before it is
parsed, parsed with the RE2 resolver (google-re2), and cached, so the same 512-character UA costs
next to nothing the second time and many different ones cannot stall the event loop."""

from __future__ import annotations

import random
import string
import time

from musicez.entrypoints.http.device import _label, device_label

CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 "
)


def long_user_agent(seed: int) -> str:
    rng = random.Random(seed)
    return (CHROME + "".join(rng.choices(string.ascii_letters + " /;()._", k=600)))[:512]


def test_the_same_long_user_agent_costs_little_the_second_time() -> None:
    user_agent = long_user_agent(1)
    assert len(user_agent) == 512
    first = device_label(user_agent)
    started = time.perf_counter()
    for _ in range(100):
        assert device_label(user_agent) == first
    assert (time.perf_counter() - started) / 100 < 0.0002  # a cache hit: microseconds
    assert first == "Chrome on Mac OS X"


def test_many_different_long_user_agents_stay_cheap() -> None:
    device_label(long_user_agent(0))  # warm the resolver up
    agents = [long_user_agent(seed) for seed in range(100, 140)]
    started = time.perf_counter()
    for user_agent in agents:
        device_label(user_agent)
    per_parse = (time.perf_counter() - started) / len(agents)
    assert per_parse < 0.003, f"{per_parse * 1000:.2f} ms per parse"  # the basic resolver: ~6 ms


def test_the_cache_is_bounded_and_keys_are_cut() -> None:
    device_label("x" * 100_000)
    info = _label.cache_info()
    assert info.maxsize is not None
    assert info.maxsize <= 4096
    assert device_label("Curl/8.0 " + "y" * 10_000) == device_label("Curl/8.0 " + "y" * 20_000)
