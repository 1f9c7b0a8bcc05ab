__version__ = "0.1.0"


def version() -> str:
    """The installed flyte-core version (``flyte.version()``)."""
    return __version__
