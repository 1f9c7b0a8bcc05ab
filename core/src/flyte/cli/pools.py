"""``flyte pools``: the live warm pools of reusable environments, their workers, load and timers."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from flyte.cli.output import output_option


@click.command("pools")
@output_option("table", "json", default="table")
def pools_command(output: str) -> None:
    """List live worker pools (of every process using this state root): workers, load, idle timers."""
    from flyte.runtime.pool import state

    pools = state.live()
    if output == "json":
        click.echo(json.dumps(pools, indent=2))
        return
    if not pools:
        click.echo("no live pools (a reusable environment's pool starts with its first task)")
        return
    now = time.time()
    for pool in pools:
        click.echo(
            f"pool {pool['pool']} · owner pid {pool['owner']} · replicas {_replicas(pool['replicas'])} · "
            f"concurrency {pool['concurrency']} · active {pool['active']} · queued {pool['queued']} · "
            f"{_pool_timer(pool, now)}"
        )
        click.echo(f"  {'WORKER':>8}  {'STATE':<9} {'LOAD':>9}  {'TASKS':>6}  IDLE")
        for worker in pool["workers"]:
            idle = f"{now - worker['idle_since']:.0f}s" if worker["idle_since"] else "-"
            load = f"{worker['load']}/{pool['concurrency']}"
            click.echo(f"  {worker['pid']:>8}  {worker['state']:<9} {load:>9}  {worker['tasks_run']:>6}  {idle}")


def _replicas(value: Any) -> str:
    return f"{value[0]}-{value[1]}" if isinstance(value, list) else str(value)


def _pool_timer(pool: dict[str, Any], now: float) -> str:
    ttl = pool["idle_ttl"]
    if pool["idle_since"] is None:
        return "busy"
    idle = now - pool["idle_since"]
    if ttl is None:
        return f"idle {idle:.0f}s (idle_ttl none: stays until its process exits)"
    return f"idle {idle:.0f}s, stops in {max(0.0, ttl - idle):.0f}s (idle_ttl {ttl:g}s)"
