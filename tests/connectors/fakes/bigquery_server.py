"""The BigQuery emulator (bqemulator) for tests, offline: its DuckDB spatial extension is
installed from the duckdb-extension-spatial wheel into a private HOME before it starts
(bqemulator would otherwise download it). Run with the fakes venv's Python:
``bigquery_server.py HOME REST_PORT GRPC_PORT``; it runs the emulator in this process."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    home, rest_port, grpc_port = sys.argv[1], sys.argv[2], sys.argv[3]
    os.environ["HOME"] = home
    import duckdb
    import duckdb_extension_spatial

    extension = next(Path(duckdb_extension_spatial.__file__).parent.glob("extensions/*/spatial.duckdb_extension"))
    duckdb.connect().execute(f"INSTALL '{extension}'")
    from bqemulator.cli import main as cli

    sys.argv = ["bqemulator", "start", "--rest-port", rest_port, "--grpc-port", grpc_port, "--project", "flyte"]
    cli()


if __name__ == "__main__":
    main()
