"""What the plugin installs in every Dask worker process of a task's cluster."""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from flyte.extend import shipping


class TaskModule(WorkerPlugin):
    """Makes the task's module importable in the worker under its own name.

    Dask pickles a module-level function by reference (``module.name``), so a worker must be
    able to import the module a task's helpers live in. A module loaded from a file that is not
    on ``sys.path`` (a test module, a script run by path) would fail there; this loads it from
    its file, as :func:`flyte.extend.shipping.dumps_call` with ``by_file=True`` describes, and
    puts the project's ``sys.path`` entries in place for everything else it imports.
    """

    idempotent = True  # registering it again for the next task of the module is a no-op

    def __init__(self, shipped: bytes):
        self.shipped = shipped

    def setup(self, worker: Any) -> None:
        shipping.loads_call(self.shipped)  # unpickling imports the module (by name, else from its file)
