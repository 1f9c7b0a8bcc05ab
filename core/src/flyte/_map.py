"""``flyte.map``: call a task once per item, concurrently, and get the results in order."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from flyte._context import current_caller, current_group


def _target(func: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """The task and the arguments bound to it (``functools.partial`` binds some up front)."""
    from flyte.task import TaskTemplate

    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    while isinstance(func, functools.partial):
        args, kwargs = (*func.args, *args), {**func.keywords, **kwargs}
        func = func.func
    if not isinstance(func, TaskTemplate) and not callable(func):
        raise TypeError(f"flyte.map: func={func!r} is not valid (accepted: a task, or functools.partial of one)")
    return func, args, kwargs


def _check_concurrency(concurrency: Any) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 0:
        raise ValueError(f"flyte.map: concurrency={concurrency!r} is not valid (accepted: an int >= 0; 0 = no limit)")
    return concurrency


def _check_call(iterables: tuple[Any, ...], group_name: Any, return_exceptions: Any) -> None:
    from flyte.errors import ConfigurationTypeError

    for position, items in enumerate(iterables, start=1):
        if not isinstance(items, Iterable):
            raise ConfigurationTypeError(
                f"flyte.map: iterable {position} ({items!r}) is not iterable "
                "(accepted: a list or other iterable per parameter, e.g. flyte.map(task, [1, 2, 3]))"
            )
    if group_name is not None and (not isinstance(group_name, str) or not group_name):
        raise ConfigurationTypeError(f"flyte.map: group_name={group_name!r} is not valid (accepted: a non-empty str)")
    if not isinstance(return_exceptions, bool):  # a truthy "no" would silently mean True
        raise ConfigurationTypeError(
            f"flyte.map: return_exceptions={return_exceptions!r} is not valid (accepted: True or False)"
        )


async def _results(
    func: Any, iterables: tuple[Iterable[Any], ...], group_name: str | None, concurrency: int, return_exceptions: bool
) -> AsyncIterator[Any]:
    task, bound_args, bound_kwargs = _target(func)
    limit = asyncio.Semaphore(concurrency) if concurrency else None
    name = group_name or f"map_{getattr(task, 'short_name', None) or getattr(task, '__name__', 'func')}"

    async def one(item: tuple[Any, ...]) -> Any:
        if limit is not None:
            await limit.acquire()
        try:
            args, kwargs = (*bound_args, *item), bound_kwargs
            if hasattr(task, "aio"):  # a task: an action of the run (a plain call outside one)
                return await task.aio(*args, **kwargs)
            result = task(*args, **kwargs)
            return await result if asyncio.iscoroutine(result) else result
        finally:
            if limit is not None:
                limit.release()

    def direct(item: tuple[Any, ...]) -> asyncio.Future[Any]:
        # No coroutine of ours around the call: the task's own coroutine is the future's (one
        # frame less per item, alive while the item waits). A call that cannot be bound fails
        # its item, as it would inside ``one``.
        try:
            return asyncio.ensure_future(task.aio(*bound_args, *item, **bound_kwargs))
        except Exception as exc:
            failed = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return failed

    start = direct if limit is None and hasattr(task, "aio") else lambda item: asyncio.ensure_future(one(item))
    token = current_group.set(f"{current_group.get()}/{name}" if current_group.get() else name)
    try:
        futures = [start(item) for item in zip(*iterables, strict=False)]  # the shortest iterable ends the map
    finally:
        current_group.reset(token)
    try:
        for future in futures:
            try:
                yield await future
            except Exception as exc:
                if not return_exceptions:
                    raise
                yield exc
    finally:
        for future in futures:
            future.cancel()
        await asyncio.gather(*futures, return_exceptions=True)


class _Map:
    """``flyte.map(task, *iterables, group_name=None, concurrency=0, return_exceptions=True)``.

    Calls ``task`` once per item of the zipped iterables, concurrently (at most
    ``concurrency`` at a time; 0 means no limit), and yields the results in input order. With
    ``return_exceptions=True`` (the default) a failed call yields its exception instead of
    stopping the iteration. The calls are actions of the current run, in a group named
    ``group_name`` (default ``map_<task>``). ``flyte.map.aio(...)`` is the async iterator.
    """

    def __call__(
        self,
        func: Callable[..., Any],
        *iterables: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
    ) -> Iterator[Any]:
        concurrency = _check_concurrency(concurrency)
        _target(func)
        _check_call(iterables, group_name, return_exceptions)
        from flyte.runtime.controller import run_blocking

        async def collect() -> list[Any]:
            return [r async for r in _results(func, iterables, group_name, concurrency, return_exceptions)]

        caller = current_caller()
        loop = getattr(caller, "loop", None)
        running = _running_loop()
        if caller is not None and loop is not None and running is None:
            # A sync task body on its own thread: its children run on the action's loop.
            results = caller.wait_on_loop(collect())
        elif caller is not None and loop is not None and running is loop:
            # An async body calling the sync map blocks its own loop until the map returns.
            results = caller.run_blocked(collect())
        else:
            results = run_blocking(collect())
        return iter(results)

    def aio(
        self,
        func: Callable[..., Any],
        *iterables: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
    ) -> AsyncIterator[Any]:
        """The results as an async iterator, in input order: ``async for r in flyte.map.aio(...)``."""
        concurrency = _check_concurrency(concurrency)
        _target(func)
        _check_call(iterables, group_name, return_exceptions)
        return _results(func, iterables, group_name, concurrency, return_exceptions)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


map = _Map()
