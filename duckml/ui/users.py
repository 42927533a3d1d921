"""The users file of ``duckml ui --auth``: names, roles and salted scrypt hashes, nothing else.

The file is JSON, written with mode 0600 through a temporary file and ``os.replace`` (a reader sees the old
file or the new one, never half of one). A password is kept only as ``hashlib.scrypt`` of it with a salt of
its own, and the parameters it was hashed with are recorded beside it, so raising them later leaves old
entries checkable. scrypt comes with Python: no C extension to install (argon2-cffi would be one more).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "users.json")
>>> add_user(path, "ada", "correct horse", "admin")
>>> [(u.name, u.role) for u in load_users(path).values()]
[('ada', 'admin')]
>>> load_users(path)["ada"].check("correct horse"), oct(os.stat(path).st_mode & 0o777)
(True, '0o600')
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from duckml.errors import InvalidInputError, NotFoundError

ROLES = ("viewer", "editor", "admin")  # each may do what the ones before it may
FORMAT = "duckml-users"
# scrypt's cost: 2**15 x 8 uses 32 MB and ~0.1 s a check on one core; recorded per user, so it can be raised.
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD, MAX_PASSWORD = 8, 1000


class UsersFileError(InvalidInputError):
    """A users file that cannot be trusted or read: a wrong mode, or not the format duckml writes."""


def role_rank(role: str) -> int:
    """Where a role stands: viewer < editor < admin.

    >>> role_rank("viewer") < role_rank("editor") < role_rank("admin")
    True
    """
    return ROLES.index(role)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=n * r * 128 * 2, dklen=32)


def hash_password(password: str) -> dict:
    """A new salted scrypt hash of ``password``, with its parameters.

    >>> sorted(hash_password("long enough"))
    ['alg', 'hash', 'n', 'p', 'r', 'salt']
    """
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, **SCRYPT)
    return {"alg": "scrypt", **SCRYPT, "salt": base64.b64encode(salt).decode(),
            "hash": base64.b64encode(key).decode()}


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password: dict = field(repr=False)

    def check(self, password: str) -> bool:
        """Whether ``password`` is this user's (compared in constant time)."""
        h = self.password
        key = _scrypt(password, base64.b64decode(h["salt"]), int(h["n"]), int(h["r"]), int(h["p"]))
        return hmac.compare_digest(key, base64.b64decode(h["hash"]))


# A hash to check unknown names against, so that a wrong name costs as long as a wrong password.
_DECOY = User("", "viewer", hash_password(secrets.token_urlsafe(16)))


def check_password(users: dict[str, User], name: str, password: str) -> User | None:
    """The user ``name`` if ``password`` is theirs, else None; the same work either way."""
    user = users.get(name)
    ok = (user or _DECOY).check(password)
    return user if ok and user is not None else None


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidInputError(f"user name {name!r} must be 1-64 letters, digits or . _ @ - "
                                "(starting with a letter or digit)")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def check_mode(path: Path) -> None:
    """Refuse a users file that others than its owner may read or write (it holds password hashes)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise UsersFileError(f"users file {path} has mode {oct(mode)}: group or others may read or write it; "
                             f"run `chmod 600 {path}` (it must be readable by its owner only)")


def load_users(path: str | os.PathLike) -> dict[str, User]:
    """The users in ``path`` by name; ``UsersFileError`` naming the problem for a wrong mode or format."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no users file at {path} (create it with `duckml ui users add NAME --role admin "
                            f"--users-file {path}`)")
    check_mode(path)
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1:
            raise ValueError(f"not a {FORMAT} version 1 file")
        users = {}
        for name, entry in data["users"].items():
            h = entry["password"]
            if h.get("alg") != "scrypt" or not all(isinstance(h.get(k), int) for k in ("n", "r", "p")):
                raise ValueError(f"user {name!r} has no scrypt hash")
            base64.b64decode(h["salt"], validate=True), base64.b64decode(h["hash"], validate=True)
            users[check_name(name)] = User(name, check_role(entry["role"]), h)
    except (ValueError, KeyError, TypeError, AttributeError, InvalidInputError) as error:
        raise UsersFileError(f"users file {path} is not one duckml wrote ({error}); "
                             "recreate it with `duckml ui users add`") from None
    return users


def _save(path: Path, users: dict[str, User]) -> None:
    data = {"format": FORMAT, "version": 1,
            "users": {u.name: {"role": u.role, "password": u.password} for u in sorted(users.values(),
                                                                                     key=lambda u: u.name)}}
    folder = path.parent if str(path.parent) else Path(".")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _existing(path: Path) -> dict[str, User]:
    return load_users(path) if path.exists() else {}


def add_user(path: str | os.PathLike, name: str, password: str, role: str) -> None:
    """Add ``name`` with ``role`` (or replace their password and role), creating the file if needed."""
    path = Path(path)
    check_name(name), check_role(role)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInputError(f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    users = _existing(path)
    users[name] = User(name, role, hash_password(password))
    _save(path, users)


def remove_user(path: str | os.PathLike, name: str) -> None:
    """Remove ``name``; their sessions end at their next request (the server reads the file again)."""
    path = Path(path)
    users = load_users(path)
    if name not in users:
        raise NotFoundError(f"no user {name!r} in {path}")
    del users[name]
    _save(path, users)


def list_users(path: str | os.PathLike) -> list[tuple[str, str]]:
    """(name, role) of every user, by name."""
    return [(u.name, u.role) for u in sorted(load_users(path).values(), key=lambda u: u.name)]
