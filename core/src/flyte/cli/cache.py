"""``flyte cache list`` and ``flyte cache clear``: the local result cache."""

from __future__ import annotations

from datetime import datetime

import click


@click.group("cache")
def cache_group() -> None:
    """Inspect or clear the local result cache (<state root>/local-cache)."""


@cache_group.command("list")
@click.option("--task", help="Only entries of this fully-qualified task name.")
def list_entries(task: str | None) -> None:
    """List cache entries: task, key, version, size, when written."""
    from rich.console import Console
    from rich.table import Table

    from flyte._cache.store import get_store

    store = get_store()
    rows = store.entries(task)
    if store.broken:
        raise click.ClickException(f"the cache at {store.path} is unreadable: {store.broken}")
    table = Table(title=f"cache {store.path}")
    for column in ("task", "key", "version", "bytes", "written"):
        table.add_column(column, overflow="fold")
    for key, name, version, created, size in rows:
        table.add_row(
            name,
            key[:16],
            (version or "")[:40],
            str(size),
            datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M:%S"),
        )
    Console().print(table)


@cache_group.command("clear")
@click.option("--task", help="Only entries of this fully-qualified task name.")
def clear_entries(task: str | None) -> None:
    """Delete cache entries (all, or one task's). A damaged cache file is removed."""
    import warnings

    from flyte._cache.store import CacheWarning, get_store, reset_store

    store = get_store()
    with warnings.catch_warnings():  # a damaged file is reported below, with what was done
        warnings.simplefilter("ignore", CacheWarning)
        count = store.clear(task)
    if store.broken:
        if task:
            raise click.ClickException(
                f"the cache file {store.path} is damaged ({store.broken}), so one task's entries cannot "
                "be picked out of it; run `flyte cache clear` (without --task) to remove the file"
            )
        reset_store()
        for suffix in ("", "-wal", "-shm"):
            store.path.with_name(store.path.name + suffix).unlink(missing_ok=True)
        click.echo(f"removed the cache file {store.path}: damaged ({store.broken}); the next run makes a new one")
        return
    click.echo(f"deleted {count} cache entr{'y' if count == 1 else 'ies'}" + (f" of {task}" if task else ""))
