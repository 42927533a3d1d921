"""The bytes of a journal segment, and how a reader tells a good record from a damaged one.

Two formats exist, told apart by the segment's name (a checksummed segment's name ends in ``-c1``):

- **legacy** (no suffix): metrics are 32-byte records ``(series u32, flags u32, value f64, step i64,
  timestamp_us i64)`` and events are bare JSON lines ``[ts_ns, op, table, row]``. Still read, never written.
- **checksummed** (``-c1``): a metric record is ``(crc u32, series u32, value f64, step i64, timestamp_us
  i64)`` where ``crc`` is the CRC-32 of the 28 bytes after it; an event line is ``<crc32 as 8 hex digits>
  <space><json>``, the CRC taken over the JSON bytes.

A writer computes one ``zlib.crc32`` per record (~0.1 µs). A reader checks a whole batch of metric records
at once in numpy: CRC-32 is affine over GF(2), so the CRC of a fixed-length record is the XOR of one table
entry per 16-bit word of it (14 look-ups per record, vectorized), with no per-record Python.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

CHECKSUMMED_SUFFIX = "-c1"

LEGACY_METRIC_DTYPE = np.dtype(
    [("series", "<u4"), ("flags", "<u4"), ("value", "<f8"), ("step", "<i8"), ("timestamp", "<i8")]
)
METRIC_DTYPE = np.dtype(
    [("crc", "<u4"), ("series", "<u4"), ("value", "<f8"), ("step", "<i8"), ("timestamp", "<i8")]
)
RECORD_SIZE = 32
METRIC_BODY = struct.Struct("<Idqq")  # the 28 checksummed bytes after the crc
assert METRIC_DTYPE.itemsize == LEGACY_METRIC_DTYPE.itemsize == RECORD_SIZE == METRIC_BODY.size + 4

_BODY_WORDS = METRIC_BODY.size // 2
_tables: np.ndarray | None = None  # (14, 65536) uint32, built on first use (~4 MB)
_crc_of_zero_body = zlib.crc32(bytes(METRIC_BODY.size))


def is_checksummed(segment: str) -> bool:
    return segment.endswith(CHECKSUMMED_SUFFIX)


def encode_metric(series: int, value: float, step: int, timestamp_us: int) -> bytes:
    """One checksummed 32-byte metric record."""
    body = METRIC_BODY.pack(series, value, step, timestamp_us)
    return zlib.crc32(body).to_bytes(4, "little") + body


def encode_event(payload: str) -> bytes:
    """One checksummed event line (``payload`` is the JSON text)."""
    data = payload.encode()
    return b"%08x %s\n" % (zlib.crc32(data), data)


def _word_tables() -> np.ndarray:
    global _tables
    if _tables is None:
        # the CRC contribution of each byte value at each position of a zero body, then of each 16-bit word
        per_byte = np.empty((METRIC_BODY.size, 256), dtype=np.uint32)
        for position in range(METRIC_BODY.size):
            body = bytearray(METRIC_BODY.size)
            for value in range(256):
                body[position] = value
                per_byte[position, value] = zlib.crc32(body) ^ _crc_of_zero_body
        words = np.arange(65536, dtype=np.uint32)
        low, high = words & 0xFF, words >> 8
        _tables = np.stack([per_byte[2 * i][low] ^ per_byte[2 * i + 1][high] for i in range(_BODY_WORDS)])
    return _tables


def body_crcs(records: np.ndarray) -> np.ndarray:
    """The CRC-32 of the 28-byte body of each checksummed metric record, vectorized."""
    raw = np.frombuffer(records.tobytes(), dtype=np.uint8).reshape(-1, RECORD_SIZE)
    words = np.ascontiguousarray(raw[:, 4:]).view("<u2")
    tables = _word_tables()
    crc = np.full(len(records), _crc_of_zero_body, dtype=np.uint32)
    for i in range(_BODY_WORDS):
        crc ^= tables[i][words[:, i]]
    return crc


def stamp_metrics(records: np.ndarray) -> None:
    """Fill in the ``crc`` field of freshly built checksummed records (a bulk write)."""
    if len(records):
        records["crc"] = body_crcs(records)


def decode_metrics(raw: bytes, checksummed: bool) -> tuple[np.ndarray, int | None]:
    """The complete metric records in ``raw`` up to the first bad one; and that record's index (or None).

    A torn tail (fewer than 32 bytes) is not a record yet. Legacy records carry no checksum: their
    damage is found later, when a point names a series that was never declared.
    """
    whole = len(raw) - len(raw) % RECORD_SIZE
    if not checksummed:
        return np.frombuffer(raw[:whole], dtype=LEGACY_METRIC_DTYPE), None
    records = np.frombuffer(raw[:whole], dtype=METRIC_DTYPE)
    bad = np.flatnonzero(body_crcs(records) != records["crc"]) if len(records) else []
    if len(bad):
        return records[: int(bad[0])], int(bad[0])
    return records, None


def decode_event_line(line: bytes, checksummed: bool) -> list:
    """One event ``[ts_ns, op, table, row]``; raises ValueError for a line that is not a good record."""
    if checksummed:
        if len(line) < 10 or line[8:9] != b" ":
            raise ValueError("no checksum")
        payload = line[9:]
        if int(line[:8], 16) != zlib.crc32(payload):
            raise ValueError("checksum mismatch")
    else:
        payload = line
    event = json.loads(payload)  # UnicodeDecodeError and JSONDecodeError are ValueErrors
    if not (isinstance(event, list) and len(event) == 4 and isinstance(event[0], int)
            and isinstance(event[1], str) and isinstance(event[2], str) and isinstance(event[3], dict)):
        raise ValueError("not an event")
    return event
