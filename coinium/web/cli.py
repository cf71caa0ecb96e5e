"""``coinium dashboard adduser``: make (or re-password) a dashboard user in the datadir."""

from __future__ import annotations

import sys

import click


@click.group("dashboard")
def dashboard_group() -> None:
    """The web dashboard's users."""


@dashboard_group.command("adduser")
@click.option("--network", type=click.Choice(["main", "test", "regtest"]), default="main",
              show_default=True, help="Which chain's datadir.")
@click.option("--datadir", type=click.Path(file_okay=False), default=None,
              help="Base data directory [default: ~/.coinium].")
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="admin",
              show_default=True, help="admin may use the admin panel; viewer only looks.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input (one line) instead of a prompt.")
@click.argument("name")
def adduser(network: str, datadir: str | None, role: str, password_stdin: bool,
            name: str) -> None:  # fmt: skip
    """Create user NAME (or give it a new password). The password is stored as an Argon2id hash
    in <datadir>/dashboard_users.json, readable by the owner only."""
    from coinium.config import default_datadir
    from coinium.core.params import get_network
    from coinium.wallet.keystore import network_datadir
    from coinium.web.users import UserError, add_user, users_path

    path = network_datadir(datadir or default_datadir(), get_network(network))
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        add_user(path, name, password, role)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"user {name} ({role}) saved in {users_path(path)}")
