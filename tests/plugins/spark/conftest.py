"""The local Spark tests share one JVM (PySpark allows one per process; it starts in 20-45 s
here): this session-scoped fixture binds it to loopback, gives it a private scratch folder,
and stops it, with any session kept warm, when the tests are done."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def spark_local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scratch = tmp_path_factory.mktemp("spark-scratch")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        patch.setenv("SPARK_LOCAL_DIRS", str(scratch))  # Spark's shuffle and block files
        yield scratch
        from flyteplugins.spark import _runner

        _runner.sessions.shutdown()
        _runner.jvm.shutdown()
