"""``duckml ui``: serve the web UI (a group, so that ``duckml ui users add|remove|list`` manage who may sign
in, while ``duckml ui [--host …]`` alone still serves)."""

from __future__ import annotations

import sys

import click

from duckml.cli.output import emit, format_option


@click.group("ui", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on; one other than 127.0.0.1/localhost/::1 needs --auth.")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True, help="Port to serve on.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser tab.")
@click.option("--auth", "users_file", type=click.Path(dir_okay=False), default=None,
              help="Require sign-in with the users in this file (see `duckml ui users add`).")
@click.option("--allowed-host", "allowed_host_names", multiple=True, metavar="NAME",
              help="Also answer requests whose Host is NAME (repeatable): the name colleagues use.")
@click.option("--forwarded-allow-ips", default=None, metavar="IPS",
              help="Trust X-Forwarded-For/-Proto from these proxy addresses (comma-separated, or *).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes, to serve several people at once (sessions are shared between them).")
@click.option("--session-hours", type=click.FloatRange(min=0.01), default=8.0, show_default=True,
              help="With --auth: a session ends after this long without a request.")
@click.option("--read-only", is_flag=True, help="Refuse every write (rename, tags, registry) with 403.")
@click.pass_context
def ui(ctx, host, port, no_browser, users_file, allowed_host_names, forwarded_allow_ips, workers, session_hours,
       read_only):
    """Browse, chart, compare and edit runs and models in a web page; `duckml ui users` manages who may sign in.

    \b
    Example:
        duckml ui --port 5001 --no-browser
        duckml ui --host 0.0.0.0 --allowed-host ml.example.com --auth users.json --workers 2
    """
    if ctx.invoked_subcommand is not None:
        return
    from duckml.ui.command import serve  # Starlette and uvicorn load only for this command

    serve(host=host, port=port, open_browser=not no_browser, read_only=read_only, users_file=users_file,
          allowed_host_names=allowed_host_names, forwarded_allow_ips=forwarded_allow_ips, workers=workers,
          session_hours=session_hours)


@ui.group("users")
def ui_users():
    """Who may sign in to `duckml ui --auth USERS_FILE`, and with which role."""


_USERS_FILE = click.option("--users-file", type=click.Path(dir_okay=False), required=True,
                           help="The users file (created 0600 on the first add).")


@ui_users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "editor", "admin"]), required=True,
              help="viewer reads; editor also edits runs and tags; admin also changes the registry.")
@_USERS_FILE
def ui_users_add(name, role, users_file):
    """Add a user (or set a user's password and role); the password comes from stdin or a prompt.

    \b
    Example:
        duckml ui users add ada --role admin --users-file users.json
        printf '%s\\n' "$PASSWORD" | duckml ui users add bob --role viewer --users-file users.json
    """
    from duckml.ui.users import add_user

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    add_user(users_file, name, password, role)
    click.echo(f"{name} ({role}) saved in {users_file}")


@ui_users.command("remove")
@click.argument("name")
@_USERS_FILE
def ui_users_remove(name, users_file):
    """Remove a user; their open sessions are refused from their next request.

    \b
    Example:
        duckml ui users remove bob --users-file users.json
    """
    from duckml.ui.users import remove_user

    remove_user(users_file, name)
    click.echo(f"{name} removed from {users_file}")


@ui_users.command("list")
@_USERS_FILE
@format_option
def ui_users_list(users_file, fmt):
    """List users and their roles (never their hashes).

    \b
    Example:
        duckml ui users list --users-file users.json
    """
    from duckml.ui.users import list_users

    emit(["name", "role"], list_users(users_file), fmt)
