"""A GET for the tests that read what a server of ours answers, errors included."""

from __future__ import annotations

import urllib.error
import urllib.request


def get(url: str) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of ``url``; an HTTP error status is an answer, not an exception."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()
