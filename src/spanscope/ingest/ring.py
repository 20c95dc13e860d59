"""Which collector owns a trace: rendezvous (highest-random-weight) hashing on the trace id.

``spanscope serve --peers a:4318,b:4318,c:4318`` runs N collectors; each forwards every
span to the collector that owns its trace id, so one tail sampler sees every span of a
trace and decides it whole (:mod:`spanscope.ingest.forward`)::

    ring = Ring(["10.0.0.1:4318", "10.0.0.2:4318", "10.0.0.3:4318"])
    ring.owner(bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"))   # '10.0.0.2:4318'
    ring.owners(table["trace_hi"], table["trace_lo"])               # peer index per row

**Rendezvous hashing** (Thaler & Ravishankar, 1996): every peer gets a score for the trace,
``mix(trace key XOR peer seed)``, and the highest score owns it. The same peer list, in any
order, gives the same owner on every collector; a peer leaving moves only its own traces
(1/N of them) and a peer joining takes 1/N from the others; no virtual nodes to tune. The
peer seed is a fixed hash of its ``host:port`` (BLAKE2b, not Python's salted ``hash()``),
and ``mix`` is the SplitMix64 finaliser, so :meth:`Ring.owners` computes it for a whole
Arrow column in C (a few vector operations per peer) and :meth:`Ring.owner` gives the same
answer one id at a time.

The OpenTelemetry Collector's ``loadbalancingexporter`` does the same job with a hash
ring (CRC32, 100 points per endpoint); see docs/scaling.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

_MASK = (1 << 64) - 1
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB
_GOLDEN = 0x9E3779B97F4A7C15


class PeerListError(ValueError):
    """A ``--peers`` / ``--peer-self`` value that cannot be used, with the reason."""


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * _C1) & _MASK
    z = ((z ^ (z >> 27)) * _C2) & _MASK
    return z ^ (z >> 31)


def _mix_array(z: pa.Array) -> pa.Array:
    def u(n: int) -> pa.Scalar:
        return pa.scalar(n, pa.uint64())

    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, u(30))), u(_C1))  # wraps mod 2**64
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, u(27))), u(_C2))
    return pc.bit_wise_xor(z, pc.shift_right(z, u(31)))


def _seed(peer: str) -> int:
    return int.from_bytes(hashlib.blake2b(peer.encode(), digest_size=8).digest(), "big")


class Ring:
    """The owner of each trace among ``peers`` (``host:port`` strings; see the module)."""

    def __init__(self, peers: Sequence[str]) -> None:
        if not peers:
            raise PeerListError("no peers: a ring needs at least one host:port")
        self.peers: tuple[str, ...] = tuple(sorted(set(peers)))
        """Sorted, so that list order on the command line does not matter."""
        self._seeds = [_seed(p) for p in self.peers]

    @staticmethod
    def _key(hi: int, lo: int) -> int:
        return _mix(hi ^ ((lo * _GOLDEN) & _MASK))

    def owner(self, trace_id: bytes) -> str:
        """The peer that owns the trace with this 16-byte id."""
        key = self._key(int.from_bytes(trace_id[:8], "big"), int.from_bytes(trace_id[8:], "big"))
        scores = [_mix(key ^ seed) for seed in self._seeds]
        return self.peers[scores.index(max(scores))]

    def owners(self, trace_hi: pa.Array, trace_lo: pa.Array) -> pa.Array:
        """The index into :attr:`peers` of each row's owner (int8), from the trace id's
        high and low 64-bit halves (the span batch's ``trace_hi`` / ``trace_lo``)."""
        if isinstance(trace_hi, pa.ChunkedArray):
            trace_hi = trace_hi.combine_chunks()
        if isinstance(trace_lo, pa.ChunkedArray):
            trace_lo = trace_lo.combine_chunks()
        n = len(trace_hi)
        if len(self.peers) == 1:
            return pa.array([0] * n, pa.int8())
        golden = pa.scalar(_GOLDEN, pa.uint64())
        key = _mix_array(pc.bit_wise_xor(trace_hi, pc.multiply(trace_lo, golden)))
        best = _mix_array(pc.bit_wise_xor(key, pa.scalar(self._seeds[0], pa.uint64())))
        owner = pa.array([0] * n, pa.int8())
        for i, seed in enumerate(self._seeds[1:], start=1):
            score = _mix_array(pc.bit_wise_xor(key, pa.scalar(seed, pa.uint64())))
            higher = pc.greater(score, best)  # ties keep the earlier peer, as max() does
            owner = pc.if_else(higher, pa.scalar(i, pa.int8()), owner)
            best = pc.if_else(higher, score, best)
        return owner


def parse_peer(text: str, what: str = "peer") -> str:
    """``host:port`` (IPv6 as ``[::1]:4318``) checked and stripped; PeerListError if not."""
    entry = text.strip()
    host, sep, port = entry.rpartition(":")
    if not sep or not host or not port or host in ("[", "[]"):
        raise PeerListError(
            f"{what} {entry!r}: expected host:port (the peer's OTLP/HTTP address, "
            "e.g. 10.0.0.2:4318)"
        )
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise PeerListError(f"{what} {entry!r}: port {port!r} is not a number in 1..65535")
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise PeerListError(f"{what} {entry!r}: write an IPv6 address in brackets, [::1]:4318")
    return entry


def parse_peers(text: str) -> tuple[str, ...]:
    """``--peers a:4318,b:4318`` -> ('a:4318', 'b:4318'), naming the first bad entry."""
    entries = [e for e in (part.strip() for part in text.split(",")) if e]
    if not entries:
        raise PeerListError(
            f"--peers {text!r}: no peers; list every collector's host:port, comma-separated"
        )
    peers = tuple(parse_peer(e) for e in entries)
    seen: set[str] = set()
    for peer in peers:
        if peer in seen:
            raise PeerListError(f"--peers {text!r}: {peer!r} is listed twice")
        seen.add(peer)
    return peers
