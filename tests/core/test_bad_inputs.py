"""Bad inputs found by an audit of the public API (every parameter of the guide, tried with the
wrong type, out of range, empty, malformed, misspelt): each is refused when written, with an
error that names the parameter, shows the value and says what would be accepted, and none is
an internal error (attrs' raw tuple, pathlib's, logging's, "'int' object is not iterable").
The values the reference SDK accepts for these parameters still work."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import flyte
from flyte.errors import ConfigurationError, ConfigurationTypeError, PluginNotFoundError, TaskCallError
from flyte.task import TriggerInputWarning

env = flyte.TaskEnvironment(name="bad_inputs")


@env.task
async def double(x: int = 1) -> int:
    return 2 * x


CRON = flyte.Cron("0 * * * *")

# (id, the call, exception type, substrings the message must contain: parameter, value, accepted)
CASES: list[tuple[str, Callable[[], Any], type[BaseException], tuple[str, ...]]] = [
    # -- with_runcontext: the reference SDK's remote-only options are checked, not ignored ----
    ("runcontext unknown", lambda: flyte.with_runcontext(retries=3), TypeError, ("retries", "with_runcontext")),
    ("runcontext typo", lambda: flyte.with_runcontext(overwrite_cach=True), TypeError, ("overwrite_cach", "overwrite_cache")),
    ("runcontext project", lambda: flyte.with_runcontext(project="bad project"), ValueError, ("project", "'bad project'", "accepted")),
    ("runcontext domain", lambda: flyte.with_runcontext(domain=5), TypeError, ("domain", "5", "a str")),
    ("runcontext labels", lambda: flyte.with_runcontext(labels={"team": 1}), TypeError, ("labels['team']", "1", "str")),
    ("runcontext label key", lambda: flyte.with_runcontext(labels={"bad key": "v"}), ValueError, ("labels key", "'bad key'", "accepted")),
    ("runcontext annotations", lambda: flyte.with_runcontext(annotations=["a"]), TypeError, ("annotations", "['a']", "dict")),
    ("runcontext interruptible", lambda: flyte.with_runcontext(interruptible="yes"), TypeError, ("interruptible", "'yes'", "True or False")),
    ("runcontext log_level", lambda: flyte.with_runcontext(log_level="loud"), ValueError, ("log_level", "'loud'", "DEBUG")),
    ("runcontext queue", lambda: flyte.with_runcontext(queue="a b"), ValueError, ("queue", "'a b'", "accepted")),
    ("runcontext concurrency -1", lambda: flyte.with_runcontext(max_action_concurrency=-1), ValueError, ("max_action_concurrency", "-1", "at least 2")),
    ("runcontext concurrency 1", lambda: flyte.with_runcontext(max_action_concurrency=1), ValueError, ("max_action_concurrency", "1", "at least 2")),
    ("runcontext concurrency str", lambda: flyte.with_runcontext(max_action_concurrency="4"), TypeError, ("max_action_concurrency", "'4'", "an int")),
    ("runcontext cache scope", lambda: flyte.with_runcontext(cache_lookup_scope="nowhere"), ValueError, ("cache_lookup_scope", "'nowhere'", "'project-domain'")),
    ("runcontext copy_style", lambda: flyte.with_runcontext(copy_style="some"), ValueError, ("copy_style", "'some'", "'loaded_modules'")),
    ("runcontext dry_run", lambda: flyte.with_runcontext(dry_run="no"), TypeError, ("dry_run", "'no'", "True or False")),
    ("runcontext start time", lambda: flyte.with_runcontext(run_start_time="2025-01-01"), TypeError, ("run_start_time", "'2025-01-01'", "datetime")),
    # -- flyte.init / init_from_config: no pathlib or logging internals --------------------
    ("init root_dir", lambda: flyte.init(root_dir=5), TypeError, ("root_dir", "5", "path")),
    ("init log_level", lambda: flyte.init(log_level="loud"), ValueError, ("log_level", "'loud'", "DEBUG")),
    ("init log_level type", lambda: flyte.init(log_level=1.5), TypeError, ("log_level", "1.5", "logging.DEBUG")),
    ("init unknown", lambda: flyte.init(foo=1), TypeError, ("foo", "accepted: project, domain", "max_concurrency")),
    ("init typo", lambda: flyte.init(max_concurency=2), TypeError, ("max_concurency", "did you mean `max_concurrency`")),
    ("init_from_config int", lambda: flyte.init_from_config(5), TypeError, ("path_or_config", "5", "YAML config file")),
    ("init_from_config missing", lambda: flyte.init_from_config("/nonexistent/c.yaml"), RuntimeError, ("'/nonexistent/c.yaml'", "accepted")),
    # -- Trigger and its predefined shortcuts ---------------------------------------------
    ("trigger description", lambda: flyte.Trigger("t", CRON, description=5), TypeError, ("Trigger.description", "5", "a str")),
    ("trigger auto_activate", lambda: flyte.Trigger("t", CRON, auto_activate="yes"), TypeError, ("Trigger.auto_activate", "'yes'", "True or False")),
    ("trigger overwrite_cache", lambda: flyte.Trigger("t", CRON, overwrite_cache="no"), TypeError, ("Trigger.overwrite_cache", "'no'", "True or False")),
    ("daily unknown", lambda: flyte.Trigger.daily(timezone="UTC"), TypeError, ("Trigger.daily", "timezone", "trigger_time_input_key, name")),
    ("hourly time key", lambda: flyte.Trigger.hourly(trigger_time_input_key=5), TypeError, ("trigger_time_input_key", "5", "the name of a parameter")),
    ("Cron without expression", lambda: flyte.Cron(None), TypeError, ("Cron.expression", "None", "five cron fields")),
    # -- value objects ----------------------------------------------------------------------
    ("cache serialize", lambda: flyte.Cache(behavior="auto", serialize="yes"), TypeError, ("cache.serialize", "'yes'", "True or False")),
    ("secret env var int", lambda: flyte.Secret(key="k", as_env_var=5), TypeError, ("Secret.as_env_var", "5", "MY_API_KEY")),
    ("secret env var newline", lambda: flyte.Secret(key="k", as_env_var="KEY\n"), ValueError, ("Secret.as_env_var", "'KEY\\n'", "MY_API_KEY")),
    ("timeout negative", lambda: flyte.Timeout(max_runtime=-1), ValueError, ("Timeout.max_runtime", ": -1 ", "more than 0")),
    ("timeout= negative", lambda: env.task(timeout=-5)(lambda: 1), ValueError, ("timeout", ": -5 ", "more than 0")),
    ("huge negative", lambda: flyte.ReusePolicy(idle_ttl=-1e30), ValueError, ("ReusePolicy.idle_ttl", "-1e+30", "must be positive")),
    ("backoff negative", lambda: flyte.Backoff(base=-2), ValueError, ("Backoff.base", ": -2 ", "seconds")),
    ("commands int", lambda: flyte.Image.from_debian_base().with_commands([5]), TypeError, ("with_commands", "5", "a shell command")),
    ("pip list", lambda: flyte.Image.from_debian_base().with_pip_packages(["numpy"]), TypeError, ("with_pip_packages", "['numpy']", "with_pip_packages(*names)")),
    ("plugin_config dict", lambda: flyte.TaskEnvironment(name="e", plugin_config={"a": 1}), PluginNotFoundError, ("plugin_config", "{'a': 1}", "accepted")),
    ("env_vars NUL", lambda: flyte.TaskEnvironment(name="e", env_vars={"A": "x\x00y"}), ValueError, ("env_vars['A']", "'x\\x00y'", "without NUL")),
    ("runcontext env_vars NUL", lambda: flyte.with_runcontext(env_vars={"A": "\x00"}), ValueError, ("env_vars['A']", "NUL")),
    ("extra_index_urls int", lambda: flyte.Image.from_debian_base().with_pip_packages("numpy", extra_index_urls=5), TypeError, ("extra_index_urls", "5", "an index URL")),
    ("requirements extra_index_urls item int", lambda: flyte.Image.from_debian_base().with_requirements(__file__, extra_index_urls=["https://a.example/simple", 3]), TypeError, ("extra_index_urls", "3", "an index URL")),
    ("uv project extra_index_urls item None", lambda: flyte.Image.from_debian_base().with_uv_project(__file__, extra_index_urls=[None]), TypeError, ("extra_index_urls", "None", "an index URL")),
    ("flyte_version int", lambda: flyte.Image.from_debian_base(flyte_version=5), TypeError, ("flyte_version", "5", "a non-empty str")),
    ("install_flyte str", lambda: flyte.Image.from_debian_base(install_flyte="no"), TypeError, ("install_flyte", "'no'", "True or False")),
    ("secret_mounts int", lambda: flyte.Image.from_debian_base().with_apt_packages("curl", secret_mounts=5), TypeError, ("secret_mounts", "5", "a flyte.Secret")),
    ("init strict_dependencies", lambda: flyte.init(strict_dependencies="yes"), TypeError, ("strict_dependencies", "'yes'", "True or False")),
    # -- flyte.map and task calls -----------------------------------------------------------
    ("map not iterable", lambda: flyte.map(double, 5), TypeError, ("flyte.map", "iterable 1 (5)", "a list or other iterable")),
    ("map group_name", lambda: flyte.map(double, [1], group_name=5), TypeError, ("group_name", "5", "a non-empty str")),
    ("map return_exceptions", lambda: flyte.map(double, [1], return_exceptions="no"), TypeError, ("return_exceptions", "'no'", "True or False")),
    ("call too many", lambda: flyte.run(double, 1, 2), TaskCallError, ("too many positional arguments", "accepted: (x: int = 1)")),
    ("call unknown", lambda: flyte.run(double, y=1), TaskCallError, ("'y'", "accepted: (x: int = 1)")),
]  # fmt: skip


@pytest.mark.parametrize(("call", "kind", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_input_is_refused_naming_parameter_value_and_what_is_accepted(
    call: Callable[[], Any], kind: type[BaseException], needles: tuple[str, ...]
) -> None:
    flyte.init()
    with pytest.raises(kind) as raised:
        call()
    message = str(raised.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert not isinstance(raised.value, (AttributeError, KeyError))
    if isinstance(raised.value, ConfigurationError) and isinstance(raised.value, TypeError):
        assert isinstance(raised.value, ValueError)  # the reference raises either: both work


def test_config_type_errors_are_value_errors_too() -> None:
    with pytest.raises(ValueError):
        flyte.with_runcontext(domain=5)
    with pytest.raises(ConfigurationTypeError):
        flyte.Trigger("t", CRON, auto_activate="yes")


def test_with_runcontext_takes_mode_positionally_and_the_reference_options_it_ignores() -> None:
    flyte.init()
    assert flyte.with_runcontext("local").run(double, x=2).outputs() == 4
    # The reference SDK's remote-only options, with values it accepts, still run locally.
    context = flyte.with_runcontext(
        project="my_project",
        domain="development",
        labels={"team": "ml"},
        annotations={"example.com/owner": "me"},
        interruptible=True,
        log_level=logging.DEBUG,
        user_log_level="info",
        queue="gpu-pool",
        max_action_concurrency=0,
        cache_lookup_scope="project-domain",
        copy_style="all",
        service_account=None,
        dry_run=False,
    )
    assert context.run(double, x=3).outputs() == 6


def test_init_accepts_log_level_names_and_numbers() -> None:
    for level in ("debug", "WARNING", logging.INFO):
        flyte.init(log_level=level)
    assert logging.getLogger("flyte").level == logging.INFO
    flyte.init()


def test_map_still_takes_any_iterable_and_returns_in_order() -> None:
    flyte.init()

    @env.task
    async def fan(n: int) -> list[int]:
        return list(flyte.map(double, range(n), group_name="doubles", return_exceptions=False))

    assert flyte.run(fan, 3).outputs() == [0, 2, 4]


def test_a_trigger_input_of_the_wrong_type_warns_at_definition_and_fails_deploy() -> None:
    trigger_env = flyte.TaskEnvironment(name="bad_trigger_inputs")
    with pytest.warns(
        TriggerInputWarning, match=r"trigger 'hourly_x' of bad_trigger_inputs\.t: input 'x' expects int, got str 'a'"
    ):

        @trigger_env.task(triggers=flyte.Trigger("hourly_x", CRON, inputs={"x": "a"}))
        def t(x: int = 1) -> int:
            return x

    flyte.init()
    with pytest.raises(ConfigurationError, match="input 'x' expects int, got str 'a'"):
        flyte.deploy(trigger_env, dryrun=True)


def test_trigger_inputs_the_guide_uses_raise_no_warning() -> None:
    from datetime import datetime

    guide_env = flyte.TaskEnvironment(name="guide_trigger_inputs")
    complex_trigger = flyte.Trigger(
        "ml_training",
        flyte.Cron("0 2 * * 1"),
        inputs={
            "model_config": {"learning_rate": 0.01, "batch_size": 32},
            "feature_columns": ["age", "income"],
            "validation_split": 0.2,
            "training_date": flyte.TriggerTime,
        },
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        @guide_env.task(triggers=complex_trigger)
        def train_model(
            model_config: dict, feature_columns: list[str], validation_split: float, training_date: datetime
        ) -> str:
            return "ok"

        @guide_env.task(triggers=flyte.Trigger("n", CRON, inputs={"validation_split": 1}))
        def takes_a_float(validation_split: float = 0.5) -> float:  # an int is a float, as in typing
            return validation_split


def test_runs_list_refuses_a_limit_below_one(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from flyte.cli.main import build_cli

    monkeypatch.setenv("FLYTE_HOME", str(tmp_path))
    result = CliRunner().invoke(build_cli(), ["runs", "list", "--limit", "-5"])
    assert result.exit_code == 2
    assert "--limit" in result.output and "-5" in result.output and "x>=1" in result.output


def test_a_report_refuses_what_is_not_html_when_it_is_written() -> None:
    flyte.init()

    @env.task(report=True)
    async def reports(what: str) -> int:
        if what == "content":
            flyte.report.log(5)
        else:
            flyte.report.get_tab(5)
        return 1

    with pytest.raises(TypeError, match=r"flyte\.report\.log: content: expected HTML \(a str\), got int 5"):
        flyte.run(reports, "content")
    with pytest.raises(TypeError, match=r"flyte\.report\.get_tab: name: expected a non-empty str, got int 5"):
        flyte.run(reports, "tab")


def test_the_same_secret_twice_is_asked_for_once() -> None:
    twice = flyte.TaskEnvironment(name="secret_twice", secrets=["api_key", flyte.Secret(key="api_key")])

    @twice.task
    def uses() -> int:
        return 1

    assert uses.spec.secrets == (flyte.Secret(key="api_key"),)
    with pytest.raises(ValueError, match="is the target of two secrets"):  # two secrets, one env var
        flyte.TaskEnvironment(
            name="two", secrets=[flyte.Secret("a", as_env_var="X"), flyte.Secret("b", as_env_var="X")]
        )


def test_trigger_time_bound_to_a_parameter_that_is_not_a_datetime_is_reported() -> None:
    from datetime import datetime

    time_env = flyte.TaskEnvironment(name="trigger_time_types")
    with pytest.warns(TriggerInputWarning, match="input 'x' expects int, but flyte.TriggerTime gives it the fire time"):

        @time_env.task(triggers=flyte.Trigger.daily(trigger_time_input_key="x"))
        def wrong(x: int = 1) -> int:
            return x

    with warnings.catch_warnings():
        warnings.simplefilter("error")

        @time_env.task(triggers=flyte.Trigger.daily())
        def right(trigger_time: datetime) -> str:
            return trigger_time.isoformat()


@pytest.mark.parametrize(
    ("source", "needles"),
    [
        ("async def f(*args: int) -> int:\n    return 1", ("*args parameters are not supported", "accepted: named")),
        ("async def f(**kw: int) -> int:\n    return 1", ("**kw parameters are not supported", "accepted: named")),
        (
            "async def f(x: int, /) -> int:\n    return x",
            ("'x' is positional-only", "accepted: parameters without '/'"),
        ),
    ],
)
def test_a_task_whose_inputs_cannot_be_passed_by_name_is_refused_when_defined(source: str, needles: tuple[str, ...]):
    # Not accepted, then failing each call with "input 'args' expects int, got tuple (1, 2)".
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(ConfigurationError) as raised:
        env.task(namespace["f"])
    for needle in needles:
        assert needle in str(raised.value)


def test_custom_context_keys_are_any_str_as_in_the_reference_sdk() -> None:
    flyte.init()

    @env.task
    def read() -> dict[str, str]:
        return flyte.get_custom_context()

    context = {"mlflow.run-id": "abc", "team name": "ml"}
    assert flyte.with_runcontext(custom_context=context).run(read).outputs() == context
    with pytest.raises(TypeError, match=r"custom_context\['n'\]: expected str, got int 1"):
        flyte.with_runcontext(custom_context={"n": 1})
