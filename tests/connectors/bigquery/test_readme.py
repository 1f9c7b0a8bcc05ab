"""The README's quickstart runs as written against the BigQuery emulator."""

from __future__ import annotations

from pathlib import Path

from ..readme import run_quickstart

README = Path(__file__).resolve().parents[3] / "connectors" / "bigquery" / "README.md"


def test_the_quickstart_runs(bigquery_emulator, tmp_path):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(project="flyte", credentials=AnonymousCredentials())
    client.create_dataset("analytics", exists_ok=True)
    client.query("CREATE OR REPLACE TABLE analytics.events (day DATE, kind STRING)").result()
    client.query(
        "INSERT INTO analytics.events VALUES (DATE '2024-02-01', 'click'), (DATE '2024-03-01', 'click'), "
        "(DATE '2023-12-31', 'click'), (DATE '2024-02-02', 'view'), (DATE '2024-02-03', 'buy')"
    ).result()
    client.close()
    out = run_quickstart(README, "config = BigQueryConfig(ProjectID='flyte')", tmp_path)
    assert out.strip() == "{'click': 2, 'view': 1}"
