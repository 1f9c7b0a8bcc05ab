"""Methods callable both ways, as the reference SDK's ``syncify`` makes them: ``run.wait()`` from
sync code, ``await run.wait.aio()`` from async code.

The reference runs every such method's coroutine on a background event-loop thread, because
its bodies talk to a server. Ours read the local run store (a few SQLite rows, a file) in well
under a millisecond, so the plain function is the implementation and ``.aio`` calls it directly
on the caller's loop; a method that waits (polls) gives its own async body, which sleeps with
``asyncio`` so the caller's loop keeps running. No thread, no loop of ours.

What ``.aio`` returns follows the method: a coroutine for a function, an async iterator for a
generator function (``async for run in Run.listall.aio()``), as the reference's does.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any


class syncify:
    """Decorate a method (or, stacked over ``@classmethod``, a classmethod) so that
    ``obj.method(...)`` runs it and ``obj.method.aio(...)`` returns its awaitable form.

    ``@method.aio_body`` gives the async body ``.aio`` runs instead of the sync one (for a method
    that waits). ``awaitable_in_loop=True`` is for the few methods the reference defines as plain
    coroutine functions (``Action.wait``): called from a thread whose event loop is running, the
    call returns an awaitable (so the reference's ``await action.wait()`` works) that is already
    complete when the work is already done; elsewhere it runs at once.
    """

    def __init__(self, fn: Callable[..., Any], *, awaitable_in_loop: bool = False) -> None:
        self.on_class = isinstance(fn, classmethod)
        self.fn: Callable[..., Any] = fn.__func__ if isinstance(fn, classmethod) else fn
        self.is_generator = inspect.isgeneratorfunction(self.fn)
        self.async_fn: Callable[..., Any] | None = None
        functools.update_wrapper(self, self.fn)  # type: ignore[arg-type]
        # staticmethod: read back as this object itself, not bound (it is a descriptor too).
        self._bound: type[_Bound] = type("_Bound", (_Bound,), {"_spec": staticmethod(self), "__slots__": ()})
        self.awaitable_in_loop = awaitable_in_loop

    @property
    def awaitable_in_loop(self) -> bool:
        return self._bound.__call__ is _Bound._awaitable_in_loop

    @awaitable_in_loop.setter
    def awaitable_in_loop(self, value: bool) -> None:
        # Set on this method's own bound type, so the other methods keep partial's C-level call.
        if value:
            self._bound.__call__ = _Bound._awaitable_in_loop  # type: ignore[method-assign]

    def aio_body(self, async_fn: Callable[..., Any]) -> syncify:
        """Use ``async_fn`` (same parameters, ``async def``) for ``.aio``."""
        self.async_fn = async_fn
        return self

    def __set_name__(self, owner: type, name: str) -> None:
        self.__qualname__ = f"{owner.__qualname__}.{name}"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        target = owner if self.on_class else obj
        if target is None:  # looked up on the class: the descriptor itself
            return self
        return self._bound(self.fn, target)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # through the class: Run.outputs(run)
        return self.fn(*args, **kwargs)


class _Bound(functools.partial):
    """``syncify`` bound to its instance (or class): call it (partial's own call, in C: a method
    call costs what it did before it was syncified), or ``.aio`` it. Each syncified method has
    its own subclass, whose ``_spec`` is that method."""

    __slots__ = ()
    _spec: syncify

    def aio(self, *args: Any, **kwargs: Any) -> Any:
        """The awaitable form: a coroutine, or an async iterator for a generator method."""
        spec, target = self._spec, self.args[0]
        if spec.async_fn is not None:
            return spec.async_fn(target, *args, **kwargs)
        if spec.is_generator:
            return _async_iter(spec.fn(target, *args, **kwargs))
        return _call_soon(spec.fn, target, *args, **kwargs)

    def _awaitable_in_loop(self, *args: Any, **kwargs: Any) -> Any:
        """The call of a method the reference defines as a coroutine function."""
        target = self.args[0]
        if not _loop_running():
            return self.func(target, *args, **kwargs)
        if target._settled():  # nothing to wait for: do it now, hand back its result
            return Ready(self.func(target, *args, **kwargs))
        return self.aio(*args, **kwargs)

    @property
    def __self__(self) -> Any:
        return self.args[0]

    @property
    def __name__(self) -> str:
        return self.func.__name__

    def __repr__(self) -> str:
        return f"<syncified method {self._spec.__qualname__} of {self.args[0]!r}>"


class Ready:
    """An awaitable whose result is already there (what a reference coroutine method returns
    when called from async code for work that is already done)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Ready({self.value!r})"

    def __await__(self) -> Any:
        return self.value
        yield


async def _call_soon(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


async def _async_iter(items: Iterator[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
