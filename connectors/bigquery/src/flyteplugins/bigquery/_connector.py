"""create / get / delete on Google's BigQuery client (``google-cloud-bigquery``).

The client blocks, so every call runs on a worker thread. A client is made per call from the
task's config and secret (no cache keyed on credentials). ``BIGQUERY_EMULATOR_HOST`` (the
client's own setting for emulators) with no credentials secret means anonymous access.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from typing import Any

from flyte.extend import (
    ConnectorContext,
    ConnectorStatus,
    ConnectorTransientError,
    LogLink,
    PermanentConnectorError,
    io,
)
from flyteplugins.bigquery.task import BigQueryQuery

# error_result reasons another attempt may get past (Google's "retryable errors").
RETRYABLE_REASONS = {"backendError", "internalError", "rateLimitExceeded", "jobBackendError"}


def _client(context: ConnectorContext) -> Any:
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import bigquery

    job: BigQueryQuery = context.config
    credentials = None
    if job.credentials_secret:
        credentials = _service_account(context, job.credentials_secret)
    elif os.environ.get("BIGQUERY_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    try:
        return bigquery.Client(project=job.config.ProjectID, credentials=credentials, location=job.config.Location)
    except DefaultCredentialsError as exc:  # no secret given, and none found where Google looks
        raise PermanentConnectorError(
            f"{context.spec.name}: no Google Cloud credentials for BigQuery project {job.config.ProjectID!r} "
            "(pass google_application_credentials=<the key of a flyte.Secret holding a service account's JSON "
            "key>, or set up Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS or "
            f"`gcloud auth application-default login`): {exc}",
            code="BigQueryCredentialsError",
        ) from None


def _service_account(context: ConnectorContext, secret: str) -> Any:
    from google.oauth2 import service_account

    try:
        return service_account.Credentials.from_service_account_info(json.loads(context.secrets[secret]))
    except (ValueError, TypeError, AttributeError) as exc:
        # The message never quotes the secret: it names it.
        raise PermanentConnectorError(
            f"{context.spec.name}: the secret {secret!r} is not a service account's JSON key ({type(exc).__name__})",
            code="BigQueryCredentialsError",
        ) from None


def _parameters(job: BigQueryQuery, inputs: Mapping[str, Any]) -> list[Any]:
    from google.cloud import bigquery

    parameters = []
    for name, kind in job.input_types:
        if kind.startswith("ARRAY<"):
            parameters.append(bigquery.ArrayQueryParameter(name, kind[6:-1], list(inputs[name])))
        else:
            parameters.append(bigquery.ScalarQueryParameter(name, kind, inputs[name]))
    return parameters


def _create(context: ConnectorContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
    from google.api_core.exceptions import BadRequest
    from google.cloud import bigquery

    job: BigQueryQuery = context.config
    config = bigquery.QueryJobConfig.from_api_repr(dict(job.config.QueryJobConfig or {"query": {}}))
    config.query_parameters = [*config.query_parameters, *_parameters(job, inputs)]
    client = _client(context)
    try:
        query_job = client.query(job.query_template, job_config=config, location=job.config.Location)
    except BadRequest as exc:  # the service rejected the statement before it ran
        raise PermanentConnectorError(f"{context.spec.name}: {exc.message}", code="BigQueryError") from None
    finally:
        client.close()
    return {"job_id": query_job.job_id, "project": query_job.project, "location": query_job.location}


def _get(context: ConnectorContext, metadata: Mapping[str, Any]) -> ConnectorStatus:
    job: BigQueryQuery = context.config
    client = _client(context)
    try:
        query_job = client.get_job(metadata["job_id"], project=metadata["project"], location=metadata["location"])
        page = (
            f"https://console.cloud.google.com/bigquery?project={metadata['project']}"
            f"&j=bq:{metadata['location']}:{metadata['job_id']}&page=queryresults"
        )
        links = [LogLink("BigQuery job", page)]
        if query_job.state == "PENDING":
            return ConnectorStatus("QUEUED", "PENDING", log_links=links)
        if query_job.state == "RUNNING":
            return ConnectorStatus("RUNNING", "RUNNING", log_links=links)
        if query_job.state != "DONE":
            return ConnectorStatus(str(query_job.state), str(query_job.state), log_links=links)
        error = query_job.error_result
        if error:
            reason = error.get("reason", "")
            if reason == "stopped":
                return ConnectorStatus("ABORTED", error.get("message", "cancelled"), log_links=links)
            message = error.get("message") or reason or "the job failed"
            return ConnectorStatus("FAILED", message, retryable=reason in RETRYABLE_REASONS, log_links=links)
        outputs = None
        if job.returns_rows:
            table = query_job.result().to_arrow(create_bqstorage_client=False)
            outputs = io.DataFrame.wrap_df(table)
        return ConnectorStatus("SUCCEEDED", "DONE", log_links=links, outputs=outputs)
    finally:
        client.close()


def _delete(context: ConnectorContext, metadata: Mapping[str, Any]) -> None:
    client = _client(context)
    try:
        client.cancel_job(metadata["job_id"], project=metadata["project"], location=metadata["location"])
    finally:
        client.close()


async def create(context: ConnectorContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
    return await asyncio.to_thread(_create, context, inputs)


async def get(context: ConnectorContext, metadata: Mapping[str, Any]) -> ConnectorStatus:
    from google.api_core import exceptions
    from requests.exceptions import ConnectionError as RequestsConnectionError

    try:
        return await asyncio.to_thread(_get, context, metadata)
    except (exceptions.ServerError, exceptions.TooManyRequests, RequestsConnectionError) as exc:
        raise ConnectorTransientError(f"BigQuery job {metadata.get('job_id')}: {exc}") from None


async def delete(context: ConnectorContext, metadata: Mapping[str, Any]) -> None:
    await asyncio.to_thread(_delete, context, metadata)
