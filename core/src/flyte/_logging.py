"""``flyte.logger``: a logger for task code, printed as the reference SDK prints it.

It is the ``flyte.user`` logger: ``INFO`` and above by default (``USER_LOG_LEVEL`` sets another
level: a name such as ``debug`` or a number), written to the current ``sys.stderr`` as
``LEVEL message``, so a task's lines reach the terminal and its attempt's log (with secret
values masked) like anything else it prints. It does not propagate to the root logger: an
application that configures logging gets each line once. The library's own loggers
(``flyte.*``) are left to the application's configuration.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

USER_LOGGER = "flyte.user"
DEFAULT_USER_LEVEL = logging.INFO
FORMAT = "%(levelname)s %(message)s"
LEVELS = {"critical": logging.CRITICAL, "error": logging.ERROR, "warning": logging.WARNING, "warn": logging.WARNING}
LEVELS |= {"info": logging.INFO, "debug": logging.DEBUG, "notset": logging.NOTSET}


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is logged (a test's capture, flyte's
    log capture), not to the one there was at import."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:  # setStream: the current stderr is always used
        pass


def user_level(raw: str | None = None) -> int:
    """The level ``USER_LOG_LEVEL`` names (a level name or number); the default, with a
    warning that says what is accepted, for anything else."""
    raw = os.environ.get("USER_LOG_LEVEL") if raw is None else raw
    if raw is None or not raw.strip():
        return DEFAULT_USER_LEVEL
    text = raw.strip().lower()
    if text in LEVELS:
        return LEVELS[text]
    if text.isdigit():
        return int(text)
    warnings.warn(
        f"USER_LOG_LEVEL: {raw!r} is not a log level (accepted: {', '.join(LEVELS)} or a number); "
        f"using {logging.getLevelName(DEFAULT_USER_LEVEL)}",
        stacklevel=2,
    )
    return DEFAULT_USER_LEVEL


def _user_logger() -> logging.Logger:
    log = logging.getLogger(USER_LOGGER)
    if not any(isinstance(h, _CurrentStderr) for h in log.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter(FORMAT))
        log.addHandler(handler)
    log.setLevel(user_level())
    log.propagate = False
    return log


logger = _user_logger()
system_logger = logging.getLogger("flyte")
