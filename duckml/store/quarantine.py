"""Damaged journal segments: reported once, then moved aside whole so that nothing unreadable is deleted.

A segment with a record that fails its check (flipped bytes, bytes inserted by a bad copy, a torn write
with later records after it) is read up to that record; everything before it is ingested as usual. Once
its owner is gone, the segment is moved to ``.journal/quarantine/`` with a note (``<segment>.json``) of
the reason and of the offsets already ingested, so someone can inspect or repair it without duplicating
what the store already holds. The rest of the store is never blocked by it.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from duckml.store import journal

QUARANTINE = "quarantine"


class JournalDamageWarning(UserWarning):
    """A journal segment holds a damaged record; the records before it are kept."""


_reported: set[str] = set()


def report(segment: str, reason: str) -> None:
    """Warn once per process about a damaged segment still in the journal."""
    if segment in _reported:
        return
    _reported.add(segment)
    warnings.warn(f"duckml: journal segment {segment} is damaged: {reason}; the records before it are "
                  "used, the rest is kept in the journal until its writer exits, then moved to "
                  f".journal/{QUARANTINE}/", JournalDamageWarning, stacklevel=3)


def quarantine_segment(journal_dir: Path, segment: str, reason: str, events_offset: int,
                       metrics_offset: int) -> Path:
    """Move a finished, damaged segment aside whole, with a note; return the quarantine folder."""
    target = journal_dir / QUARANTINE
    target.mkdir(exist_ok=True)
    note = {"segment": segment, "reason": reason,
            "ingested_events_offset": events_offset, "ingested_metrics_offset": metrics_offset,
            "help": "bytes before these offsets are already in the DuckDB file; the rest was not ingested"}
    (target / f"{segment}.json").write_text(json.dumps(note, indent=2) + "\n")
    for suffix in (".metrics", ".lock", ".events"):  # .events last: it is what lists the segment
        try:
            os.replace(journal_dir / f"{segment}{suffix}", target / f"{segment}{suffix}")
        except FileNotFoundError:
            pass
    message = (f"duckml: journal segment {segment} is damaged ({reason}); the records before the damage are "
               f"in the store, the segment was moved to {target} with a note, and nothing was deleted")
    _reported.add(segment)
    warnings.warn(message, JournalDamageWarning, stacklevel=3)
    return target


def quarantined(journal_dir: Path) -> list[str]:
    """Names of the segments moved to quarantine (for ``doctor``-style reports and tests)."""
    return journal.list_segments(journal_dir / QUARANTINE)
