"""``coinium backup DEST`` and ``coinium restore SRC`` (coinium.chain.backup)."""

from __future__ import annotations

import click

from coinium.core.params import NETWORKS


def _place(datadir: str | None, network: str):
    from coinium.config import default_datadir
    from coinium.core.params import get_network
    from coinium.wallet.keystore import network_datadir

    params = get_network(network)
    return params, network_datadir(datadir or default_datadir(), params)


@click.command("backup")
@click.option("--datadir", type=click.Path(file_okay=False), default=None,
              help="Base data directory [default: ~/.coinium].")
@click.option("--network", type=click.Choice(sorted(NETWORKS)), default="main",
              show_default=True)
@click.argument("dest", type=click.Path(file_okay=False))
def backup_command(datadir, network, dest) -> None:
    """Copy the chain into DEST (a new or empty folder), compacted; works while the node runs."""
    from coinium.chain.backup import BackupError, backup_chain

    params, ndir = _place(datadir, network)
    try:
        manifest = backup_chain(ndir, dest, params)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up the {params.name} chain at height {manifest['height']} "
               f"(tip {manifest['tip']}) to {dest}")  # fmt: skip


@click.command("restore")
@click.option("--datadir", type=click.Path(file_okay=False), default=None,
              help="Base data directory [default: ~/.coinium].")
@click.option("--network", type=click.Choice(sorted(NETWORKS)), default="main",
              show_default=True)
@click.argument("src", type=click.Path(file_okay=False, exists=True))
def restore_command(datadir, network, src) -> None:
    """Check the backup in SRC, then make it the node's chain (the node must be stopped; the
    chain it replaces is kept beside it)."""
    from coinium.chain.backup import BackupError, restore_chain

    params, ndir = _place(datadir, network)
    try:
        manifest, kept = restore_chain(src, ndir, params)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored the {params.name} chain at height {manifest['height']} "
               f"(tip {manifest['tip']})")  # fmt: skip
    if kept is not None:
        click.echo(f"the previous chain is kept in {kept}")
