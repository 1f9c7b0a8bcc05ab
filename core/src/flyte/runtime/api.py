"""``flyte.init``, ``flyte.init_from_config``, ``flyte.run`` and ``flyte.with_runcontext``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flyte import _codec
from flyte import _image_refs as image_refs
from flyte._cache.store import get_store
from flyte._context import current_custom_context
from flyte._validation import (
    action_concurrency,
    env_var_dict,
    invalid,
    k8s_annotations,
    k8s_labels,
    label_value,
    safe_name,
    service_account,
    str_dict,
    wrong_type,
)
from flyte.config_file import find_config, section_not_a_mapping
from flyte.connector_task import ConnectorTask
from flyte.errors import (
    ActionAbortedError,
    ConfigurationError,
    ConfigurationTypeError,
    InitializationError,
    NoControlPlaneError,
    as_user_error,
)
from flyte.remote import Run
from flyte.runtime import environ, logs, page, run_threads, secret_mounts, secrets_runtime
from flyte.runtime import settings as cfg
from flyte.runtime import store as st
from flyte.runtime.aborts import AbortWatch
from flyte.runtime.controller import Controller
from flyte.runtime.pulse import RunPulse
from flyte.runtime.redact import redact
from flyte.runtime.settings import LocalSettings
from flyte.runtime.user_traceback import user_traceback
from flyte.shipping import importing_for_call
from flyte.task import TaskTemplate

# Ctrl-C: seconds the cancelled run gets to stop what it started before flyte.run re-raises.
INTERRUPT_GRACE = 30.0
# Parameters of the reference SDK's init that select a remote control plane: we cannot honour
# them, so a non-empty value is an error rather than a silently local run.
_REMOTE_ONLY = ("endpoint", "api_key", "client_id", "client_credentials_secret", "command", "proxy_command")
# Parameters of the reference SDK's init that only concern its remote client, logging format
# or image builder: accepted so code written for it runs unchanged; they change nothing here.
_ACCEPTED = (
    "org",
    "log_format",
    "reset_root_logger",
    "headless",
    "insecure",
    "insecure_skip_verify",
    "ca_cert_file_path",
    "auth_type",
    "auth_client_config",
    "rpc_retries",
    "http_proxy_url",
    "batch_size",
    "image_builder",
    "image_registry",
    "source_config_path",
    "sync_local_sys_paths",
    "load_plugin_type_transformers",
    "local_persistence",
    "user_log_level",
    "disable_keyring",
    "scopes",
    "local_tracked",
    "local_tracked_strict",
)
SECRET_SOURCES = ("store", "environment")
# init's own parameters (for the error listing what it accepts).
_INIT_PARAMETERS = (
    "project",
    "domain",
    "root_dir",
    "max_concurrency",
    "strict_dependencies",
    "storage",
    "log_level",
    "secret_source",
    "raw_data_path",
    "smtp",
    "notification_timeout",
    "images",
)


def init(
    *,
    project: str | None = None,
    domain: str | None = None,
    root_dir: str | Path | None = None,
    max_concurrency: int | None = None,
    strict_dependencies: bool = False,
    storage: Any = None,
    log_level: int | str | None = None,
    secret_source: str = "store",
    raw_data_path: str | None = None,
    smtp: Any = None,
    notification_timeout: float | None = None,
    images: Any = None,
    **options: Any,
) -> None:
    """Select the local backend: tasks run in this process, state under the state root.

    ``root_dir`` is where task code is found (added to ``sys.path``). ``storage`` is where task
    data goes (a local path or an object-store URL, also ``raw_data_path=``), or object-store
    settings (``flyte.storage.S3(...)``, ``GCS``, ``ABFS``, or a list of them); the other settings
    are documented on :class:`~flyte.runtime.settings.LocalSettings` (``smtp`` and
    ``notification_timeout``: how ``flyte.notify`` notifications are delivered; ``images``: the
    references ``Image.from_ref_name`` names stand for). The reference SDK's
    client-only parameters (``org``, ``log_format``, ``image_builder``, ``batch_size``, ...) are
    accepted and have no effect; ``endpoint``/``api_key`` (a remote control plane) are refused.
    """
    remote = [k for k in options if k in _REMOTE_ONLY and options[k]]
    if remote:
        raise InitializationError(
            f"flyte.init: {', '.join(remote)} select a remote Flyte control plane, which this "
            "library does not talk to; use flyte.init() for local runs, or "
            "flyte.init_from_config() with a `kubernetes:` section for a cluster"
        )
    unknown = [k for k in options if k not in _REMOTE_ONLY and k not in _ACCEPTED]
    if unknown:
        import difflib

        hints = [difflib.get_close_matches(k, [*_ACCEPTED, *_INIT_PARAMETERS], 1) for k in unknown]
        hint = "".join(f"; did you mean `{h[0]}`?" for h in hints if h)
        if not hint:
            hint = f" (accepted: {', '.join(_INIT_PARAMETERS)}, and the reference SDK's {', '.join(_ACCEPTED)})"
        raise TypeError(f"flyte.init: unknown parameter(s) {', '.join(unknown)}{hint}")
    if secret_source not in SECRET_SOURCES:
        raise ConfigurationError(
            f"flyte.init: secret_source={secret_source!r} is not valid (accepted: {', '.join(SECRET_SOURCES)})"
        )
    image_refs.set_refs(images)
    if root_dir is not None:
        _path("root_dir", root_dir)
        path = str(Path(root_dir).resolve())
        if path not in sys.path:
            sys.path.insert(0, path)
    if log_level is not None:
        import logging

        _log_level("log_level", log_level)
        logging.getLogger("flyte").setLevel(log_level.upper() if isinstance(log_level, str) else log_level)
    storage_configs: tuple[Any, ...] = ()
    if storage is not None and not isinstance(storage, (str, os.PathLike)):
        # The reference SDK's storage settings object (flyte.storage.S3/GCS/ABFS), or several.
        from flyte.storage._config import to_storage_configs

        storage_configs, storage = to_storage_configs(storage), None
    if raw_data_path is not None:
        if storage is not None:
            raise ConfigurationError("flyte.init: give the storage location once (storage=URL or raw_data_path=URL)")
        storage = raw_data_path
    cfg.set_current(
        LocalSettings(
            max_concurrency=max_concurrency,
            strict_dependencies=strict_dependencies,
            storage=os.fspath(storage) if storage is not None else None,
            storage_configs=storage_configs,
            project=project or "default",
            domain=domain or "development",
            secret_source=secret_source,
            smtp=smtp,
            notification_timeout=notification_timeout,
        )
    )
    secret_mounts.prepare()  # a killed process's secret files go now, not at the first run


def init_from_config(
    path_or_config: str | Path | None = None,
    root_dir: str | Path | None = None,
    *,
    path: str | Path | None = None,
    **overrides: Any,
) -> None:
    """Initialise from a YAML config file (``path_or_config``, or ``path=``; found as
    :func:`flyte.config_file.find_config` says when omitted). A config, or none at all, that names no remote
    backend means local execution; one line on stderr says which was chosen.

    Keyword ``overrides`` (``project``, ``domain``, ``storage``, ``log_level``, ...) win over
    the file, as with :func:`init`.
    """
    import yaml

    if path_or_config is not None and path is not None:
        raise TypeError("flyte.init_from_config: pass the config file once (path_or_config or path=)")
    given = path_or_config if path_or_config is not None else path
    found = find_config(given)
    data: dict[str, Any] = {}
    if found is not None:
        problem = short = None
        try:
            data = yaml.safe_load(found.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problem, short = f" is not valid YAML ({exc})", "is not valid YAML"
        else:
            if not isinstance(data, dict):
                problem, short = " must hold a mapping", "must hold a mapping"
            else:
                section = section_not_a_mapping(data)
                if section is not None:
                    value = data[section]
                    problem = f": {section}: expected a mapping, got {type(value).__name__} {value!r:.80}"
                    short = f"its {section} is not a mapping"
        if problem is not None:
            if given is not None:  # the caller named it: it must be a config
                raise InitializationError(f"flyte.init_from_config: {found}{problem}")
            # Found, not named (e.g. a project's own ./config.yaml for something else): skipped
            # with one line, as the reference SDK does, rather than failing every run.
            print(f"flyte: {found} is not a flyte config ({short}); ignoring it", file=sys.stderr)
            found, data = None, {}
    task = data.get("task") or {}
    local = data.get("local") or {}
    kube = data.get("kubernetes")
    settings = dict(
        project=task.get("project"),
        domain=task.get("domain"),
        max_concurrency=local.get("max_concurrency"),
        strict_dependencies=bool(local.get("strict_dependencies", False)),
        storage=local.get("storage") or (kube or {}).get("storage"),
        smtp=local.get("smtp"),
        notification_timeout=local.get("notification_timeout"),
    )
    refs = (data.get("image") or {}).get("image_refs")
    settings["images"] = {**image_refs.parse(refs), **image_refs.parse(overrides.pop("images", None))}
    settings.update({k: v for k, v in overrides.items() if v is not None or k not in settings})
    init(root_dir=root_dir, **settings)
    if data.get("storage") is not None and not cfg.current().storage_configs:  # settings in code win
        from flyte.storage._config import to_storage_configs

        try:  # object-store settings: storage.s3 / storage.gcs / storage.abfs
            configs = to_storage_configs(data["storage"])
        except (TypeError, ValueError) as exc:
            raise InitializationError(f"flyte.init_from_config: {found}: {exc}") from None
        cfg.set_current(cfg.current().__class__(**{**_asdict(cfg.current()), "storage_configs": configs}))
    where = str(found) if found else "no config file"
    if kube:
        from flyte.render.context import RenderSettings

        try:  # unknown keys are an error now, not at the first run
            RenderSettings.from_config({k: v for k, v in kube.items() if k not in ("context", "kubeconfig")})
        except (TypeError, ValueError) as exc:
            raise InitializationError(f"flyte.init_from_config: {found}: {exc}") from None
        cfg.set_current(
            cfg.current().__class__(**{**_asdict(cfg.current()), "backend": "kubernetes", "kubernetes": dict(kube)})
        )
        print(f"flyte: Kubernetes backend from {where}", file=sys.stderr)
    else:
        endpoint = (data.get("admin") or {}).get("endpoint")
        note = f" (admin.endpoint {endpoint} is ignored: no Flyte control plane is used)" if endpoint else ""
        print(f"flyte: {where} names no remote backend; running locally{note}", file=sys.stderr)


def _asdict(settings: LocalSettings) -> dict[str, Any]:
    import attrs

    return attrs.asdict(settings, recurse=False)


def new_run_name() -> str:
    """``r`` and nine random letters or digits."""
    # From os.urandom rather than the `secrets` module: a user's script named secrets.py
    # (the guide's own example) would be imported in its place.
    number = int.from_bytes(os.urandom(8), "big")
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    letters = []
    for _ in range(9):
        number, digit = divmod(number, 36)
        letters.append(alphabet[digit])
    return "r" + "".join(letters)


class RunContext:
    """Settings of one run; ``.run(task, ...)`` starts it (see :func:`with_runcontext`)."""

    def __init__(
        self,
        *,
        name: str | None = None,
        overwrite_cache: bool = False,
        disable_run_cache: bool = False,
        env_vars: dict[str, str] | None = None,
        mode: str | None = None,
        custom_context: dict[str, str] | None = None,
        notifications: Any = None,
        max_action_concurrency: int | None = None,
        **ignored: Any,
    ):
        _check_reference_options(ignored)
        action_concurrency("max_action_concurrency", max_action_concurrency)
        if name is not None:
            safe_name("name", name)  # it names the run's folder under the state root
        if not isinstance(overwrite_cache, bool):
            wrong_type("overwrite_cache", overwrite_cache, "True or False")
        if not isinstance(disable_run_cache, bool):
            wrong_type("disable_run_cache", disable_run_cache, "True or False")
        if mode in ("remote", "hybrid"):
            raise NoControlPlaneError(
                f"with_runcontext: mode {mode!r} runs on a Flyte control plane, which this runtime does not have "
                '(accepted: "local"; for a Kubernetes cluster, flyte.init_from_config() with a `kubernetes:` section)'
            )
        if mode not in (None, "local"):
            raise ConfigurationError(f'with_runcontext: mode {mode!r} is not supported (accepted: "local")')
        self.name = name
        self.overwrite_cache = overwrite_cache
        self.disable_run_cache = disable_run_cache
        self.env_vars = env_var_dict("env_vars")(env_vars) or {}
        # Values tasks read with flyte.ctx(): any str keys, as in the reference SDK (not env vars).
        self.custom_context = str_dict("custom_context")(custom_context) or {}
        # Delivered when the run ends (flyte.runtime.notifications); a trigger's are added to these.
        self.notifications: tuple[Any, ...] = () if notifications is None else _notifications(notifications)
        # Task bodies of this run running at once (0 or None: flyte.init's max_concurrency).
        self.max_action_concurrency = max_action_concurrency or None
        # A cluster run's pods run as this ServiceAccount where the task names none.
        self.service_account: str | None = ignored.get("service_account")
        self.labels = ignored.get("labels")
        self.annotations = ignored.get("annotations")

    @property
    def run(self) -> _Runner:
        """``.run(task, *args, **kwargs)`` runs ``task`` to completion and returns its
        :class:`~flyte.remote.Run`; ``await .run.aio(task, ...)`` does the same from async code."""
        return _Runner(self)

    @property
    def rerun(self) -> _Rerunner:
        """The reference SDK's rerun (and ``recover=True``) of a prior run, which needs a Flyte
        control plane: locally ``.rerun(run_name, ...)`` (and ``await .rerun.aio(...)``) checks
        its arguments, then raises :class:`~flyte.runtime.rerun.RerunNotAvailableLocallyError`."""
        return _Rerunner(self)


class _Rerunner:
    """``RunContext.rerun``: callable, with an ``aio`` variant, as in the reference SDK."""

    __slots__ = ("_context",)

    def __init__(self, context: RunContext):
        self._context = context

    def __call__(
        self,
        run_name: str,
        action_name: str = "a0",
        recover: bool = False,
        force_rerun_actions: Sequence[str] | None = None,
        allow_missing_source_outputs: bool = False,
        **inputs: Any,
    ) -> Any:
        from flyte.runtime.rerun import refuse

        refuse(run_name, action_name, recover, force_rerun_actions, allow_missing_source_outputs, **inputs)

    async def aio(
        self,
        run_name: str,
        action_name: str = "a0",
        recover: bool = False,
        force_rerun_actions: Sequence[str] | None = None,
        allow_missing_source_outputs: bool = False,
        **inputs: Any,
    ) -> Any:
        return self(run_name, action_name, recover, force_rerun_actions, allow_missing_source_outputs, **inputs)


def rerun(
    run_name: str,
    action_name: str = "a0",
    recover: bool = False,
    force_rerun_actions: Sequence[str] | None = None,
    allow_missing_source_outputs: bool = False,
    **inputs: Any,
) -> Any:
    """``flyte.rerun``: :meth:`RunContext.rerun` with default settings."""
    return RunContext().rerun(
        run_name, action_name, recover, force_rerun_actions, allow_missing_source_outputs, **inputs
    )


async def _rerun_aio(*args: Any, **kwargs: Any) -> Any:
    """``await flyte.rerun.aio(...)``."""
    return await RunContext().rerun.aio(*args, **kwargs)


rerun.aio = _rerun_aio  # type: ignore[attr-defined]


def _bool(param: str, value: Any) -> None:
    if not isinstance(value, bool):
        wrong_type(param, value, "True or False")


def _optional(check: Any) -> Any:
    return lambda param, value: None if value is None else check(param, value)


def _choice(*choices: str) -> Any:
    def _check(param: str, value: Any) -> None:
        if value not in choices:
            invalid(param, value, ", ".join(repr(c) for c in choices))

    return _check


def _str(param: str, value: Any) -> None:
    if not isinstance(value, str):
        wrong_type(param, value, "a str")


def _log_level(param: str, value: Any) -> None:
    import logging

    if isinstance(value, bool) or not isinstance(value, (int, str)):
        wrong_type(param, value, "a logging level such as logging.DEBUG (an int) or 'DEBUG'")
    if isinstance(value, str) and not isinstance(logging.getLevelNamesMapping().get(value.upper()), int):
        invalid(param, value, ", ".join(logging.getLevelNamesMapping()), "is not a logging level")


def _datetime(param: str, value: Any) -> None:
    from datetime import datetime

    if not isinstance(value, datetime):
        wrong_type(param, value, "a datetime.datetime")


def _path(param: str, value: Any) -> None:
    if not isinstance(value, (str, os.PathLike)):
        wrong_type(param, value, "a path (str or pathlib.Path)")


# The reference SDK's with_runcontext options that only concern its remote control plane,
# code bundling or logging: accepted so code written for it runs unchanged, and checked as
# it types them, so that a wrong value or a misspelt name is an error rather than ignored.
_REFERENCE_OPTIONS: dict[str, Any] = {
    "service_account": _optional(service_account),  # a cluster run's pods run as it
    "version": _optional(_str),
    "copy_style": _choice("loaded_modules", "all", "none", "custom"),
    "dry_run": _bool,
    "copy_bundle_to": _optional(_path),
    "interactive_mode": _optional(_bool),
    "raw_data_path": _optional(_str),
    "run_base_dir": _optional(_str),
    "run_start_time": _optional(_datetime),
    "project": _optional(safe_name),
    "domain": _optional(safe_name),
    "labels": k8s_labels("labels"),
    "annotations": k8s_annotations("annotations"),
    "interruptible": _optional(_bool),
    "log_level": _optional(_log_level),
    "log_format": _choice("console", "json"),
    "user_log_level": _optional(_log_level),
    "reset_root_logger": _bool,
    "queue": _optional(label_value),
    "cache_lookup_scope": _choice("global", "project-domain"),
    "preserve_original_types": _bool,
    "debug": _bool,
    "tracked": _bool,
    "tracked_strict": _bool,
}


def _check_reference_options(options: dict[str, Any]) -> None:
    for key, value in options.items():
        check = _REFERENCE_OPTIONS.get(key)
        if check is None:
            import difflib

            known = [*_RUN_OPTIONS, *_REFERENCE_OPTIONS]
            hint = difflib.get_close_matches(key, known, 1)
            raise ConfigurationTypeError(
                f"with_runcontext: unknown parameter `{key}`"
                + (f"; did you mean `{hint[0]}`?" if hint else f" (accepted: {', '.join(sorted(known))})")
            )
        if key in ("labels", "annotations"):
            check(value)  # converters: they take the value only
        else:
            check(key, value)


# with_runcontext's options that change a local run (RunContext's own parameters).
_RUN_OPTIONS = (
    "mode",
    "name",
    "overwrite_cache",
    "disable_run_cache",
    "env_vars",
    "custom_context",
    "notifications",
    "max_action_concurrency",
)


def _notifications(value: Any) -> tuple[Any, ...]:
    from flyte.notify import to_notifications  # only for a run that has some (a cold start skips it)

    return to_notifications("notifications", value)


class _Runner:
    """``RunContext.run``: callable, with an ``aio`` variant, as in the reference SDK."""

    __slots__ = ("_context",)

    def __init__(self, context: RunContext):
        self._context = context

    def __call__(self, task: TaskTemplate, *args: Any, **kwargs: Any) -> Any:
        _refuse_while_importing_for_a_worker()
        if not isinstance(task, TaskTemplate):
            from flyte.remote import Task, Trigger

            if isinstance(task, Trigger):  # a deployed trigger, fired by hand
                from flyte.runtime.schedule import fire_by_hand

                return fire_by_hand(task, self._context, args, kwargs)
            if not isinstance(task, Task):  # a deployed task: the task it names
                wrong_type(
                    "task",
                    task,
                    "a task (a function decorated with @env.task), a flyte.remote.Task.get(...) "
                    "or a flyte.remote.Trigger.get(...)",
                )
            task = task.template
        inputs = task.bind(args, kwargs)
        return _execute(task, inputs, self._context)

    async def aio(self, task: TaskTemplate, *args: Any, **kwargs: Any) -> Any:
        """:meth:`__call__` from async code: the run has its own thread and loop, so this loop
        stays free while it runs. Cancelling the await stops the run as Ctrl-C does (its
        tasks cancelled, the run recorded ABORTED, on a cluster its object deleted) and goes
        on once the run is recorded."""
        cancel = threading.Event()

        def call() -> Any:
            _cancel_request.event = cancel
            try:
                return self.__call__(task, *args, **kwargs)
            finally:
                _cancel_request.event = None

        running = asyncio.ensure_future(asyncio.to_thread(call))
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            cancel.set()
            await asyncio.wait([running])
            if not running.cancelled():
                running.exception()  # the run's ActionAbortedError: this cancellation, retrieved
            raise


# A cancelled ``await flyte.run.aio(...)`` stops its run: the thread that runs it holds the
# call's Event here, which the run's wait checks (run_on_cluster deletes its object on it).
_cancel_request = threading.local()


def _refuse_while_importing_for_a_worker() -> None:
    """A script that calls flyte.run at module level, imported by a reusable environment's
    worker to find its task, must not start the run again there (it would wait forever on
    the pool it runs in): a clear error instead, after which the worker uses the function
    shipped by value. As multiprocessing's spawn, such code belongs under
    ``if __name__ == "__main__":``."""
    file = importing_for_call()
    if file is not None:
        raise RuntimeError(
            f"flyte.run called while a worker process imports {file} to run one of its tasks: "
            'module-level code runs again in each worker; put the run under if __name__ == "__main__":'
        )


def cancel_requested() -> threading.Event | None:
    """The Event that a cancelled ``flyte.run.aio`` sets for the run this thread runs, or None."""
    return getattr(_cancel_request, "event", None)


class _RunCancelled(Exception):
    """On the thread waiting for a run: its ``flyte.run.aio`` caller was cancelled, or (with the
    reason as its argument) another process asked to abort it (flyte.runtime.aborts)."""


def current_project() -> str:
    """The project of the running task, or outside a task the one ``flyte.init``/
    ``init_from_config`` set (``"default"`` when neither was called: local runs need no
    initialization)."""
    return _scope().project


def current_domain() -> str:
    """The domain of the running task, or outside a task the one ``flyte.init`` set
    (``"development"`` by default); see :func:`current_project`."""
    return _scope().domain


def _scope() -> Any:
    """The settings of the run the running task belongs to (what ``flyte.ctx().action`` names),
    else the current ones."""
    from flyte._context import current_caller

    controller = getattr(current_caller(), "controller", None)
    return controller.settings if controller is not None else cfg.current()


def with_runcontext(mode: str | None = None, **settings: Any) -> RunContext:
    """Settings for one run: ``mode`` ("local", also positional as in the reference SDK),
    ``name``, ``overwrite_cache`` (recompute and replace cached results),
    ``disable_run_cache`` (neither read nor write the cache in this run), ``env_vars``
    (visible to every task of the run), ``custom_context`` (``flyte.ctx()``),
    ``notifications`` (``flyte.notify`` rules delivered when the run ends),
    ``max_action_concurrency`` (task bodies of the run running at once: 0 or at least 2, as
    the reference SDK takes it; a parent waiting for its children gives its slot up meanwhile;
    0 or None: ``flyte.init(max_concurrency=)``'s cap, none by default). The reference
    SDK's remote-only options (``project``, ``queue``, ``copy_style``, ...) are checked as it
    types them and otherwise ignored; any other name is a ``TypeError``."""
    return RunContext(mode=mode, **settings)


def run(task: TaskTemplate, *args: Any, **kwargs: Any) -> Any:
    """Run a task (and every task it calls) locally to completion; returns a Run.

    Raises the task's error if it fails (the run is recorded as FAILED either way).
    """
    return RunContext().run(task, *args, **kwargs)


async def _run_aio(task: TaskTemplate, *args: Any, **kwargs: Any) -> Any:
    """``await flyte.run.aio(task, ...)``: :func:`run` from async code."""
    return await RunContext().run.aio(task, *args, **kwargs)


run.aio = _run_aio  # type: ignore[attr-defined]


# Ctrl-C: how long the run's loop gets to run the cancellation before the run is stopped
# from outside (a loop that does not is blocked by an async body without a time limit).
LOOP_CHECK = 1.0
# Ctrl-C: how long stopped task bodies get to run their ``finally`` blocks before exit. A body
# inside one C call (``time.sleep(3600)``) cannot be interrupted: it must not hold exit long.
UNWIND_WAIT = 2.0


def _interrupt(controller: Controller, outcome: dict[str, Any], finished: threading.Event) -> None:
    """Ctrl-C: cancel the run's tasks, so plugins stop what they started (engines, processes)
    and every body on a thread of its own is stopped with its processes, and give them
    ``INTERRUPT_GRACE`` seconds to; then stop whatever is left from here."""
    main = outcome.get("main")
    try:
        if main is not None:
            loop, task = main
            responsive = threading.Event()
            with contextlib.suppress(RuntimeError):  # the run's loop has already closed
                loop.call_soon_threadsafe(task.cancel)
                loop.call_soon_threadsafe(responsive.set)
            # A loop thread's children move to another thread when it ends: stop them before.
            controller.stop_loop_processes()
            if not finished.is_set() and responsive.wait(LOOP_CHECK):
                finished.wait(INTERRUPT_GRACE)
    except KeyboardInterrupt:
        pass  # a second Ctrl-C: stop without waiting
    controller.abort()
    with contextlib.suppress(KeyboardInterrupt):
        controller.wait_unwound(UNWIND_WAIT)


def _execute(task: TaskTemplate, inputs: dict[str, Any], context: RunContext) -> Any:
    settings = cfg.current()
    # A connector task has no cluster object: its work is followed from here, as Flyte's
    # connector service does in the control plane (README: "Connectors").
    if settings.backend == "kubernetes" and not isinstance(task, ConnectorTask):
        from flyte.kube.backend import run_on_cluster

        return run_on_cluster(task, inputs, context, settings)
    environ.install()
    logs.install()  # what tasks print is kept per attempt (and still reaches the terminal)
    secret_mounts.prepare()
    name = context.name or new_run_name()
    if context.name is not None and st.run_exists(name):
        raise ConfigurationError(
            f"with_runcontext(name={name!r}): a run named {name!r} already exists in this state root "
            "(run names are unique: pass another name, or none for a generated one)"
        )
    if inputs:  # a task without inputs stores nothing (and skips finding the storage root)
        from flyte.io._transport import outgoing
        from flyte.storage._paths import run_prefix, writing_under

        with writing_under(f"{run_prefix(name)}/data/inputs"):  # dataframes stored: the record holds references
            inputs = {k: outgoing(v) for k, v in inputs.items()}
    store = st.writer()  # held until the run ends (st.release below)
    try:
        return _record_run(task, inputs, context, settings, name, store)
    finally:
        st.release(store)


def _record_run(
    task: TaskTemplate,
    inputs: dict[str, Any],
    context: RunContext,
    settings: LocalSettings,
    name: str,
    store: st.RunStore,
) -> Any:
    """Run ``task`` as the run ``name``, recording it through ``store``."""
    if task.spec.secrets:  # (the root's inputs are recorded before its attempt has them)
        secrets_runtime.remember_declared(task.spec, settings)
    created_at = store.create_run(name, task.name, _codec.dumps(inputs, path="inputs"))
    controller = Controller(
        name,
        settings,
        store,
        run_env=context.env_vars,
        overwrite_cache=context.overwrite_cache,
        disable_cache=context.disable_run_cache,
        max_concurrency=context.max_action_concurrency,
    )
    outcome: dict[str, Any] = {}
    custom = {**(current_custom_context.get() or {}), **context.custom_context}

    async def main() -> None:
        # Only the custom context crosses into the run's thread: the caller's task context
        # (if flyte.run is called inside a task) must not capture this run's calls.
        current_custom_context.set(custom or None)
        outcome["main"] = (asyncio.get_running_loop(), asyncio.current_task())
        outcome["value"] = await controller.run_action(task, inputs, parent=None)

    finished = threading.Event()

    def left_behind() -> bool:  # a stopped body still unwinding may hand its outcome to the loop
        return bool(controller.bodies) or any(not body.finished for body in controller.stopping)

    def target() -> None:
        controller.loop_threads.add(threading.get_native_id())
        try:
            run_threads.run(main(), left_behind)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            finished.set()

    # The run gets a thread (kept from an earlier run, or new) and a loop of its own, so
    # flyte.run works from sync code, from inside a running event loop (notebooks), and from a
    # task of another run alike. Started inside a task attempt, a new thread: it is bound to
    # that attempt's log as any thread started there.
    pulse = RunPulse(store, name, task.name)  # the heartbeat and the run page while it goes
    try:  # from the thread's start on, Ctrl-C must reach the run (its tasks may already run)
        run_threads.start(target, name=f"flyte-run-{name}", fresh=logs.bound_here())
        # An Event, not Thread.join: Ctrl-C inside join marks a running thread as stopped
        # (CPython 3.11, bpo-45274).
        cancel = cancel_requested()
        aborts = AbortWatch(store, name)  # flyte abort run NAME, from another process
        while not finished.wait(0.1):
            if cancel is not None and cancel.is_set():
                raise _RunCancelled
            if aborts.requested() is not None:
                raise _RunCancelled(aborts.reason)
            pulse.tick()
    except (KeyboardInterrupt, _RunCancelled) as stop:
        _interrupt(controller, outcome, finished)
        aborted = None  # the error an abort by request ends the run with
        if isinstance(stop, KeyboardInterrupt):
            why = "KeyboardInterrupt: the run was interrupted"
        elif stop.args:
            aborted = ActionAbortedError(f"run {name} was aborted: {stop.args[0]}")
            why = redact(f"ActionAbortedError: {aborted}")
        else:
            why = "CancelledError: the run was cancelled (the await of flyte.run.aio was cancelled)"
        store.end_run(name, st.ABORTED, error=why)
        store.flush()
        logs.drain()
        if context.notifications:
            _notify(store, context, name, settings, aborted, interrupted=True)
        pulse.final_page()
        if aborted is not None:
            raise aborted from None
        if isinstance(stop, _RunCancelled):
            raise ActionAbortedError(f"run {name}: {why}") from None
        raise
    finally:
        controller.close()
    logs.drain()  # the ended attempts' logs are on disk when the run is recorded as ended
    # The run's cache entries are visible to other processes once it returns (a cache file
    # locked by another process is a warning: the run's own record must still end).
    get_store().flush_or_keep()
    error = outcome.get("error")
    if error is None:
        outputs = controller.root_outputs or _codec.dumps(outcome["value"], path="outputs")
        ended_at = store.end_run(name, st.SUCCEEDED, outputs=outputs)
    else:
        ended_at = store.end_run(name, st.FAILED, error=redact(f"{type(error).__name__}: {error}"))
    # A short run's rows were all written by this commit: its page is made from them, not read back.
    written = store.flush(run=name, most=page.SMALL_RUN)
    if context.notifications:  # a run without notifications pays this test only
        _notify(store, context, name, settings, error)
    pulse.final_page(written)
    result = Run(
        name=name,
        task=task.name,
        phase=st.FAILED if error else st.SUCCEEDED,
        created_at=created_at,  # as recorded: Run.get(name) says the same
        ended_at=ended_at,
        error=None if error is None else f"{type(error).__name__}: {error}",
    )
    if error is not None:
        # Its own type, and a RuntimeUserError with .code as the reference SDK raises it; with
        # the user's frames, not the runtime's (flyte.runtime.user_traceback).
        raised = as_user_error(error)
        raise raised.with_traceback(user_traceback(raised))
    result._outputs = outcome["value"]
    result._outputs_json = controller.root_outputs
    return result


def _notify(
    store: st.RunStore,
    context: RunContext,
    name: str,
    settings: LocalSettings,
    error: BaseException | None,
    interrupted: bool = False,
) -> None:
    """Deliver the run's notifications now that its end is recorded."""
    from flyte.runtime.notifications import deliver_for_run

    with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C skips them; the run is recorded
        deliver_for_run(store, context.notifications, name, settings, error, interrupted=interrupted)
