"""The ``flyte`` command line: one module per command group."""
