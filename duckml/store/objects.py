"""Content-addressed objects: every artifact's bytes live once under ``objects/<sha[:2]>/<sha256>``.

Files stream through SHA-256 in 1 MiB chunks into a temp file beside the objects, which is then moved into
place atomically, so a crash never leaves a half-written object under a real name.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

CHUNK = 1 << 20
OBJECTS = "objects"
TMP_PREFIX = ".tmp-"


def object_path(artifact_root: Path, sha256: str) -> Path:
    """Where the bytes with this sha256 live.

    >>> object_path(Path("/s.artifacts"), "ab" + "0" * 62).parent.name
    'ab'
    """
    return Path(artifact_root) / OBJECTS / sha256[:2] / sha256


def hash_stream(reader, digest=None, sink=None) -> tuple[str, int]:
    """SHA-256 and size of everything ``reader`` yields, read in 1 MiB chunks; each chunk also goes to
    ``sink`` (a writable file) when given. Pass ``digest`` to continue an existing hash object.

    >>> import io
    >>> hash_stream(io.BytesIO(b"abc"))[1]
    3
    """
    digest = digest if digest is not None else hashlib.sha256()
    size = 0
    while chunk := reader.read(CHUNK):
        digest.update(chunk)
        if sink is not None:
            sink.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, read in chunks.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> file_sha256(f.name)[:8]
    'ba7816bf'
    """
    with open(path, "rb") as reader:
        return hash_stream(reader)[0]


def stage_stream(objects: Path, reader) -> tuple[Path, str, int]:
    """Copy ``reader`` into a temp file beside the objects while hashing it: (temp path, sha256, size)."""
    objects.mkdir(parents=True, exist_ok=True)
    tmp = objects / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as out:
            sha256, size = hash_stream(reader, sink=out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, sha256, size
