"""One store for a team: a DuckLake catalog on PostgreSQL (see ``backend``), its upkeep and time travel."""

from __future__ import annotations

from duckml import store as _store


def _open_lake(spec: str, data_path: str | None):
    from duckml.lake.backend import LakeStore  # loads nothing heavy; the extensions load on first use

    return LakeStore(spec, data_path)


_store.register_backend("ducklake:", _open_lake)
