"""``flyte.types.TypeEngine.to_html`` with a ``Renderable`` attached by ``Annotated``: the reports
guide's way to render a type of your own the same way everywhere, logged into a report."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import pytest

import flyte
import flyte.report
from flyte.types import Renderable, TypeEngine


class Molecule:
    def __init__(self, name: str, smiles: str):
        self.name, self.smiles = name, smiles

    def __str__(self) -> str:
        return f"Molecule({self.name})"


class MoleculeCard:
    def to_html(self, mol: Molecule) -> str:
        return f"<h2>{mol.name}</h2><pre>{mol.smiles}</pre>"


Rendered = Annotated[Molecule, "a note", MoleculeCard()]

env = flyte.TaskEnvironment(name="renderers")


@env.task(report=True)
async def show(name: str) -> str:
    await flyte.report.log.aio(TypeEngine.to_html(Molecule(name, "CCO"), Rendered))
    await flyte.report.flush.aio()
    return name


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()


def test_a_renderer_attached_with_annotated_renders_the_value_into_the_report():
    run = flyte.run(show, "ethanol")
    assert "<h2>ethanol</h2><pre>CCO</pre>" in run.get_report()


def test_without_a_renderer_a_value_renders_as_the_reference_default_does():
    mol = Molecule("water", "O")
    assert TypeEngine.to_html(mol, Molecule) == "Molecule(water)"  # its str
    assert TypeEngine.to_html(mol, Annotated[Molecule, "parquet"]) == "Molecule(water)"
    assert TypeEngine.to_html(mol, Annotated[Molecule, MoleculeCard]) == "Molecule(water)"  # a class, not a renderer
    assert TypeEngine.to_html(5, int) == "5"
    table = TypeEngine.to_html(pd.DataFrame({"a": [1, 2]}), pd.DataFrame)
    assert table.startswith("<table") and "<th>a</th>" in table


def test_the_protocol_is_checked_by_shape():
    assert isinstance(MoleculeCard(), Renderable)
    assert not isinstance(Molecule("x", "y"), Renderable)
