"""The users file of `duckml ui --auth`: salted scrypt hashes only, mode 0600, replaced atomically, refused
when others may read it or it is not what duckml writes; the `duckml ui users` commands."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from duckml.cli import cli
from duckml.errors import InvalidInputError, NotFoundError
from duckml.ui.users import UsersFileError, add_user, list_users, load_users


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_add_list_remove_through_the_cli_with_the_password_on_stdin(tmp_path):
    users = tmp_path / "users.json"
    runner = CliRunner()
    for name, role in (("ada", "admin"), ("bob", "viewer")):
        result = runner.invoke(cli, ["ui", "users", "add", name, "--role", role, "--users-file", str(users)],
                               input="a long secret\n")
        assert result.exit_code == 0, result.output
    assert _mode(users) == 0o600
    assert "a long secret" not in users.read_text()
    listed = runner.invoke(cli, ["ui", "users", "list", "--users-file", str(users), "--format", "json"])
    assert json.loads(listed.output) == [{"name": "ada", "role": "admin"}, {"name": "bob", "role": "viewer"}]
    assert runner.invoke(cli, ["ui", "users", "remove", "bob", "--users-file", str(users)]).exit_code == 0
    assert list_users(users) == [("ada", "admin")]
    assert load_users(users)["ada"].check("a long secret") and not load_users(users)["ada"].check("wrong one")
    assert _mode(users) == 0o600
    assert not [p.name for p in tmp_path.iterdir() if "users" in p.name and p.name != "users.json"]  # no temp file
    missing = runner.invoke(cli, ["ui", "users", "remove", "carl", "--users-file", str(users)])
    assert missing.exit_code == 1 and "no user 'carl'" in missing.output


def test_the_users_cli_as_a_subprocess_reads_the_password_from_stdin(tmp_path):
    users = tmp_path / "users.json"
    done = subprocess.run([sys.executable, "-m", "duckml", "ui", "users", "add", "ada", "--role", "editor",
                           "--users-file", str(users)], input="piped password\n", capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert load_users(users)["ada"].check("piped password")
    assert _mode(users) == 0o600


def test_each_user_gets_a_salt_of_their_own_and_the_parameters_are_recorded(tmp_path):
    users = tmp_path / "users.json"
    add_user(users, "ada", "same password", "viewer")
    add_user(users, "bob", "same password", "viewer")
    entries = json.loads(users.read_text())["users"]
    assert entries["ada"]["password"]["salt"] != entries["bob"]["password"]["salt"]
    assert entries["ada"]["password"]["hash"] != entries["bob"]["password"]["hash"]
    assert {k: entries["ada"]["password"][k] for k in ("alg", "n", "r", "p")} == {"alg": "scrypt", "n": 2**15,
                                                                                 "r": 8, "p": 1}


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o666])
def test_a_users_file_others_may_read_or_write_is_refused(tmp_path, mode):
    users = tmp_path / "users.json"
    add_user(users, "ada", "long enough", "admin")
    users.chmod(mode)
    with pytest.raises(UsersFileError, match="chmod 600"):
        load_users(users)


@pytest.mark.parametrize("text", ["not json", "{}", '{"format": "duckml-users", "version": 1, "users": '
                                  '{"ada": {"role": "boss", "password": {}}}}', "[]"])
def test_a_users_file_in_another_format_is_refused(tmp_path, text):
    users = tmp_path / "users.json"
    users.write_text(text)
    users.chmod(0o600)
    with pytest.raises(UsersFileError, match="not one duckml wrote"):
        load_users(users)


def test_bad_names_roles_and_short_passwords_are_refused(tmp_path):
    users = tmp_path / "users.json"
    with pytest.raises(InvalidInputError, match="role must be one of"):
        add_user(users, "ada", "long enough", "owner")
    with pytest.raises(InvalidInputError, match="user name"):
        add_user(users, "a b", "long enough", "viewer")
    with pytest.raises(InvalidInputError, match="8 to 1000 characters"):
        add_user(users, "ada", "short", "viewer")
    with pytest.raises(InvalidInputError, match="8 to 1000 characters"):
        add_user(users, "ada", "x" * 1001, "viewer")
    with pytest.raises(NotFoundError, match="no users file"):
        load_users(users)
    assert not users.exists()
