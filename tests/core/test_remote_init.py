"""The reference SDK's other initialisers, as code written for it calls them: a task that calls
``flyte.init_in_cluster()`` in its body runs; an API key or endpoint (a remote control plane)
is a clear InitializationError that never repeats the key; no control plane is available."""

from __future__ import annotations

import asyncio

import pytest

import flyte
from flyte.errors import InitializationError
from flyte.runtime import settings

env = flyte.TaskEnvironment(name="remote_init")


@env.task
def evaluates(n: int) -> str:
    flyte.init_in_cluster()  # "this is for eval": reach the control plane from the task
    flyte.init_in_cluster(project="ignored-inside", domain="ignored-inside")
    return f"{n} in {flyte.current_project()}/{flyte.current_domain()}"


def test_init_in_cluster_in_a_task_body_leaves_the_run_as_it_is():
    flyte.init(project="proj", domain="staging")
    assert flyte.run(evaluates, 3).outputs()[0] == "3 in proj/staging"
    assert flyte.is_control_plane_available() is False


def test_init_in_cluster_outside_a_task_initialises_with_its_project_and_domain():
    assert flyte.init_in_cluster(project="team-b", domain="production") == {}
    assert (settings.current().project, settings.current().domain) == ("team-b", "production")
    with pytest.raises(InitializationError, match="init_in_cluster: endpoint selects a remote Flyte control plane"):
        flyte.init_in_cluster(endpoint="dns:///flyte.example.com")


def test_api_key_and_passthrough_initialisers_are_refused_without_the_key():
    with pytest.raises(InitializationError, match="init_from_api_key: an API key .* selects a remote") as caught:
        flyte.init_from_api_key(api_key="sk-very-secret-99", project="p", domain="d")
    assert "sk-very-secret-99" not in str(caught.value)
    with pytest.raises(InitializationError, match="init_passthrough: passthrough authentication"):
        flyte.init_passthrough(endpoint="dns:///x", project="p")


@env.task
async def evaluates_async(n: int) -> str:
    await flyte.init_in_cluster.aio(project="ignored-inside")  # public apps/agents call its .aio
    return f"{n} in {flyte.current_domain()}"


def test_the_initialisers_have_the_references_aio_form():
    flyte.init(domain="staging")
    assert flyte.run(evaluates_async, 4).outputs()[0] == "4 in staging"
    assert asyncio.run(flyte.init_in_cluster.aio(domain="production")) == {}
    assert settings.current().domain == "production"
    with pytest.raises(InitializationError, match="init_from_api_key: an API key") as caught:
        asyncio.run(flyte.init_from_api_key.aio("sk-very-secret-99"))
    assert "sk-very-secret-99" not in str(caught.value)
    with pytest.raises(InitializationError, match="init_passthrough: passthrough authentication"):
        asyncio.run(flyte.init_passthrough.aio())
