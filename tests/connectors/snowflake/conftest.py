"""The fake Snowflake (fakesnow's server, extended: see tests/connectors/fakes/snowflake_server.py),
started once per session in its own process and venv, and a key pair for key-pair auth."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
FAKES = REPO / ".venv-fakes" / "snowflake" / "bin" / "python"
SERVER = REPO / "tests" / "connectors" / "fakes" / "snowflake_server.py"


class FakeSnowflake:
    def __init__(self, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def connection_kwargs(self) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "protocol": "http",
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            "network_timeout": 5,
            "login_timeout": 30,
        }

    def script(self, states: list[str], flaky: int = 0) -> None:
        """The states the next query reports, one per status request."""
        body = json.dumps({"states": states, "flaky": flaky}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/_test/script", data=body, method="POST"), timeout=10)

    def reset(self) -> None:
        """Drop the scripts no query has taken (see the fake's ``/_test/reset``)."""
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/_test/reset", data=b"{}", method="POST"), timeout=10)

    def aborted(self) -> list[str]:
        with urllib.request.urlopen(f"{self.url}/_test/aborts", timeout=10) as response:
            return json.loads(response.read())["aborted"]


@pytest.fixture(scope="session")
def fake_snowflake() -> Iterator[FakeSnowflake]:
    if not FAKES.exists():
        pytest.fail(f"{FAKES} is missing: run `make fakes` (make setup does it)")
    process = subprocess.Popen([str(FAKES), str(SERVER)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())
        server = FakeSnowflake(port)
        yield server
    finally:
        process.kill()
        process.wait()


@pytest.fixture(autouse=True)
def _no_script_outlives_its_test(request) -> Iterator[None]:
    """A script a test queued but no query took (its process was killed first) must not reach
    the next test's query: the tests pass in any order."""
    yield
    if "fake_snowflake" in request.fixturenames:
        request.getfixturevalue("fake_snowflake").reset()


@pytest.fixture(scope="session")
def key_pair() -> tuple[str, str]:
    """An encrypted PEM private key and its passphrase (a real RSA key: the driver signs a JWT)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    passphrase = "correct horse battery staple"
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    return pem.decode(), passphrase


@pytest.fixture
def snowflake_secrets(key_pair) -> None:
    from flyte.runtime import secret_store

    pem, passphrase = key_pair
    secret_store.create("snowflake", pem.encode())
    secret_store.create("snowflake_passphrase", passphrase.encode())


@pytest.fixture(scope="session")
def database(fake_snowflake: FakeSnowflake) -> FakeSnowflake:
    """The fake with the databases and schemas the tests and the public example use."""
    import snowflake.connector

    conn = snowflake.connector.connect(user="u", password="p", account="a", **fake_snowflake.connection_kwargs())
    for sql in (
        "CREATE DATABASE IF NOT EXISTS ANALYTICS",
        "CREATE SCHEMA IF NOT EXISTS ANALYTICS.PUBLIC",
        "CREATE SCHEMA IF NOT EXISTS ANALYTICS.STAGING",
    ):
        conn.cursor().execute(sql)
    conn.close()
    return fake_snowflake
