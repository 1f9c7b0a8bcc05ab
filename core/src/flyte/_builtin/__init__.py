"""The core's own behaviour, registered as a plugin through the ``flyte.plugins`` entry point."""
