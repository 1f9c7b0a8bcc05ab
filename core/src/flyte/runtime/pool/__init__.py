"""Warm worker pools for reusable environments (``TaskEnvironment(reusable=ReusePolicy(...))``).

One pool per reusable environment and policy, started on first use in a process and shared by
its runs: :mod:`.pool` (the parent's side), :mod:`.worker` (the worker process),
:mod:`.protocol` (their messages), :mod:`.dispatch` (how an attempt uses a pool),
:mod:`.state` (what ``flyte pools`` reads), :mod:`.registry` (this process's pools).
This package imports nothing itself: a worker process imports only what it needs to start.
"""
