"""``flyte plugins``: what plugins are installed, what they provide, and what failed to load."""

from __future__ import annotations

import json

import click

from flyte.cli.output import output_option


@click.command("plugins")
@output_option("table", "json", default="table")
def plugins_command(output: str) -> None:
    """List installed plugins: name, distribution, version, config types, hooks, errors."""
    from flyte.plugins import get_registry

    infos = get_registry().infos()
    if output == "json":
        click.echo(json.dumps([i.to_json() for i in infos], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="flyte plugins")
    # Identities never wrap (a folded distribution name cannot be copied into pip); lists fold.
    for column in ("name", "distribution", "version"):
        table.add_column(column, no_wrap=True)
    for column in ("provides", "hooks", "errors"):
        table.add_column(column, overflow="fold")
    for info in infos:
        types = [t.rsplit(".", 1)[-1] for t in (*info.config_types, *info.connector_types)]
        # A dataframe type by package and class: pandas.DataFrame and polars.DataFrame differ.
        types += [f"{t.split('.')[0].split(':')[0]}.{t.rsplit(':', 1)[-1]}" for t in info.dataframe_types]
        table.add_row(
            info.name,
            info.distribution or "-",
            info.version or "-",
            "\n".join(types) or "-",
            "\n".join(info.hooks) or "-",
            "[red]" + "; ".join(info.errors) + "[/red]" if info.errors else "-",
        )
    Console().print(table)
