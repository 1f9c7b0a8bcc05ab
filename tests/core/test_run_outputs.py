"""``run.outputs()`` is the reference SDK's ``flyte.remote.ActionOutputs``: a tuple of the root
task's outputs, named ``o0``, ``o1``, ... Each expected value below is what flyte 2.12.1 gives
for the same task in local mode (``flyte.run(task).outputs()``), checked side by side."""

from __future__ import annotations

import copy
import pickle
from typing import NamedTuple

import pandas as pd
import pytest
from click.testing import CliRunner

import flyte
import flyte.errors
from flyte.cli.main import build_cli
from flyte.remote import ActionOutputs, Run

env = flyte.TaskEnvironment(name="outs")


class Pair(NamedTuple):
    total: int
    label: str


@env.task
def one() -> int:
    return 3


@env.task
def pair() -> tuple[int, str]:
    return 2, "a"


@env.task
def named() -> Pair:
    return Pair(5, "x")


@env.task
def nothing() -> None:
    return None


@env.task
def mapping() -> dict[str, int]:
    return {"a": 1}


@env.task
def items() -> list[int]:
    return [1, 2]


@env.task
def text() -> str:
    return 'say "hi"'


@env.task
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2]})


@env.task
async def fails() -> int:
    raise ValueError("no good")


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()


# (task, tuple of outputs, named_outputs, repr), each as flyte 2.12.1 gives it locally.
CASES = [
    (one, (3,), {"o0": 3}, "ActionOutputs(o0=3)"),
    (pair, (2, "a"), {"o0": 2, "o1": "a"}, 'ActionOutputs(o0=2, o1="a")'),
    (named, (5, "x"), {"o0": 5, "o1": "x"}, 'ActionOutputs(o0=5, o1="x")'),
    (nothing, (None,), {"o0": None}, "ActionOutputs(o0=None)"),
    (mapping, ({"a": 1},), {"o0": {"a": 1}}, "ActionOutputs(o0={'a': 1})"),
    (items, ([1, 2],), {"o0": [1, 2]}, "ActionOutputs(o0=[1, 2])"),
    (text, ('say "hi"',), {"o0": 'say "hi"'}, 'ActionOutputs(o0="say "hi"")'),
]


@pytest.mark.parametrize(("task", "values", "named_outputs", "shown"), CASES, ids=lambda c: getattr(c, "name", None))
def test_outputs_are_the_reference_sdks_action_outputs(task, values, named_outputs, shown):
    for run in (flyte.run(task), Run.get(flyte.run(task).name)):  # in memory, and read back from the record
        outputs = run.outputs()
        assert type(outputs) is ActionOutputs and isinstance(outputs, tuple)
        assert tuple(outputs) == values and len(outputs) == len(values)
        assert [*outputs] == list(values)  # unpacking
        assert outputs.named_outputs == named_outputs
        for i, value in enumerate(values):
            assert outputs[i] == value and getattr(outputs, f"o{i}") == value
        assert repr(outputs) == shown and str(outputs) == shown


def test_a_list_output_is_one_output_and_its_first_item_is_the_list():
    outputs = flyte.run(items).outputs()
    assert outputs[0] == [1, 2] and outputs.o0 is outputs[0]
    first, *rest = outputs
    assert first == [1, 2] and rest == []
    with pytest.raises(IndexError):
        outputs[1]


def test_a_dataframe_output_is_one_output():
    outputs = flyte.run(frame).outputs()
    assert len(outputs) == 1 and list(outputs.named_outputs) == ["o0"]
    assert isinstance(outputs[0], pd.DataFrame) and outputs[0]["a"].tolist() == [1, 2]
    assert outputs.o0 is outputs[0]
    assert repr(outputs) == f"ActionOutputs(o0={outputs[0]})"  # the reference's: the frame as str() shows it
    # Read back from the record, the output is the stored frame's reference, one output too.
    (stored,) = Run.get(flyte.run(frame).name).outputs()
    assert stored.open(pd.DataFrame).all_sync()["a"].tolist() == [1, 2]


def test_a_named_tuples_fields_are_attributes_too():
    for run in (flyte.run(named), Run.get(flyte.run(named).name)):
        outputs = run.outputs()
        assert (outputs.total, outputs.label) == (5, "x") == (outputs.o0, outputs.o1)
        assert "total" in dir(outputs) and "o1" in dir(outputs)
        total, label = outputs
        assert (total, label) == (5, "x")


def test_a_field_never_hides_a_tuple_method_or_an_output_number():
    class Odd(NamedTuple):
        o1: int
        count: int

    outputs = ActionOutputs.__new__(ActionOutputs, Odd(7, 8), Odd._fields)
    assert outputs.o0 == 7 and outputs.o1 == 8  # o0, o1 number the outputs, as on the reference
    assert outputs.count(7) == 1  # tuple.count, not the field
    with pytest.raises(AttributeError, match="no output 'o2'.*outputs: o0, o1"):
        _ = outputs.o2


def test_one_output_also_equals_its_bare_value_both_ways():
    outputs = flyte.run(one).outputs()
    assert outputs == 3 and 3 == outputs  # noqa: SIM300 (the reflected comparison is the point)
    assert outputs == (3,) and (3,) == outputs  # noqa: SIM300
    assert (outputs != 3, outputs != (3,), 3 != outputs) == (False, False, False)  # noqa: SIM300
    assert outputs != 4 and outputs != (3, 3) and 4 != outputs  # noqa: SIM300
    assert flyte.run(items).outputs() == [1, 2] and [1, 2] == flyte.run(items).outputs()  # noqa: SIM300
    assert flyte.run(items).outputs() != (1, 2)  # a list is not a tuple, as before
    assert flyte.run(mapping).outputs() == {"a": 1}
    assert flyte.run(nothing).outputs() == None  # noqa: E711 (what `outputs() == None` code relied on)
    # Nothing else pretends to be the value: it is a tuple.
    assert not isinstance(outputs, int) and outputs[0] + 1 == 4
    with pytest.raises(TypeError):
        outputs + 1
    assert hash(outputs) == hash((3,))  # the tuple's hash, as on the reference


def test_several_outputs_equal_only_the_tuple():
    outputs = flyte.run(pair).outputs()
    assert outputs == (2, "a") and (2, "a") == outputs  # noqa: SIM300
    assert outputs != 2 and outputs != [2, "a"]
    assert flyte.run(named).outputs() == Pair(5, "x")


def test_outputs_copy_and_pickle_as_they_are():
    outputs = flyte.run(named).outputs()
    for again in (copy.copy(outputs), copy.deepcopy(outputs), pickle.loads(pickle.dumps(outputs))):
        assert type(again) is ActionOutputs and again == (5, "x") and again.total == 5
        assert repr(again) == repr(outputs) and again.named_outputs == outputs.named_outputs


def test_every_form_of_run_returns_action_outputs():
    import asyncio

    async def from_async() -> Run:
        return await flyte.run.aio(one)

    runs = [
        flyte.run(one),
        flyte.with_runcontext(name="ctx-run").run(one),
        flyte.with_runcontext("local").run(one),
        asyncio.run(from_async()),
        asyncio.run(flyte.with_runcontext(name="ctx-aio").run.aio(one)),
    ]
    for run in runs:
        assert type(run.outputs()) is ActionOutputs and run.outputs() == (3,)


def test_a_fired_trigger_returns_action_outputs(tmp_path, monkeypatch):
    from flyte._loader import load_file
    from flyte.runtime import settings

    monkeypatch.setattr(settings, "_current", settings._current)  # the next test gets the old settings
    source = tmp_path / "fired_example.py"
    source.write_text(
        "import flyte\n"
        "env = flyte.TaskEnvironment(name='fired')\n"
        "@env.task(triggers=flyte.Trigger(name='manual', inputs={'x': 4}))\n"
        "def double(x: int) -> int:\n"
        "    return 2 * x\n"
    )
    flyte.deploy(load_file(source).env)
    trigger = flyte.remote.Trigger.get(name="manual", task_name="fired.double")
    outputs = flyte.run(trigger).outputs()
    assert type(outputs) is ActionOutputs and outputs[0] == 8


@env.task
def add_one(x: int) -> int:
    return x + 1


@env.task
def frame_rows(df: pd.DataFrame) -> int:
    return len(df)


def test_passing_a_runs_outputs_on_as_an_input_says_to_take_the_value():
    # As on the reference SDK, the outputs are not the value they hold; the error says how to
    # get it, where code written for a bare-value outputs() passes run.outputs() on as it is.
    with pytest.raises(flyte.errors.InputTypeError) as caught:
        flyte.run(add_one, x=flyte.run(one).outputs())
    assert str(caught.value) == (
        "outs.add_one: input 'x' expects int, got a run's outputs ActionOutputs(o0=3); "
        "pass the value itself: run.outputs()[0] (or .o0)"
    )
    assert caught.value.input == "x"
    with pytest.raises(flyte.errors.InputTypeError, match=r"one of run.outputs\(\)\[0\] .. \[1\]"):
        flyte.run(add_one, x=flyte.run(pair).outputs())
    with pytest.raises(flyte.errors.InputTypeError, match=r"(?s)'df' expects pandas.*run.outputs\(\)\[0\]"):
        flyte.run(frame_rows, df=flyte.run(frame).outputs())
    assert flyte.run(add_one, x=flyte.run(one).outputs()[0]).outputs() == 4
    assert flyte.run(frame_rows, df=flyte.run(frame).outputs().o0).outputs() == 2


def test_a_failed_run_raises_its_error_from_outputs():
    with pytest.raises(ValueError, match="no good"):
        flyte.run(fails)
    (failed,) = Run.listall(in_phase=["FAILED"])
    with pytest.raises(RuntimeError, match="FAILED.*no good"):
        failed.outputs()


def test_the_cli_prints_the_result_as_before(tmp_path):
    source = tmp_path / "printed.py"
    source.write_text(
        "import flyte\n"
        "env = flyte.TaskEnvironment(name='printed')\n"
        "@env.task\n"
        "def one() -> int:\n"
        "    return 3\n"
        "@env.task\n"
        "def pair() -> tuple[int, str]:\n"
        "    return 2, 'a'\n"
    )
    runner = CliRunner()
    one_output = runner.invoke(build_cli(), ["run", str(source), "one"])
    assert one_output.exit_code == 0, one_output.output
    assert one_output.stdout.strip() == "3"
    two_outputs = runner.invoke(build_cli(), ["run", str(source), "pair"])
    assert two_outputs.exit_code == 0, two_outputs.output
    assert two_outputs.stdout.split() == ["[", "2,", '"a"', "]"]
