"""Fixtures of the core tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flyte.ui import server


@pytest.fixture
def ui() -> Iterator[str]:
    """``flyte ui`` serving the test's state root on a free loopback port; its base URL."""
    httpd = server.start("127.0.0.1", 0)
    try:
        yield httpd.url
    finally:
        httpd.shutdown()
        httpd.server_close()
