"""How the command line reports an error: one line on stderr, no traceback.

Every command's errors end here (the root, :func:`flyte.cli.main.main`), so each command
raises and none prints. ``flyte --debug ...`` (or ``-v``, or ``FLYTE_DEBUG=1``) shows the
traceback instead. Either way, secret values the process handed a task read ``***``.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType

from flyte.errors import FlyteError
from flyte.runtime.redact import redact

DEBUG_FLAGS = ("--debug", "-v")
_debug = False


def set_debug(value: bool) -> None:
    global _debug
    _debug = _debug or value


def debugging() -> bool:
    return _debug or os.environ.get("FLYTE_DEBUG", "").strip().lower() in ("1", "true", "yes")


def one_line(exc: BaseException) -> str:
    """The error as one line: flyte's own message, or the exception and where in the user's
    code it was raised (a syntax error: the file and line)."""
    if isinstance(exc, SyntaxError) and not isinstance(exc, FlyteError):
        where = f"{_shown(exc.filename)}:{exc.lineno}: " if exc.filename else ""
        return f"{where}{type(exc).__name__}: {exc.msg}"
    if isinstance(exc, FlyteError):  # its message is written for the user
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    where = _user_frame(exc.__traceback__)
    if where:
        text += f" (at {where})"
    return " ".join(text.split())


def report(exc: BaseException) -> None:
    """Print ``exc`` for the command line: one line, or the traceback when debugging."""
    if debugging():
        print(redact("".join(traceback.format_exception(exc))), end="", file=sys.stderr)
        return
    hint = "" if isinstance(exc, FlyteError) else " [flyte --debug ... shows the traceback]"
    print(redact(f"flyte: error: {one_line(exc)}{hint}"), file=sys.stderr)


@functools.cache
def _library_roots() -> tuple[str, ...]:
    """Where code that is not the user's lives: flyte itself, the standard library, installed
    packages (found when an error is first reported: every command would pay for it at start)."""
    import sysconfig

    return tuple(
        {str(Path(p).resolve()) for p in (Path(__file__).parent.parent, sysconfig.get_path("stdlib"))}
        | {str(Path(p).resolve()) for p in (sysconfig.get_path("purelib"), sysconfig.get_path("platlib"))}
    )


def _user_frame(tb: TracebackType | None) -> str | None:
    """``file:line`` of the innermost frame in the user's own code, if any."""
    found = None
    for frame, lineno in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        if filename.startswith("<"):
            continue
        resolved = str(Path(filename).resolve())
        if not resolved.startswith(_library_roots()):
            found = f"{_shown(filename)}:{lineno}"
    return found


def _shown(filename: str) -> str:
    path = Path(filename)
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return filename
