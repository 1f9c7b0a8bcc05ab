"""The core's commands by name, each imported only when it is asked for: ``flyte run`` imports
the run command's modules and no other command's."""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of the command (or group)
_COMMANDS = {
    "plugins": "flyte.cli.plugins:plugins_command",
    "run": "flyte.cli.run:run_command",
    "rerun": "flyte.cli.rerun:rerun_command",
    "render": "flyte.cli.render:render_command",
    "build": "flyte.cli.build:build_command",
    "deploy": "flyte.cli.deploy:deploy_command",
    "cache": "flyte.cli.cache:cache_group",
    "runs": "flyte.cli.runs:runs_group",
    "abort": "flyte.cli.abort:abort_group",
    "logs": "flyte.cli.logs:logs_command",
    "ui": "flyte.cli.ui:ui_command",
    "pools": "flyte.cli.pools:pools_command",
    "create": "flyte.cli.secrets:create_group",
    "get": "flyte.cli.secrets:get_group",
    "delete": "flyte.cli.secrets:delete_group",
    "update": "flyte.cli.triggers:update_group",
    "serve": "flyte.cli.triggers:serve_group",
}
# Sub-commands added to other modules' groups: triggers to the secrets module's verbs,
# `flyte serve ui` beside `flyte serve triggers`, and the reference SDK's spellings of ours
# (`flyte get run` for `flyte runs list/show`, `flyte get logs` for `flyte logs`).
_EXTRA = {
    "get": ("flyte.cli.triggers:get_trigger", "flyte.cli.runs:get_run", "flyte.cli.logs:logs_command"),
    "delete": ("flyte.cli.triggers:delete_trigger",),
    "serve": ("flyte.cli.ui:ui_command",),
    "create": ("flyte.cli.config:create_config",),
}

NAMES = tuple(_COMMANDS)


def _load(target: str) -> click.Command:
    module, attribute = target.split(":")
    return getattr(importlib.import_module(module), attribute)


def core_command(name: str) -> click.Command:
    """The core's command ``name`` (one of :data:`NAMES`), imported now."""
    command = _load(_COMMANDS[name])
    if name in _EXTRA and isinstance(command, click.Group):
        for target in _EXTRA[name]:
            command.add_command(_load(target))
    return command
