"""Kubernetes names and labels derived from task names (DNS-1123/1035 rules, length limits)."""

from __future__ import annotations

import hashlib
import re

_INVALID = re.compile(r"[^a-z0-9-]+")


def dns_name(*parts: str, max_len: int = 63) -> str:
    """A DNS-1035 label (starts with a letter) built from ``parts``: lower-cased, ``_`` and
    other characters become ``-``; a short hash keeps names unique when they had to be cut."""
    raw = "-".join(parts)
    name = _INVALID.sub("-", raw.lower()).strip("-")
    name = re.sub("-{2,}", "-", name)
    if not name or not name[0].isalpha():
        name = f"f-{name}".rstrip("-")
    if len(name) > max_len:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:6]
        name = f"{name[: max_len - 7].rstrip('-')}-{digest}"
    return name


def label_value(value: str) -> str:
    """A valid label value (<= 63 chars of [A-Za-z0-9-_.], alphanumeric at both ends)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", value)[:63].strip("-_.")
    return cleaned


def secret_name(key: str, group: str | None) -> str:
    """The Kubernetes Secret that holds a flyte secret: its group, or the key itself."""
    return dns_name(group or key, max_len=253)
