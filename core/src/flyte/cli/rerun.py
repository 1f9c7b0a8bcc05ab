"""``flyte rerun RUN_NAME``: the reference SDK's command to re-run (``--recover``: recover) a
prior run from what its control plane kept. Locally it checks its arguments as
:func:`flyte.rerun` does and refuses, naming the run and the local way to run it again."""

from __future__ import annotations

import click


@click.command(
    "rerun",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("run_name")
@click.option("--recover", is_flag=True, help="Reuse RUN_NAME's succeeded actions (needs a control plane).")
@click.option("--action-name", default="a0", show_default=True, help="The action whose task and inputs to re-run.")
@click.option("--force-rerun-action", "force", multiple=True, help="With --recover: an action to re-execute anyway.")
@click.option(
    "--allow-missing-outputs", is_flag=True, help="The reference SDK's: proceed when the run's outputs were cleaned up."
)
# The reference SDK's options of the new run (nothing is started locally): accepted, so that
# they are not taken for RUN_NAME or for task inputs.
@click.option("-p", "--project", help="The new run's project (the reference SDK's).")
@click.option("-d", "--domain", help="The new run's domain (the reference SDK's).")
@click.option("--name", help="The new run's name (the reference SDK's; nothing is started locally).")
@click.option("--follow", "-f", is_flag=True, help="The reference SDK's: follow the new run.")
@click.option("--env", "-e", multiple=True, help="KEY=VALUE of the new run (the reference SDK's).")
@click.option("--label", multiple=True, help="KEY=VALUE label of the new run (the reference SDK's).")
@click.pass_context
def rerun_command(
    ctx: click.Context,
    run_name: str,
    recover: bool,
    action_name: str,
    force: tuple[str, ...],
    allow_missing_outputs: bool,
    project: str | None,
    domain: str | None,
    name: str | None,
    follow: bool,
    env: tuple[str, ...],
    label: tuple[str, ...],
) -> None:
    """Re-run RUN_NAME with its original code and inputs (the reference SDK's command, which
    needs a Flyte control plane). Task inputs may follow as --INPUT VALUE. Locally it names
    the run's task and how to run it again with flyte run, and exits with status 1."""
    from flyte.errors import FlyteError
    from flyte.runtime.rerun import refuse

    # --threshold 0.9: the changed inputs' names, for the message (their values are not parsed)
    changed = {arg[2:].replace("-", "_"): None for arg in ctx.args if arg.startswith("--")}
    try:
        refuse(run_name, action_name, recover, list(force) or None, allow_missing_outputs, **changed)
    except (FlyteError, ValueError) as exc:
        raise click.ClickException(f"rerun: {exc}") from None
