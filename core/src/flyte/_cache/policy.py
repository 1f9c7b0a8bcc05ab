"""Cache policies: how ``behavior="auto"`` derives a cache version from the task."""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import attrs


@attrs.frozen
class VersionParameters:
    """What a policy may look at: the task function and its container image."""

    func: Callable[..., Any] | None
    container_image: Any = None


@runtime_checkable
class CachePolicy(Protocol):
    """Derives a cache version for ``behavior="auto"``.

    ``get_version(salt, params)`` returns a string; when it changes, earlier cache entries of
    the task stop matching. ``params`` is a :class:`VersionParameters`.
    """

    def get_version(self, salt: str, params: VersionParameters) -> str: ...


def function_source(func: Callable[..., Any]) -> str:
    """The function's code without decorators, comments or formatting.

    Changing what the function does changes this text; reformatting it, editing comments or
    changing its decorator's settings (retries, resources) does not.
    """
    func = inspect.unwrap(func)
    declared = getattr(func, "__flyte_source__", None)
    if isinstance(declared, str):  # a task with no Python body says what it does (a connector's query)
        return declared
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        # No source (a lambda in a REPL, a builtin): fall back to the compiled code.
        code = getattr(func, "__code__", None)
        if code is None:
            raise
        return repr((code.co_code, code.co_consts, code.co_names))
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.decorator_list = []
            return ast.unparse(node)
    return ast.unparse(tree)


@attrs.frozen
class FunctionBodyPolicy:
    """The default policy: the version is a hash of the function's code (and the salt)."""

    def get_version(self, salt: str, params: VersionParameters) -> str:
        if params.func is None:
            raise ValueError("FunctionBodyPolicy needs the task function")
        digest = hashlib.sha256()
        digest.update(function_source(params.func).encode())
        digest.update(b"\0" + salt.encode())
        return digest.hexdigest()
