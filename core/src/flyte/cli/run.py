"""``flyte run FILE TASK --param value``: run a task locally, with live progress."""

from __future__ import annotations

import enum
import json
import sys
import typing
from datetime import datetime
from types import UnionType
from typing import Any

import click

from flyte.interface import signature_types
from flyte.runtime.redact import redact


class RunGroup(click.Group):
    """``flyte run FILE`` lists the file's tasks; ``flyte run FILE TASK`` builds that task's
    options from its signature."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        files = [i for i, a in enumerate(args) if a.endswith(".py") and not a.startswith("-")]
        if files:
            ctx.meta["flyte_file"] = args[files[0]]
            args = args[: files[0]] + args[files[0] + 1 :]
            # Usage lines and "Try '... --help'" hints name the real command: flyte run FILE TASK.
            ctx.info_name = f"{ctx.info_name} {ctx.meta['flyte_file']}"
        elif not any(a in ("-h", "--help") for a in args):
            raise click.UsageError("missing FILE: flyte run FILE TASK [--param value ...]", ctx)
        return super().parse_args(ctx, args)

    def _module(self, ctx: click.Context) -> Any:
        from flyte._loader import load_file

        if "flyte_module" not in ctx.meta:
            _scope_for_import(ctx)
            ctx.meta["flyte_module"] = load_file(ctx.meta["flyte_file"], ctx.params.get("root_dir"))
        return ctx.meta["flyte_module"]

    def list_commands(self, ctx: click.Context) -> list[str]:
        if "flyte_file" not in ctx.meta:
            return []
        from flyte.task import TaskTemplate

        return sorted(k for k, v in vars(self._module(ctx)).items() if isinstance(v, TaskTemplate))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if "flyte_file" not in ctx.meta:
            return None
        from flyte._loader import find
        from flyte.task import TaskTemplate

        task = find(self._module(ctx), name, (TaskTemplate,))
        return _task_command(name, task)


def _run_options() -> list[click.Option]:
    """The options of the run itself; accepted before FILE and after FILE TASK alike."""
    return [
        click.Option(["--name"], help="Name the run (default: generated)."),
        click.Option(
            ["--local"],
            is_flag=True,
            help="Run on this machine even when the config names a cluster (the reference SDK's flag).",
        ),
        click.Option(
            ["--config"],
            type=click.Path(dir_okay=False),
            help="Config file (default: found as flyte.init_from_config finds it), read unless FILE calls "
            "flyte.init itself.",
        ),
        click.Option(
            ["--project", "-p"], help="The run's project, as flyte.init(project=...) (default: the config's)."
        ),
        click.Option(["--domain", "-d"], help="The run's domain, as flyte.init(domain=) (default: the config's)."),
        click.Option(["--overwrite-cache"], is_flag=True, help="Recompute cached tasks and replace their entries."),
        click.Option(
            ["--env", "-e", "env_vars"],
            multiple=True,
            metavar="KEY=VALUE",
            help="An environment variable of every task (repeatable).",
        ),
        click.Option(["--max-concurrency"], type=int, help="Task bodies running at once (default: no cap)."),
        click.Option(
            ["--max-action-concurrency"],
            type=int,
            help="This run's cap on task bodies running at once: 0 (the default) or at least 2 (the reference's).",
        ),
        click.Option(
            ["--service-account"],
            help="On a cluster: the Kubernetes ServiceAccount of pods whose task names none (locally: checked only).",
        ),
        click.Option(
            ["--strict-dependencies"], is_flag=True, help="Fail when a task calls an environment not in depends_on."
        ),
        click.Option(
            ["--root-dir"],
            type=click.Path(exists=True, file_okay=False),
            help="The folder FILE's module name is taken from (dir/pkg/mod.py is pkg.mod), put on sys.path: for "
            "monorepos whose packages have no __init__.py. Before FILE only.",
        ),
        click.Option(
            ["--raw-data-path"],
            help="Where the run's data goes (a folder or a storage URL such as s3://bucket/prefix); the config's "
            "local.storage otherwise.",
        ),
        click.Option(
            ["--image", "images"],
            multiple=True,
            metavar="NAME=REF",
            help="The image Image.from_ref_name(NAME) stands for (repeatable; a bare REF names 'default'), as "
            "flyte deploy --image.",
        ),
        click.Option(
            ["--label", "labels"],
            multiple=True,
            metavar="KEY=VALUE",
            help="A Kubernetes label of the run (repeatable): checked, not recorded yet.",
        ),
        *[click.Option(opts, **kwargs) for opts, kwargs in _REFERENCE_ONLY],
    ]


# Options of the reference's `flyte run` that change nothing in a run here, and why: each is
# accepted (and its value checked) so that its docs' command lines work, and noted on stderr.
_NO_EFFECT = {
    "follow": "flyte run already stays in the foreground until the run ends, showing what its tasks print "
    "as they print it (and flyte logs RUN -f follows a run from another terminal)",
    "copy_style": "a local run imports your files as they are; a cluster run's code is copied into its image "
    "(flyte build)",
    "version": "a run here runs the code of FILE as it is (flyte deploy --version versions a deployment)",
    "labels": "the local run store does not record labels",
    "queue": "a queue selects a Flyte cluster; set TaskEnvironment(queue=...) for a Kubernetes node selector",
    "debug": "the reference starts a VS Code server in the task's container; here the task runs in this "
    "process (flyte --debug shows an error's traceback)",
    "run_project": "it applies to the reference's `flyte run deployed-task`; use -p/--project",
    "run_domain": "it applies to the reference's `flyte run deployed-task`; use -d/--domain",
    "tui": "browse runs with flyte ui (a web page) or flyte runs show RUN",
    "tracked": "no Flyte control plane is used: the run is recorded locally (flyte runs list)",
    "tracked_strict": "no Flyte control plane is used: the run is recorded locally (flyte runs list)",
    "sync_local_sys_paths": "a local run uses this sys.path as it is",
}
_REFERENCE_ONLY: list[tuple[list[str], dict[str, Any]]] = [
    (["--follow", "-f"], {"is_flag": True, "help": "Implied: the run is in the foreground until it ends."}),
    (
        ["--copy-style"],
        {"type": click.Choice(["loaded_modules", "all", "none", "custom"]), "help": "Code bundling: no effect here."},
    ),
    (["--version"], {"help": "The reference's code-bundle version: no effect here."}),
    (["--queue"], {"help": "The reference's cluster queue: checked (a label value), no effect here."}),
    (["--debug"], {"is_flag": True, "help": "The reference's VS Code debug server: no effect here."}),
    (["--run-project"], {"help": "For the reference's deployed-task: no effect here."}),
    (["--run-domain"], {"help": "For the reference's deployed-task: no effect here."}),
    (["--tui"], {"is_flag": True, "help": "The reference's terminal UI: no effect here (see flyte ui)."}),
    (["--tracked"], {"is_flag": True, "help": "Reporting to a control plane: no effect here."}),
    (["--tracked-strict"], {"is_flag": True, "help": "Reporting to a control plane: no effect here."}),
    (
        ["--no-sync-local-sys-paths", "sync_local_sys_paths"],
        {"is_flag": True, "flag_value": False, "default": True, "help": "No effect here."},
    ),
]


def _run_settings(values: dict[str, Any], before: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's settings from option values given after FILE TASK over those given before."""
    settings = dict(before or {})
    if values.get("name") is not None:
        settings["name"] = values["name"]
    for flag in ("overwrite_cache", "strict_dependencies", "local"):
        if values.get(flag):
            settings[flag] = True
    for key in ("max_concurrency", "config", "project", "domain", "root_dir", "raw_data_path"):
        if values.get(key) is not None:
            settings[key] = values[key]
    if values.get("raw_data_path") is not None:
        _check_raw_data_path(values["raw_data_path"])
    settings["no_effect"] = {**settings.get("no_effect", {}), **_no_effect(values)}
    if values.get("images"):
        from flyte import _image_refs

        try:
            settings["images"] = {**settings.get("images", {}), **_image_refs.parse(values["images"])}
        except (TypeError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--image") from None
    if values.get("labels"):
        settings["labels"] = {**settings.get("labels", {}), **_labels(values["labels"])}
    if values.get("max_action_concurrency") is not None:
        value = values["max_action_concurrency"]
        if value < 0 or value == 1:  # as with_runcontext checks it, but as a usage error
            raise click.BadParameter(
                f"{value} is out of range (accepted: 0, the default, or at least 2)",
                param_hint="--max-action-concurrency",
            )
        settings["max_action_concurrency"] = value
    if values.get("service_account") is not None:
        from flyte._validation import service_account

        try:  # a usage error that names the option, before anything runs
            settings["service_account"] = service_account("service_account", values["service_account"])
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--service-account") from None
    pairs = dict(settings.get("env_vars") or {})
    for item in values.get("env_vars") or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--env")
        pairs[key] = value
    settings["env_vars"] = pairs
    return settings


def _check_raw_data_path(value: str) -> None:
    """A folder, or a URL whose scheme can hold a run's data (before the run, not as the storage
    layer's error from its first file)."""
    from flyte.storage._filesystem import DATA_SCHEMES, protocol_of

    schemes = ", ".join(f"{scheme}://" for scheme in DATA_SCHEMES)
    accepted = f"a folder, or a storage URL such as s3://bucket/prefix; schemes: {schemes}"
    if not value.strip():
        raise click.BadParameter(f"'' is empty (accepted: {accepted})", param_hint="--raw-data-path")
    scheme = protocol_of(value)
    if scheme not in DATA_SCHEMES:
        raise click.BadParameter(
            f"{value!r}: {scheme}:// cannot hold a run's data (accepted: {accepted})", param_hint="--raw-data-path"
        )


def _no_effect(values: dict[str, Any]) -> dict[str, str]:
    """The options given that change nothing here: option as typed -> why."""
    given = {}
    for key, why in _NO_EFFECT.items():
        value = values.get(key)
        if key == "sync_local_sys_paths":
            value = value is False  # the flag is --no-sync-local-sys-paths
        elif key == "queue" and value is not None:
            from flyte._validation import label_value

            try:  # checked as the reference's with_runcontext(queue=) is
                label_value("--queue", value)
            except ValueError as exc:
                raise click.BadParameter(str(exc).split(": ", 1)[-1], param_hint="--queue") from None
        if value:
            option = "--no-sync-local-sys-paths" if key == "sync_local_sys_paths" else _option(key)
            given["--label" if key == "labels" else option] = why
    return given


def _labels(items: tuple[str, ...]) -> dict[str, str]:
    """``--label team=ml --label env=prod`` as Kubernetes labels (checked as the API server does)."""
    from flyte._validation import k8s_labels

    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE (e.g. --label team=ml)", param_hint="--label")
        pairs[key] = value
    try:
        return k8s_labels("--label")(pairs) or {}
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc).removeprefix("--label").lstrip(": "), param_hint="--label") from None


@click.pass_context
def _run_group_callback(ctx: click.Context, **values: Any) -> None:
    """Run a task of FILE: flyte run [OPTIONS] FILE TASK [--param value ...] [OPTIONS]

    The config file is read as flyte.init_from_config() reads it (its project, domain, storage
    and limits); one naming a cluster (a kubernetes: section) runs the task there, unless
    --local.

    Parameters come from the task's signature (--batch-size for batch_size); lists, dicts,
    dataclasses and pydantic models are given as JSON. The result is printed; a failure exits
    with status 1. The run options below may also follow FILE TASK (where a task parameter of
    the same name wins).
    """
    ctx.obj = _run_settings(values)


run_command = RunGroup(
    "run",
    callback=_run_group_callback,
    params=_run_options(),
    help=_run_group_callback.__doc__,
    invoke_without_command=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _admits_none(tp: Any) -> bool:
    """Whether None is a value of ``tp`` (``X | None``, ``Optional[X]``, ``None``, annotated)."""
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if tp is None or tp is type(None):
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, UnionType):
        return any(_admits_none(a) for a in typing.get_args(tp))
    return False


def _task_command(name: str, task: Any) -> click.Command:
    from flyte.interface import NO_DEFAULT

    types, _ = signature_types(task.func)
    params = []
    none_when_left_out: set[str] = set()
    for p in task.spec.interface.inputs:
        tp = types[p.name]
        required = p.default is NO_DEFAULT
        given_default = p.default
        if required and _admits_none(tp):
            # As the reference SDK's `flyte run` does: an optional input with no default that is
            # left out runs with None (the task itself still requires it from Python callers).
            required = False
            given_default = None  # (what --help shows, and an optional bool flag's value)
            none_when_left_out.add(p.name)
        option = "--" + p.name.replace("_", "-")
        # The reference SDK spells options as the parameter is named (--batch_size): both work.
        as_named = "--" + p.name
        kind, convert = _click_type(tp)
        # A required option gets no default at all: click counts an explicit None as a value.
        default = {} if required else {"default": None}
        shown = None if required else _show_default(given_default)
        if kind is bool:
            # A flag left out is False even without a default, as in the reference SDK's
            # `flyte run`: `f(use_x: bool)` runs with --use-x, --no-use-x or neither.
            params.append(
                click.Option(
                    [f"{option}/--no-{option[2:]}", *_alias(as_named, option, bool_flag=True), p.name],
                    required=False,
                    show_default=True,
                    default=False if required else given_default,
                )
            )
        else:
            params.append(
                click.Option(
                    [option, *_alias(as_named, option), p.name],
                    type=kind,
                    required=required,
                    show_default=shown,
                    help=f"{_type_label(tp)}",
                    **default,
                )
            )
            params[-1].flyte_convert = convert  # type: ignore[attr-defined]

    taken = {p.name for p in params} | {o for p in params for o in p.opts}
    # The group's own option objects (they hold no per-call state): built once per process.
    # --root-dir decides how FILE is imported, so it comes before FILE, not after TASK.
    run_options = [
        o
        for o in run_command.params
        if isinstance(o, click.Option) and o.name not in taken and not set(o.opts) & taken and o.name != "root_dir"
    ]

    @click.pass_context
    def callback(ctx: click.Context, **values: Any) -> None:
        from flyte.errors import InputTypeError

        inputs = {}
        for param in params:
            value = values[param.name]
            if value is None and not param.required:
                if param.name in none_when_left_out:
                    inputs[param.name] = None
                continue  # the task's own default applies
            convert = getattr(param, "flyte_convert", None)
            inputs[param.name] = convert(param.name, value) if convert else value
        try:
            task.bind((), inputs)  # the task's input check, reported as a usage error
        except InputTypeError as exc:
            raise click.BadParameter(str(exc), param_hint=_option(exc.input)) from None
        settings = _run_settings({o.name: values[o.name] for o in run_options}, ctx.parent.obj)
        _run_and_report(task, inputs, settings)

    doc = (task.spec.docs.description or "").strip()
    return click.Command(
        name, params=[*params, *run_options], callback=callback, help=f"{task.name}\n\n{doc}" if doc else task.name
    )


def _shown(result: Any) -> str:
    """The result as printed: JSON for JSON's own types and containers (other values inside as
    their str), any other value as its str (a DataFrame's table, not that text as a JSON string)."""
    if isinstance(result, str):
        return result
    if result is not None and not isinstance(result, (bool, int, float, list, tuple, dict)):
        return str(result)
    try:
        return json.dumps(result, indent=2, default=str)
    except (TypeError, ValueError):
        return repr(result)


def _alias(as_named: str, option: str, bool_flag: bool = False) -> list[str]:
    """The reference SDK's spelling of an option (``--batch_size``, ``--debug_mode/--no-debug_mode``)
    when it differs from ours."""
    if as_named == option:
        return []
    return [f"{as_named}/--no-{as_named[2:]}"] if bool_flag else [as_named]


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _show_default(value: Any) -> str | None:
    try:
        return json.dumps(value) if not isinstance(value, str) else value
    except TypeError:
        return repr(value)


def _type_label(tp: Any) -> str:
    from flyte.interface import type_name

    return type_name(tp)


def _click_type(tp: Any) -> tuple[Any, Any]:
    """A click type and a converter for one annotation."""
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if len(args) == 1:
            return _click_type(args[0])
        return str, lambda n, v: _union_member(tp, args, n, v)
    if tp is bool:
        return bool, None
    if tp in (int, float, str):
        return tp, None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return click.Choice([str(m.value) for m in tp]), lambda _n, v: tp(type(next(iter(tp)).value)(v))
    if tp is datetime:
        return str, lambda n, v: _datetime(n, v)
    from flyte.io import Dir, File

    if tp is File or tp is Dir:
        return str, lambda n, v: _reference(tp, n, v)
    if origin is typing.Annotated:  # a dataframe with its columns, say: the type decides
        return _click_type(typing.get_args(tp)[0])
    if _is_dataframe_type(tp):
        return str, _dataframe
    from flyte.cli._values import is_record

    if is_record(tp) or origin in (list, dict, tuple, set) or tp in (list, dict):
        return str, lambda n, v: _structured(tp, n, _json(n, v))
    return str, None


def _union_member(tp: Any, members: list[Any], name: str, text: str) -> Any:
    """A value for a union of several types (``int | float``, ``str | int``): the text read as
    JSON when that is a value of one of them (``2`` an int, ``2.5`` a float, ``[1]`` a list),
    or decodes as one (a JSON object as a record member, ``"red"`` as an enum member's value),
    else the text itself when ``str`` is one of them, as the reference SDK reads it."""
    from flyte._typecheck import compile_check
    from flyte.cli._values import ConversionError, from_json

    check = compile_check(tp)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text  # (still an enum member's value, say)
    else:
        if check is None or check.ok(value):
            return value
    problems = []
    for member in members:
        if member is str:
            continue  # (the text itself: last)
        try:
            decoded = from_json(member, value)
        except ConversionError as exc:
            problems.append(str(exc))
            continue
        member_check = compile_check(member)
        if decoded is not value and (member_check is None or member_check.ok(decoded)):
            return decoded
    if str in members:
        return text
    accepted = " | ".join(_type_label(m) for m in members)
    why = f" ({'; '.join(problems)})" if problems else ""
    raise click.BadParameter(f"{text!r} is not a value of {accepted}{why}", param_hint=_option(name))


def _json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{text!r} is not valid JSON ({exc.msg})", param_hint=_option(name)) from None


def _structured(tp: Any, name: str, value: Any) -> Any:
    from flyte.cli._values import ConversionError, from_json

    try:
        return from_json(tp, value)
    except ConversionError as exc:
        raise click.BadParameter(str(exc), param_hint=_option(name)) from None


def _datetime(name: str, text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO date/time such as 2025-01-31T09:30", param_hint=_option(name)
        ) from None


def _reference(kind: type, name: str, text: str) -> Any:
    """A ``File``/``Dir`` input given as a path, as the reference SDK's ``flyte run`` takes it: a
    storage URL as it is, a local path (which must exist) by its absolute path."""
    from pathlib import Path

    from flyte.io import File
    from flyte.storage import is_remote

    if is_remote(text):
        return kind.from_existing_remote(text)
    path = Path(text.removeprefix("file://")).expanduser()
    if not (path.is_file() if kind is File else path.is_dir()):
        what = "file" if kind is File else "folder"
        raise click.BadParameter(
            f"{text!r} is not an existing {what} (accepted: a local {what} path or a storage URL such as "
            "s3://bucket/key)",
            param_hint=_option(name),
        )
    return kind.from_existing_remote(str(path.resolve()))


def _is_dataframe_type(tp: Any) -> bool:
    """``flyte.io.DataFrame`` or a type some installed plugin stores as a table
    (``pandas.DataFrame``, ``polars.LazyFrame``, ...)."""
    from flyte.io import DataFrame
    from flyte.io._frames import handler_for_type

    if not isinstance(tp, type) or tp.__module__ == "builtins":
        return False
    return issubclass(tp, DataFrame) or handler_for_type(tp) is not None


def _dataframe(name: str, text: str) -> Any:
    """A dataframe input given as a Parquet or CSV file, or a folder of them, as the reference
    SDK's ``flyte run`` takes it: a reference the task reads as the type it declares."""
    from pathlib import Path

    from flyte.io import DataFrame
    from flyte.storage import is_remote

    fmt = "csv" if text.rstrip("/").lower().endswith(".csv") else "parquet"
    if is_remote(text):
        return DataFrame.from_existing_remote(text, format=fmt)
    path = Path(text.removeprefix("file://")).expanduser()
    if not path.exists():
        raise click.BadParameter(
            f"{text!r} is not an existing file or folder (accepted: a Parquet or CSV file, a folder of "
            "them, or a storage URL such as s3://bucket/table.parquet)",
            param_hint=_option(name),
        )
    return DataFrame.from_existing_remote(str(path.resolve()), format=fmt)


def _init_from_config(options: dict[str, Any]) -> None:
    """Settle the run's settings as ``flyte.init_from_config()`` in ``python FILE`` would (the
    reference SDK's ``flyte run`` reads the config too): the config's project, domain, storage
    and limits apply whichever way a script is started, so a secret scoped to the config's
    project is found by both. The options given win over the file."""
    import flyte
    from flyte.config_file import explicit_config, find_config
    from flyte.errors import FlyteError

    overrides = {k: options[k] for k in ("project", "domain", "max_concurrency") if options.get(k) is not None}
    if options.get("raw_data_path") is not None:
        overrides["storage"] = options["raw_data_path"]  # over the config's local.storage
    if options.get("images"):
        overrides["images"] = options["images"]  # added to the config's image.image_refs
    if options.get("strict_dependencies"):
        overrides["strict_dependencies"] = True
    try:
        given = options.get("config")
        found = explicit_config(given, "--config") if given is not None else find_config()
        if found is None:  # nothing to read, and nothing to say about it
            flyte.init(**overrides)
        else:  # its one line says which file chose which backend (named: it must be a config)
            flyte.init_from_config(given, **overrides)
    except (FlyteError, ValueError, TypeError) as exc:  # a missing file, a project that is not a name
        raise click.UsageError(str(exc)) from None


def _scope_for_import(ctx: click.Context) -> None:
    """FILE's module-level code sees the run's project and domain (``flyte.current_domain()``
    choosing an environment), as with the reference SDK's ``flyte run``, which initialises
    before it imports FILE: settle the settings of the options given before FILE now, quietly
    (the run says which backend once it starts). The run initialises again with all its options
    unless FILE calls ``flyte.init`` itself (:func:`_initialised_by_file`)."""
    import contextlib
    import io

    from flyte.runtime import settings

    if settings.is_initialized():
        return
    with contextlib.suppress(click.UsageError), contextlib.redirect_stderr(io.StringIO()):
        _init_from_config(ctx.params)  # (an error is reported when the run initialises again)
    if settings.is_initialized():  # (also when the config failed after the settings were set)
        ctx.meta["flyte_import_scope"] = settings.current()


def _initialised_by_file() -> bool:
    """Whether FILE (or its caller) initialised flyte: settings other than the ones
    :func:`_scope_for_import` set for its import."""
    from flyte.runtime import settings

    context = click.get_current_context(silent=True)
    scope = context.meta.get("flyte_import_scope") if context is not None else None
    return settings.is_initialized() and settings.current() is not scope


def _apply_to_settings(options: dict[str, Any]) -> None:
    """--raw-data-path and --image over the settings FILE's own flyte.init chose."""
    from flyte.runtime import settings

    if options.get("raw_data_path") is not None:
        import attrs

        settings.set_current(attrs.evolve(settings.current(), storage=options["raw_data_path"]))
    if options.get("images"):
        from flyte import _image_refs

        _image_refs.set_refs({**_image_refs.known(), **options["images"]})


def _run_and_report(task: Any, inputs: dict[str, Any], options: dict[str, Any]) -> None:
    import flyte
    from flyte.cli.ignored import no_effect, root_param
    from flyte.cli.progress import Progress
    from flyte.runtime import settings

    if not _initialised_by_file():
        _init_from_config(options)
    else:  # FILE called flyte.init itself: the run's own options still apply
        if options.get("max_concurrency") or options.get("strict_dependencies"):
            flyte.init(
                max_concurrency=options.get("max_concurrency"),
                strict_dependencies=options.get("strict_dependencies", False),
            )
        _apply_to_settings(options)
    for option, why in options.get("no_effect", {}).items():
        no_effect(option, why=why)
    if options.get("local") and settings.current().backend != "local":
        import attrs

        settings.set_current(attrs.evolve(settings.current(), backend="local", kubernetes=None))
        click.echo("flyte: --local: running on this machine instead", err=True)
    context = flyte.with_runcontext(
        name=options.get("name"),
        overwrite_cache=options.get("overwrite_cache", False),
        env_vars=options.get("env_vars") or None,
        service_account=options.get("service_account"),
        max_action_concurrency=options.get("max_action_concurrency"),
        labels=options.get("labels") or None,
    )
    with Progress(interactive=sys.stderr.isatty() and not root_param("no_progress")) as progress:
        try:
            run = context.run(task, **inputs)
        except Exception as exc:
            progress.stop()
            click.echo(redact(f"Error: {type(exc).__name__}: {exc}"), err=True)
            if progress.run_name:
                from flyte.cli.action_detail import failure_hint

                click.echo(failure_hint(progress.run_name), err=True)
            sys.exit(1)
    # The task's result as it returned it (3, not the reference's "ActionOutputs(o0=3)": stdout
    # stays JSON a script can read); a returned secret prints as ***, as in the records.
    click.echo(redact(_shown(run._result())))
    click.echo(f"run {run.name} succeeded: {run.url}", err=True)
