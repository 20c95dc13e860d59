"""The peer ring: which collector owns a trace (rendezvous hashing on the trace id)."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from spanscope.ingest.ring import PeerListError, Ring, parse_peers

PEERS = ["127.0.0.1:4318", "127.0.0.1:4328", "127.0.0.1:4338"]


def _ids(n: int, seed: int = 7) -> list[bytes]:
    rnd = __import__("random").Random(seed)
    return [rnd.getrandbits(128).to_bytes(16, "big") for _ in range(n)]


def test_the_same_peer_list_in_any_order_gives_the_same_owner() -> None:
    a, b = Ring(PEERS), Ring(list(reversed(PEERS)))
    for tid in _ids(2000):
        assert a.owner(tid) == b.owner(tid)


def test_traces_spread_over_every_peer() -> None:
    counts = Counter(Ring(PEERS).owner(t) for t in _ids(30_000))
    assert set(counts) == set(PEERS)
    for peer in PEERS:  # 10,000 expected each; 5 sigma is ~250
        assert 9_000 < counts[peer] < 11_000, counts


def test_removing_a_peer_moves_only_its_traces() -> None:
    full, smaller = Ring(PEERS), Ring(PEERS[:2])
    for tid in _ids(5000):
        before = full.owner(tid)
        if before != PEERS[2]:
            assert smaller.owner(tid) == before


def test_the_column_path_agrees_with_one_trace_at_a_time() -> None:
    ids = _ids(3000) + [b"\xff" * 16, b"\x00" * 15 + b"\x01"]
    hi = pa.array([int.from_bytes(t[:8], "big") for t in ids], pa.uint64())
    lo = pa.array([int.from_bytes(t[8:], "big") for t in ids], pa.uint64())
    ring = Ring(PEERS)
    owners = ring.owners(hi, lo).to_pylist()
    assert [ring.peers[i] for i in owners] == [ring.owner(t) for t in ids]


def test_one_peer_owns_everything() -> None:
    ring = Ring(["10.0.0.1:4318"])
    assert {ring.owner(t) for t in _ids(100)} == {"10.0.0.1:4318"}


def test_parse_peers_accepts_hosts_and_ports() -> None:
    assert parse_peers(" 127.0.0.1:4318, localhost:4328 ,[::1]:4338") == (
        "127.0.0.1:4318",
        "localhost:4328",
        "[::1]:4338",
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no peers"),
        ("127.0.0.1", "expected host:port"),
        ("127.0.0.1:http", "port 'http'"),
        ("127.0.0.1:70000", "port '70000'"),
        ("a:1,a:1", "listed twice"),
        (":4318", "expected host:port"),
    ],
)
def test_parse_peers_names_the_bad_entry(text: str, problem: str) -> None:
    with pytest.raises(PeerListError, match=problem):
        parse_peers(text)


def test_the_owner_is_a_fixed_function_of_the_id() -> None:
    # Not Python's salted hash(): every collector process must agree (pinned values).
    ring = Ring(PEERS)
    assert ring.owner(bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")) == "127.0.0.1:4338"
