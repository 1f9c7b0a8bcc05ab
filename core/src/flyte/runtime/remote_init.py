"""The reference SDK's other ways to initialise: from an API key, from inside a task pod, with
passthrough authentication; and ``is_control_plane_available()``. The first and the last
select a Flyte control plane, which this runtime does not talk to: a clear
``InitializationError`` (the key never in it). ``init_in_cluster`` is what a task calls to
reach the control plane from its own body (to start or inspect runs): here the runtime that
runs the task is that control plane, so inside a task it has nothing to do, and outside one it
is :func:`flyte.init` with the project and domain."""

from __future__ import annotations

from typing import Any

from flyte.errors import InitializationError

_LOCAL = (
    "use flyte.init() (or flyte.init_from_config()) for local runs, or flyte.init_from_config() with a "
    "`kubernetes:` section for a cluster"
)


def init_from_api_key(api_key: str | None = None, **options: Any) -> None:
    """Refused: an API key selects a remote Flyte control plane."""
    raise InitializationError(
        "flyte.init_from_api_key: an API key (given, or FLYTE_API_KEY) selects a remote Flyte control plane, "
        f"which this library does not talk to; {_LOCAL}"
    )


def init_passthrough(endpoint: str | None = None, **options: Any) -> dict[str, Any]:
    """Refused: passthrough authentication is to a remote Flyte control plane."""
    raise InitializationError(
        "flyte.init_passthrough: passthrough authentication is to a remote Flyte control plane, which this "
        f"library does not talk to; {_LOCAL}"
    )


def init_in_cluster(
    org: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    api_key: str | None = None,
    endpoint: str | None = None,
    insecure: bool = False,
) -> dict[str, Any]:
    """Inside a running task: nothing to do (its runtime already runs it; ``flyte.remote``
    reads this runtime's records), and {} is returned as the reference returns its client's
    settings. Outside a task: ``flyte.init(project=, domain=)``. An ``endpoint`` or
    ``api_key`` (a remote control plane) is refused."""
    from flyte._context import current_caller
    from flyte.runtime.api import init

    if endpoint or api_key:
        given = "endpoint" if endpoint else "api_key"
        raise InitializationError(
            f"flyte.init_in_cluster: {given} selects a remote Flyte control plane, which this library does not "
            f"talk to; {_LOCAL}"
        )
    if current_caller() is None:
        init(project=project, domain=domain, org=org)
    return {}


def is_control_plane_available() -> bool:
    """False: runs are orchestrated by this process (or a Kubernetes Job it watches), never
    by a Flyte control plane whose actions could be replayed."""
    return False


def _with_aio(fn: Any) -> None:
    """Give ``fn`` the reference's ``await fn.aio(...)`` form (each is a coroutine there)."""

    async def aio(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    fn.aio = aio  # type: ignore[attr-defined]


for _fn in (init_from_api_key, init_passthrough, init_in_cluster):
    _with_aio(_fn)
