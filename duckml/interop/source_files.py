"""Reading an import's source folder without leaving it: no symlink followed, no YAML alias, bounded reads.

An MLflow store or a bundle is data someone handed over. A symlink in it (``params/x -> ~/.ssh/id_ed25519``)
or an artifact URI naming another folder would import files the user never gave, which the UI then serves
and ``export`` ships; a YAML alias can make a few hundred bytes expand to gigabytes. So every folder and
file is listed with ``lstat`` semantics, a symlink is skipped and noted, the last path component is opened
with ``O_NOFOLLOW``, and YAML is read by a safe loader that refuses anchors and aliases.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from duckml.errors import InvalidInputError

MAX_YAML_BYTES = 1 << 20  # MLflow's meta.yaml files are a few hundred bytes
MAX_VALUE_BYTES = 1 << 20  # a param/tag file: MLflow caps values at 8,000 characters (tags) and 6,000 (params)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class SourceTree:
    """A source folder read without following symlinks; ``notes`` collects what was skipped and why.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "params").mkdir(); _ = (root / "params" / "C").write_text("0.1")
    >>> (root / "params" / "key").symlink_to("/etc/hostname")
    >>> tree = SourceTree(root)
    >>> [(key, tree.read_text(path)) for key, path in tree.files(root / "params")]
    [('C', '0.1')]
    >>> tree.notes  # doctest: +ELLIPSIS
    ['skipped .../params/key: it is a symlink, and an import reads only the files it was given']
    """

    def __init__(self, root: Path, notes: list[str] | None = None):
        self.root = Path(root)
        self.notes = notes if notes is not None else []

    def _kind(self, path: Path) -> int | None:
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        except OSError as error:
            raise InvalidInputError(f"cannot read {path}: {error.strerror}") from None
        if stat.S_ISLNK(mode):
            self.notes.append(f"skipped {path}: it is a symlink, and an import reads only the files it was given")
            return None
        return stat.S_IFMT(mode)

    def dir(self, path: Path) -> Path | None:
        """``path`` if it is a folder (not a symlink to one), else None."""
        return path if self._kind(path) == stat.S_IFDIR else None

    def file(self, path: Path) -> Path | None:
        """``path`` if it is a regular file (not a symlink to one), else None."""
        return path if self._kind(path) == stat.S_IFREG else None

    def _entries(self, folder: Path) -> list[Path]:
        try:
            return sorted(folder.iterdir())
        except OSError as error:
            raise InvalidInputError(f"cannot list {folder}: {error.strerror}") from None

    def subdirs(self, folder: Path | None) -> list[Path]:
        """The folders directly in ``folder``, sorted; symlinks are skipped and noted."""
        if folder is None or self.dir(folder) is None:
            return []
        return [p for p in self._entries(folder) if self.dir(p) is not None]

    def files(self, folder: Path | None) -> list[tuple[str, Path]]:
        """Every regular file under ``folder`` as (relative POSIX path, path), sorted; links skipped and noted."""
        if folder is None or self.dir(folder) is None:
            return []
        found = []
        pending = [folder]
        while pending:
            current = pending.pop()
            for entry in self._entries(current):
                kind = self._kind(entry)
                if kind == stat.S_IFDIR:
                    pending.append(entry)
                elif kind == stat.S_IFREG:
                    found.append((entry.relative_to(folder).as_posix(), entry))
        return sorted(found)

    def read_bytes(self, path: Path, limit: int | None = None) -> bytes:
        """The bytes of a regular file, opened without following a symlink in its last component."""
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        except OSError as error:
            raise InvalidInputError(f"cannot read {path}: {error.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(-1 if limit is None else limit + 1)
        if limit is not None and len(data) > limit:
            raise InvalidInputError(f"{path} is larger than {limit} bytes, too large for what it should hold")
        return data

    def read_text(self, path: Path, limit: int | None = None) -> str:
        """A regular file's text, which must be UTF-8."""
        data = self.read_bytes(path, limit)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidInputError(f"{path} is not valid UTF-8 text (byte {data[error.start]:#04x} at offset "
                                    f"{error.start})") from None

    def yaml(self, path: Path) -> dict:
        """A YAML mapping (anything else reads as empty); aliases and anchors are refused."""
        data = load_yaml(self.read_text(path, MAX_YAML_BYTES), str(path))
        return data if isinstance(data, dict) else {}


def _no_alias_loader():
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        """SafeLoader without anchors and aliases: a "billion laughs" document cannot expand."""

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise yaml.composer.ComposerError(None, None, "YAML anchors and aliases are not accepted",
                                                  event.start_mark)
            return super().compose_node(parent, index)

    return NoAliasLoader


def load_yaml(text: str, what: str):
    """Parse YAML safely, refusing anchors and aliases (``what`` names the file in the error).

    >>> load_yaml("name: churn", "meta.yaml")
    {'name': 'churn'}
    >>> load_yaml("a: &x [1]\\nb: *x", "meta.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    duckml.errors.InvalidInputError: meta.yaml is not valid YAML: YAML anchors and aliases are not accepted...
    """
    import yaml

    try:
        return yaml.load(text, Loader=_no_alias_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise InvalidInputError(f"{what} is not valid YAML: {' '.join(str(error).split())}") from None


def inside(path: Path, bases: list[Path]) -> tuple[Path | None, str]:
    """``path`` made absolute if it lies in one of ``bases`` with no symlink below that base, else
    (None, why not). Checked on the path as written ('..' resolved by name), then walked component by
    component from the real base, so what is returned is what was checked.

    >>> inside(Path("/data/mlruns/1/x/artifacts"), [Path("/data/mlruns")])[1]
    ''
    >>> inside(Path("/home/me/.ssh"), [Path("/data/mlruns")])[1]
    'it is outside the tracking folder'
    """
    target = Path(os.path.abspath(path))
    for base in bases:
        real_base = Path(os.path.realpath(base))
        for form in dict.fromkeys([Path(os.path.abspath(base)), real_base]):
            if target != form and form not in target.parents:
                continue
            current = real_base
            for part in target.relative_to(form).parts:
                current = current / part
                if current.is_symlink():
                    return None, f"{current} is a symlink"
            return current, ""
    return None, "it is outside the tracking folder"
