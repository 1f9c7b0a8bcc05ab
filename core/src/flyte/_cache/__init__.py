"""Caching configuration (``flyte.Cache``) and policies, importable as the guide shows:
``from flyte._cache import CachePolicy, FunctionBodyPolicy``."""

from flyte._cache.cache import BEHAVIORS, Cache, CacheBehavior, CacheRequest, to_cache
from flyte._cache.policy import CachePolicy, FunctionBodyPolicy, VersionParameters, function_source

__all__ = [
    "BEHAVIORS",
    "Cache",
    "CacheBehavior",
    "CachePolicy",
    "CacheRequest",
    "FunctionBodyPolicy",
    "VersionParameters",
    "function_source",
    "to_cache",
]
