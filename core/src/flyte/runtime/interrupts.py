"""Interrupting a body's thread, never inside flyte's own code on that thread.

A stopped body's thread gets ``TaskInterruptedError`` at its next Python instruction
(``PyThreadState_SetAsyncExc``, :mod:`flyte.runtime.bodies`). In the body's own code that is
the point: it stops a CPU-bound loop. But a body's task call runs flyte's code on the same
thread (the child's records, its cache, a sync child driven right there, a wait for a child's
future), and an exception raised at any instruction of that code can leave it half done: a
``threading.Condition`` whose ``__enter__`` took its lock but had not returned (the lock stays
held), a future never resolved, and a later call waits forever.

So each thread that runs bodies has a :class:`Shield` that knows whether it runs a body's own
code or flyte's. An interruption meant for the thread is sent only while a body's code runs;
while flyte's code runs it is *owed*, and the task call raises it when it hands control back
to the body's code (a child's body owed one does not start). Sent just as a body's code
hands over to flyte's, it may not have landed yet: it is withdrawn and owed instead.

What can still happen, and is handled where it can: an interruption sent while the body's
code runs lands at that code's next instruction, which may be the first instruction of a task
call, before the shield is raised (nothing is held yet there), or just after the body's code
returned (:meth:`Shield.leave_body` withdraws it).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flyte.errors import TaskInterruptedError

T = TypeVar("T")

_BODY, _FLYTE = True, False  # what the thread runs (Shield.stack)


def set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in a thread at its next Python instruction (None: cancel a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


class Shield:
    """What one thread runs: a body's own code or flyte's, nested (a body's task call runs a
    child's body on the same thread), and whether an interruption is owed to it."""

    __slots__ = ("_lock", "ident", "owed", "sent", "stack")

    def __init__(self) -> None:
        self._lock = threading.Lock()  # sends (any thread) against this thread's changes
        self.ident = threading.get_ident()
        self.stack: list[bool] = []  # _BODY or _FLYTE, innermost last (empty: between bodies)
        self.owed = False  # an interruption came while flyte's code ran
        self.sent = False  # one was sent to the body's code and may not have landed yet

    def interrupt(self) -> None:
        """Interrupt the body's code running on this thread now, or as soon as it runs again."""
        with self._lock:
            if self.stack and self.stack[-1] is _BODY:
                self.sent = True
                set_async_exc(self.ident, TaskInterruptedError)
            else:
                self.owed = True

    # Called on the shield's own thread. Each keeps the stack whole whatever instruction an
    # interruption lands at: one can land only while the top is _BODY, and these change the
    # stack under the lock that sends take, after withdrawing one that may be pending.

    def enter_flyte(self) -> int:
        """The body's code calls a task: flyte's code runs from here; the depth to go back to."""
        with self._lock:
            if self.sent:  # not landed yet, or landed in the body's code (which then called a task)
                set_async_exc(self.ident, None)
                self.sent, self.owed = False, True
            depth = len(self.stack)
            self.stack.append(_FLYTE)
        return depth

    def leave_flyte(self, depth: int, stopped: bool) -> None:
        """Back to the body's code after its task call (``stopped``: that body's attempt was
        stopped); raises the interruption owed to it."""
        with self._lock:
            del self.stack[depth:]
            owed = self.owed and (not self.stack or self.stack[-1] is _BODY)
            if owed:
                self.owed = False
        if owed and stopped:  # (owed to a child's body that has ended: dropped)
            raise TaskInterruptedError("the attempt was stopped while it called a task")

    def enter_body(self) -> None:
        """A body's code starts; one owed an interruption does not (``TaskInterruptedError``)."""
        with self._lock:
            if self.owed:
                self.owed = False
                raise TaskInterruptedError("the attempt was stopped before its body started")
            self.stack.append(_BODY)

    def leave_body(self, depth: int) -> bool:
        """The body's code ended: back to the flyte code that ran it; whether an interruption
        was sent to it (withdrawn if pending: owed to the code that called the body, if any).
        May be repeated: one that landed before the lock was taken raises here first."""
        with self._lock:
            del self.stack[depth:]
            sent, self.sent = self.sent, False
            if sent:
                set_async_exc(self.ident, None)
            if sent and self.stack:
                self.owed = True
            elif not self.stack:
                self.owed = False  # the thread runs no body: nothing left to interrupt
        return sent


class _ThreadShield(threading.local):
    # A class default: a thread that never made one reads None without a failed lookup
    # (getattr's default costs an AttributeError made and formatted, on every task call).
    shield: Shield | None = None


_local = _ThreadShield()


def shield() -> Shield:
    """This thread's shield (made on first use)."""
    found = _local.shield
    if found is None:
        found = _local.shield = Shield()
    return found


def shield_here() -> Shield | None:
    """This thread's shield if it has run a body, else None (nothing interrupts it)."""
    return _local.shield


def call_shielded(shield: Shield, stopped: Callable[[], bool], call: Callable[..., T], *args: Any) -> T:
    """``call(*args)``: flyte's code for a task call of the body running on this thread, which
    no interruption lands in; one that came meanwhile is raised on return if ``stopped()``
    (the calling body's attempt was stopped), instead of the call's error if it failed (a
    body that catches the child's error must still be stopped)."""
    depth = shield.enter_flyte()
    try:
        result = call(*args)
    except TaskInterruptedError:  # the interruption already (a refusal, or the child's)
        shield.leave_flyte(depth, stopped=False)
        raise
    except BaseException:
        shield.leave_flyte(depth, stopped=stopped())
        raise
    shield.leave_flyte(depth, stopped=stopped())
    return result
