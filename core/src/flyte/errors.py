"""Exceptions raised by flyte.

Every error a user can cause derives from :class:`FlyteError`. Configuration errors are plain
``ValueError``/``TypeError`` subclasses too, so ``except ValueError`` keeps working for code that
validates its own inputs.
"""

from __future__ import annotations

from typing import Any


class FlyteError(Exception):
    """Base class of every error flyte raises on purpose."""


class ConfigurationError(FlyteError, ValueError):
    """A configuration value is invalid (raised when the task or environment is defined)."""


class ConfigurationTypeError(ConfigurationError, TypeError):
    """A configuration value has the wrong type (``retries="3"``, ``Resources(gpu=1.5)``).

    A ``TypeError`` as Python has it, and a ``ValueError`` too: the reference SDK raises
    ``ValueError`` for these, and code written against either catches it."""


class ConfigurationAttributeError(ConfigurationTypeError, AttributeError):
    """A configuration value has the wrong type where the reference SDK fails by reading an
    attribute the value lacks (``Secret(key=5)``: ``'int' object has no attribute 'replace'``;
    ``@env.task`` on something that is not a function: no ``__name__``). An ``AttributeError``
    too, so code written against the reference SDK catches it; the message is ours."""


class LevelError(FlyteError, TypeError, ValueError):
    """A parameter was given at a configuration level that does not accept it.

    A ``TypeError`` like any unexpected keyword argument, and a ``ValueError`` as the reference
    SDK raises for what ``task.override`` refuses (``image``, ``name``, ``resources`` of a
    reusable environment), so code written against either catches it."""


class PluginNotFoundError(FlyteError, TypeError, ValueError):
    """No installed plugin handles the ``plugin_config`` type. A ``ValueError`` too, as the
    reference SDK raises for ``task.override(plugin_config=...)`` of an unknown type."""


class PluginConflictError(FlyteError):
    """Two installed plugins claim the same ``plugin_config`` type."""


class _CodedError(FlyteError, RuntimeError):
    """An error with a ``code`` (e.g. the original error's type name) and a message: a task's
    failure, or initialisation (the reference SDK's ``BaseRuntimeError``)."""

    def __init__(self, code: str, message: str, worker: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.worker = worker

    def __reduce__(self) -> tuple[Any, ...]:
        # Unpickled without __init__: its arguments (code, message) are not the args an
        # exception keeps (the message), and a reusable environment's worker hands its task's
        # error back pickled. The fields come back from __dict__.
        return (_rebuilt, (type(self), self.args), self.__dict__)


def _rebuilt(cls: type[BaseException], args: tuple[Any, ...]) -> BaseException:
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class InitializationError(_CodedError):
    """``flyte.init()`` has not been called, or was called with bad settings."""

    def __init__(self, message: str = ""):
        _CodedError.__init__(self, "InitializationError", message)


class NoControlPlaneError(ConfigurationError, InitializationError):
    """``with_runcontext(mode="remote")`` (or ``"hybrid"``) asks for a Flyte control plane,
    which this runtime does not have. A ``ConfigurationError``, and an ``InitializationError``
    as the reference SDK raises when no control plane is configured."""


# The reference SDK's name for the base of the coded errors (RuntimeUserError, RuntimeSystemError, ...).
BaseRuntimeError = _CodedError


class RuntimeUserError(_CodedError):
    """A task failed because of the user's code; carries the original error's type and message."""


class _UserError(RuntimeUserError):
    """A RuntimeUserError made from a message alone, its ``code`` its class name: the base of
    our errors that are a RuntimeUserError in the reference SDK too (timeouts, aborts, ...)."""

    def __init__(self, message: str = ""):
        _CodedError.__init__(self, type(self).__name__, message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Made again from the message, as any exception is (its args): those that are a
        # TimeoutError too cannot be made without their own __new__ (OSError's).
        return (type(self), self.args, self.__dict__)


class RuntimeDataValidationError(_UserError):
    """A task's input or output value does not match its type (the reference SDK's class;
    ours raises :class:`OutputTypeError`, a subclass, for an output)."""


class PluginConfigurationError(ConfigurationError, RuntimeUserError):
    """A plugin refuses a task's settings together (``TaskPlugin.check``): a reusable Ray task
    with two replicas, say. Raised when the task is defined. A ``ConfigurationError``, and a
    ``RuntimeUserError`` with code ``BadConfiguration``, as the reference SDK's plugins raise it."""

    def __init__(self, message: str):
        _CodedError.__init__(self, "BadConfiguration", message)


class RuntimeSystemError(_CodedError):
    """A task failed because of the system running it, not because of the user's code."""


class NonRecoverableError(RuntimeUserError):
    """Raise from a task to fail it at once: no retry is attempted."""

    def __init__(self, message: str = "non-recoverable error", code: str = "NonRecoverableError"):
        _CodedError.__init__(self, code, message)  # not super(): OutputTypeError mixes in _UserError


class ConnectorError(RuntimeUserError):
    """The service a connector task handed its work to reports that the work failed; the
    message is the service's own (a failed query's error). Retried as the task's ``retries``
    allow when ``retryable``."""

    retryable = True

    def __init__(self, message: str, code: str = "ConnectorError"):
        _CodedError.__init__(self, code, message)  # not super(): NonRecoverableError orders its arguments otherwise


class PermanentConnectorError(ConnectorError, NonRecoverableError):
    """A connector task's work failed in a way another attempt cannot fix (a SQL syntax
    error, a missing table): no retry is attempted."""

    retryable = False

    def __init__(self, message: str, code: str = "ConnectorError"):
        ConnectorError.__init__(self, message, code)


class ConnectorTransientError(FlyteError):
    """Raised by a connector's ``get`` (or ``delete``) when the service could not be asked
    right now (a network blip, a throttled API): the runtime asks again later, within the
    task's timeout and the connector's ``PollPolicy.outage``."""


class ConnectorNotFoundError(FlyteError, ValueError):
    """No connector is registered for a task's type (``flyte.connectors.ConnectorRegistry``); the
    message names the registered ones."""


class RuntimeUnknownError(_CodedError):
    """A task failed and the cause could not be attributed to the user or the system."""


class CustomError(RuntimeUserError):
    """A user error with a code of its own; ``from_exception`` wraps any exception."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message)

    @classmethod
    def from_exception(cls, e: BaseException) -> CustomError:
        error = cls(type(e).__name__, str(e))
        error.__cause__ = e
        return error


class OOMError(RuntimeUserError):
    """The task ran out of memory."""


class TaskInterruptedError(RuntimeUserError):
    """The task was interrupted (preempted, timed out or cancelled while it ran)."""

    def __init__(self, message: str = "the task was interrupted", code: str = "TaskInterrupted"):
        super().__init__(code, message)


class PrimaryContainerNotFoundError(RuntimeUserError):
    """A pod template has no container named ``primary_container_name``."""


class NotInTaskContextError(RuntimeUserError):
    """Something that needs a running task was called outside one."""


class ModuleLoadError(_UserError, ImportError):
    """The module that defines a task could not be imported."""


class ActionAbortedError(_UserError):
    """The action was aborted."""


class WorkerDiedError(FlyteError, RuntimeError):
    """The worker process of a reusable environment's pool running the attempt died (it
    exited, crashed or was killed); the message says how. The attempt is retried on a live
    worker when the task has retries left."""


class ClusterWorkerError(FlyteError, RuntimeError):
    """A worker of a clustered task (:mod:`flyte.clustered`) failed without a Python exception
    to report: it was killed by a signal, crashed in native code, or its launcher gave up.
    ``rank`` is the worker's global rank and ``exitcode`` its exit status (negative: the
    signal), when known."""

    def __init__(self, message: str, rank: int | None = None, exitcode: int | None = None):
        super().__init__(message)
        self.rank = rank
        self.exitcode = exitcode

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.rank, self.exitcode))


class RetriesExhaustedError(RuntimeUserError):
    """Every attempt the task's retry budget allowed has failed."""


class TaskTimeoutError(_UserError, TimeoutError):
    """An attempt ran longer than ``Timeout.max_runtime`` or the action passed its deadline."""


class MaxRuntimeExceededError(TaskTimeoutError):
    """An attempt ran longer than ``Timeout.max_runtime``."""


class MaxQueuedTimeExceededError(TaskTimeoutError):
    """A task waited longer than ``Timeout.max_queued_time`` for a slot to run in."""


class DeadlineExceededError(TaskTimeoutError):
    """The action (all attempts) passed ``Timeout.deadline``."""


QueueTimeoutError = MaxQueuedTimeExceededError


# The reference SDK's name for the runtime timeout.
TaskTimeout = TaskTimeoutError


class TaskCallError(_UserError, TypeError, ValueError):
    """A task was called with arguments that do not fit its signature (a required input
    missing, an unknown one, too many). A ``TypeError`` as for any Python call, a
    ``ValueError`` as the reference SDK raises for a missing input, and a ``RuntimeUserError``
    as it raises for a bad call of a task inside another."""


class InputTypeError(_UserError, TypeError):
    """A task was called with an input that does not match its annotation (raised at the
    call, before the task runs). ``task``, ``input`` and ``expected`` say which. A
    ``RuntimeUserError`` too, as the reference SDK raises for a task called inside another."""

    def __init__(self, message: str, *, task: str, input: str, expected: str):
        super().__init__(message)
        self.task, self.input, self.expected = task, input, expected

    def __reduce__(self) -> tuple:
        return (_rebuild, (type(self), str(self), self.__dict__))


class OutputTypeError(NonRecoverableError, RuntimeDataValidationError, TypeError):
    """A task returned a value that does not match its return annotation. Not retried: the
    same code would return the same kind of value."""

    def __init__(self, message: str, *, task: str, expected: str):
        super().__init__(message, code="OutputTypeError")
        self.task, self.expected = task, expected

    def __reduce__(self) -> tuple:
        return (_rebuild, (type(self), str(self), self.__dict__))


def _rebuild(cls: type, message: str, state: dict) -> BaseException:
    """Unpickle an error whose constructor takes keyword-only fields."""
    error = Exception.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class InlineIOMaxBytesBreached(_UserError, ValueError):
    """A task's inline inputs or outputs are larger than ``max_inline_io_bytes``."""


class SecretNotFoundError(FlyteError, KeyError):
    """A secret requested by a task does not exist in the secret store."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the sentence.
        return str(self.args[0]) if self.args else ""


class DependencyError(FlyteError, RuntimeError):
    """A task called a task of an environment its environment does not ``depends_on``."""


class CacheError(FlyteError):
    """The result cache could not be read or written."""


class RenderError(FlyteError, ValueError):
    """A task cannot be rendered as Kubernetes objects."""


class ImageBuildError(_UserError):
    """A container image could not be built."""


class StateError(FlyteError, RuntimeError):
    """The local state root (``FLYTE_HOME``) or a file in it cannot be used."""


class ActionNotFoundError(FlyteError, LookupError, RuntimeError):
    """No run or action with that name exists in the run store."""


class RemoteTaskNotFoundError(_UserError):
    """The reference SDK's class for a deployed task that cannot be found; ours raises
    :class:`TaskNotFoundError`, a subclass."""


class TaskNotFoundError(RemoteTaskNotFoundError, LookupError):
    """No deployed task with that name (and version) is recorded (``flyte.remote.Task.get``)."""


class IgnoreOutputs(FlyteError):
    """Raised by a plugin's ``run`` on a replica that does not own the task's outputs.

    In a multi-pod job every pod runs the container entrypoint, but only one (e.g. the pod
    with torch rank 0) holds the result: the others raise this, and the entrypoint exits with
    success without writing outputs.
    """


_user_error_types: dict[type, type] = {}


def as_user_error(exc: BaseException) -> BaseException:
    """How a parent task sees a child task's exception: still an instance of its own type (so
    ``except ValueError`` works as in plain Python) *and* a :class:`RuntimeUserError` whose
    ``code`` is the type's name (so ``except flyte.errors.RuntimeUserError as e: e.code`` works as
    with the reference SDK). Flyte's own errors, and types that cannot be combined, stay as they are.
    """
    cls = type(exc)
    if isinstance(exc, FlyteError) or not isinstance(exc, Exception):
        return exc
    combined = _user_error_types.get(cls)
    if combined is None:
        try:
            combined = type(
                cls.__name__,
                (cls, RuntimeUserError),
                {
                    "__module__": cls.__module__,
                    "__qualname__": cls.__qualname__,
                    # Pickled (to another process), it is the original type again.
                    "__reduce__": lambda self: (cls, self.args, _state(self)),
                },
            )
        except TypeError:  # e.g. a final class, or an incompatible layout
            return exc
        _user_error_types[cls] = combined
    try:
        new = combined.__new__(combined, *exc.args)
        new.args = exc.args
        new.__dict__.update(getattr(exc, "__dict__", {}))
        if isinstance(exc, OSError):  # fields OSError keeps outside args
            # Only those set: an errno or strerror set to None (not left unset) makes str() of
            # ConnectionError("HTTP 503") "[Errno None] None".
            for name in ("errno", "strerror", "filename", "filename2"):
                if getattr(exc, name) is not None:
                    setattr(new, name, getattr(exc, name))
    except Exception:
        return exc
    new.code, new.message, new.worker = cls.__name__, str(exc), None
    new.__traceback__ = exc.__traceback__
    new.__cause__, new.__context__ = exc.__cause__, exc.__context__
    new.__suppress_context__ = exc.__suppress_context__
    return new


def _state(exc: BaseException) -> dict:
    return {k: v for k, v in getattr(exc, "__dict__", {}).items() if k not in ("code", "message", "worker")}


class StorageError(FlyteError, OSError):
    """Reading or writing object storage failed; the message names the URL, never credentials."""


class StorageNotFoundError(StorageError, FileNotFoundError):
    """The object, folder or bucket a URL names does not exist."""


class StoragePermissionError(StorageError, PermissionError):
    """The store refused the request: missing or wrong credentials, or no permission."""


class StorageFilesystemMissingError(StorageError):
    """A URL's scheme has no installed filesystem; the message names the package to install."""


class NotAvailableLocallyError(FlyteError, RuntimeError):
    """What the reference SDK reads from its control plane and a local run does not have (its
    protobuf literals, a debugger's URL): the message names what to use instead."""
