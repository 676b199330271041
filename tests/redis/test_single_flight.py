"""Single-flight across hosts sharing one Redis: the same uncached call (or GET) asked of
two hosts at once reaches the upstream once, and a leader that died (its lease left
behind) is taken over by a follower once the lease runs out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from corral._calls.result_cache import result_key

from ..redis_services import RedisSpace
from .hosts import API, hosts, upstream

DEADLINE_S = 20.0


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def followers(space: RedisSpace) -> int:
    channels = [c for c in space.client.pubsub_channels(f"{space.prefix}done:*")]
    return sum(n for _, n in space.client.pubsub_numsub(*channels)) if channels else 0


def test_one_uncached_call_on_two_hosts_at_once_reaches_the_upstream_once(
        tmp_path: Path, redis_space: RedisSpace) -> None:
    release = threading.Event()
    with upstream(release) as server, hosts(tmp_path, redis_space.url, server.port) as (a, b):
        url = f"http://{API}/slow"
        first = a.submit_call("fetcher", "Summary", url)
        eventually(lambda: server.hits("/slow") == 1, "A's request reached the upstream")
        second = b.submit_call("fetcher", "Summary", url)
        eventually(lambda: followers(redis_space) == 1, "B waits for A's flight")
        release.set()
        assert first.result(DEADLINE_S) == second.result(DEADLINE_S) == "/slow is ok"
        assert server.hits("/slow") == 1


def test_one_get_on_two_hosts_at_once_reaches_the_upstream_once(
        tmp_path: Path, redis_space: RedisSpace) -> None:
    release = threading.Event()
    with upstream(release) as server, hosts(tmp_path, redis_space.url, server.port) as (a, b):
        url = f"http://{API}/slow"
        first = a.submit_call("fetcher", "Cached", url, 600)
        eventually(lambda: server.hits("/slow") == 1, "A's GET reached the upstream")
        second = b.submit_call("fetcher", "Cached", url, 600)
        eventually(lambda: followers(redis_space) == 1, "B waits for A's GET")
        release.set()
        assert first.result(DEADLINE_S) == second.result(DEADLINE_S)
        assert server.hits("/slow") == 1


def test_a_follower_takes_over_from_a_leader_that_died(
        tmp_path: Path, redis_space: RedisSpace) -> None:
    with upstream() as server, hosts(tmp_path, redis_space.url, server.port,
                                     count=1) as (a,):
        url = f"http://{API}/data"
        resolved = a.resolve("fetcher", "Summary")
        key = result_key(resolved.pack, resolved.pack_hash, resolved.formula.name, [url],
                         None, None, a.invocation().cache_scope())
        # A node killed while leading this call leaves its lock, with a lease nobody renews.
        lock = f"{redis_space.prefix}lock:r:{key.hex()}"
        assert redis_space.client.set(lock, "dead-node", nx=True, px=1500)
        future = a.submit_call("fetcher", "Summary", url)
        eventually(lambda: followers(redis_space) == 1, "the host waits for the dead leader")
        assert server.hits("/data") == 0, "nobody runs it while the lease lives"
        assert future.result(DEADLINE_S) == "/data is ok"  # once the lease ran out
        assert server.hits("/data") == 1
        assert redis_space.client.get(lock) is None, "the new leader let go of its lock"


def test_a_leader_that_runs_past_its_lease_keeps_it_while_it_lives(
        tmp_path: Path, redis_space: RedisSpace) -> None:
    release = threading.Event()
    # evaluate_deadline_s=6 makes the lease 1 s: the leader below runs for 2.5 s.
    with upstream(release) as server, hosts(tmp_path, redis_space.url, server.port,
                                            evaluate_deadline_s=6) as (a, b):
        url = f"http://{API}/slow"
        first = a.submit_call("fetcher", "Summary", url)
        eventually(lambda: server.hits("/slow") == 1, "A's request reached the upstream")
        second = b.submit_call("fetcher", "Summary", url)
        eventually(lambda: followers(redis_space) == 1, "B waits for A's flight")
        time.sleep(2.5)  # past two leases: only renewal keeps B from taking over
        release.set()
        assert first.result(DEADLINE_S) == second.result(DEADLINE_S) == "/slow is ok"
        assert server.hits("/slow") == 1
