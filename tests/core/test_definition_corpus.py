"""Definition-time validation, tried as an adversarial user would: every bad value of every
value object and configuration parameter is refused when it is written, with an error that
names the parameter (a ConfigurationError, which is a ValueError, or a TypeError for a value of
the wrong type). The values the guide uses, and their edge cases, are accepted and render to
objects the validator accepts."""

from __future__ import annotations

import math
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

import flyte
from flyte.errors import ConfigurationError, LevelError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import validate_manifests

NAN, INF = math.nan, math.inf
env = flyte.TaskEnvironment(name="corpus")


def _task(x: int = 1) -> int:
    return x


def task_with(**settings: Any) -> Any:
    return env.task(**settings)(_task)


def image() -> flyte.Image:
    return flyte.Image.from_debian_base()


R, Img, P, T = flyte.Resources, flyte.Image, flyte.PodTemplate, flyte.Trigger
BAD: list[tuple[str, Any, str]] = [
    # -- Resources: quantities --------------------------------------------------------------
    ("cpu non-ASCII digit", lambda: R(cpu="१"), "cpu"),
    ("cpu Arabic-Indic digit", lambda: R(cpu="٣"), "cpu"),
    ("cpu fullwidth digit", lambda: R(cpu="２"), "cpu"),
    ("cpu empty", lambda: R(cpu=""), "cpu"),
    ("cpu negative", lambda: R(cpu="-1"), "cpu"),
    ("cpu nan", lambda: R(cpu=NAN), "cpu"),
    ("cpu inf", lambda: R(cpu=INF), "cpu"),
    ("cpu huge exponent", lambda: R(cpu="1e999999999"), "cpu"),
    ("cpu beyond int64", lambda: R(cpu="1e19"), "cpu"),
    ("cpu below 1m", lambda: R(cpu="0.0001"), "cpu"),
    ("cpu bool", lambda: R(cpu=True), "cpu"),
    ("cpu hex", lambda: R(cpu="0x10"), "cpu"),
    ("cpu underscores", lambda: R(cpu="1_000"), "cpu"),
    ("cpu comma", lambda: R(cpu="1,5"), "cpu"),
    ("cpu words", lambda: R(cpu="5 cores"), "cpu"),
    ("cpu triple", lambda: R(cpu=(1, 2, 3)), "cpu"),
    ("cpu request above limit", lambda: R(cpu=("2", "1")), "cpu"),
    ("cpu dict", lambda: R(cpu={"request": 1}), "cpu"),
    ("memory milli", lambda: R(memory="500m"), "memory"),
    ("memory nano", lambda: R(memory="1n"), "memory"),
    ("memory bad suffix", lambda: R(memory="1Gib"), "memory"),
    ("memory space", lambda: R(memory="1 Gi"), "memory"),
    ("memory upper-case suffix", lambda: R(memory="1GI"), "memory"),
    ("memory non-ASCII", lambda: R(memory="१Gi"), "memory"),
    ("memory 16Ei", lambda: R(memory="16Ei"), "memory"),
    ("disk zero", lambda: R(disk="0"), "disk"),
    ("disk pair", lambda: R(disk=("1Gi", "2Gi")), "disk"),
    ("shm not auto", lambda: R(shm="automatic"), "shm"),
    # -- Resources: devices -----------------------------------------------------------------
    ("gpu 10**9", lambda: R(gpu=10**9), "gpu"),
    ("gpu 65", lambda: R(gpu=65), "gpu"),
    ("gpu zero", lambda: R(gpu=0), "gpu"),
    ("gpu negative", lambda: R(gpu=-1), "gpu"),
    ("gpu bool", lambda: R(gpu=True), "gpu"),
    ("gpu float", lambda: R(gpu=1.5), "gpu"),
    ("gpu count 0", lambda: R(gpu="A100:0"), "gpu"),
    ("gpu count non-ASCII", lambda: R(gpu="A100:१"), "gpu"),
    ("gpu count huge", lambda: R(gpu="A100:1000"), "gpu"),
    ("gpu unknown model", lambda: R(gpu="Z100:1"), "gpu"),
    ("gpu two colons", lambda: R(gpu="A100:1:2"), "gpu"),
    ("Device quantity huge", lambda: flyte.Device(quantity=10**6), "Device.quantity"),
    ("Device class", lambda: flyte.Device(device_class="gpu"), "Device.device_class"),
    ("Device empty model", lambda: flyte.Device(device=""), "Device.device"),
    ("GPU model", lambda: flyte.GPU("A200"), "GPU.device"),
    ("GPU partition", lambda: flyte.GPU("A100", partition="9g.99gb"), "GPU.partition"),
    ("GPU quantity", lambda: flyte.GPU("A100", quantity=100), "Device.quantity"),
    ("TPU model", lambda: flyte.TPU("V9"), "TPU.device"),
    ("TPU topology", lambda: flyte.TPU("V5P", "3x3x3"), "TPU.partition"),
    ("resources not Resources", lambda: flyte.TaskEnvironment("e", resources={"cpu": 1}), "resources"),
    # -- Image -------------------------------------------------------------------------------
    ("from_base with a space", lambda: Img.from_base("has space"), "image_uri"),
    ("from_base with a newline", lambda: Img.from_base("a\nb"), "image_uri"),
    ("from_base upper-case path", lambda: Img.from_base("MyOrg/Image"), "image_uri"),
    ("from_base leading dash", lambda: Img.from_base("-bad"), "image_uri"),
    ("from_base empty tag", lambda: Img.from_base("image:"), "image_uri"),
    ("from_base double slash", lambda: Img.from_base("a//b"), "image_uri"),
    ("from_base short digest", lambda: Img.from_base("img@sha256:abc"), "image_uri"),
    ("from_base empty", lambda: Img.from_base(""), "image_uri"),
    ("from_base not a str", lambda: Img.from_base(5), "image_uri"),
    ("image= string with a space", lambda: flyte.TaskEnvironment("e", image="my image"), "image"),
    ("image= string with a tab", lambda: flyte.TaskEnvironment("e", image="a\tb"), "image"),
    ("base_image with a space", lambda: Img.from_debian_base(base_image="py thon"), "base_image"),
    ("registry with a newline", lambda: Img.from_debian_base(registry="a\nb"), "registry"),
    ("registry with a space", lambda: Img.from_debian_base(registry="my registry"), "registry"),
    ("registry with a scheme", lambda: Img.from_debian_base(registry="https://ghcr.io"), "registry"),
    ("registry with an empty path part", lambda: Img.from_debian_base(registry="ghcr.io//x"), "registry"),
    ("registry_secret with a newline", lambda: Img.from_debian_base(registry_secret="a\nb"), "registry_secret"),
    ("name upper-case", lambda: Img.from_debian_base(name="Bad Name"), "name"),
    ("platform without an architecture", lambda: Img.from_debian_base(platform="linux"), "platform"),
    ("platform with a newline", lambda: Img.from_debian_base(platform=("linux/amd64\n",)), "platform"),
    ("platform empty", lambda: Img(base_image="python:3.12", platform=()), "platform"),
    ("env var name with a trailing newline", lambda: flyte.TaskEnvironment("e", env_vars={"A\n": "x"}), "env_vars"),
    ("python 2.7", lambda: Img.from_debian_base(python_version="2.7"), "python_version"),
    ("python words", lambda: Img.from_debian_base(python_version="three"), "python_version"),
    ("apt package with a space", lambda: image().with_apt_packages("bad pkg"), "with_apt_packages"),
    ("apt none", lambda: image().with_apt_packages(), "with_apt_packages"),
    ("pip package with a carriage return", lambda: image().with_pip_packages("numpy\rRUN x"), "with_pip_packages"),
    ("pip package with NUL", lambda: image().with_pip_packages("a\x00"), "with_pip_packages"),
    ("pip index_url with a newline", lambda: image().with_pip_packages("x", index_url="a\nb"), "index_url"),
    ("pip extra index with a newline", lambda: image().with_pip_packages("x", extra_index_urls=["a\nb"]), "extra"),
    ("pip extra_args with a newline", lambda: image().with_pip_packages("x", extra_args="-q\nRUN y"), "extra_args"),
    ("pip pre not a bool", lambda: image().with_pip_packages("x", pre="yes"), "pre"),
    ("env var value with a newline", lambda: image().with_env_vars({"A": "x\nRUN y"}), "with_env_vars"),
    ("env var name starting with a digit", lambda: image().with_env_vars({"1A": "x"}), "with_env_vars"),
    ("env vars as a string", lambda: image().with_env_vars("A=1"), "with_env_vars"),
    ("command with a newline", lambda: image().with_commands("echo\nRUN x"), "with_commands"),
    ("workdir with a newline", lambda: image().with_workdir("/a\nRUN x"), "workdir"),
    ("workdir empty", lambda: image().with_workdir(""), "workdir"),
    ("source file missing", lambda: image().with_source_file("/no/such/file"), "src"),
    ("requirements missing", lambda: image().with_requirements("/no/such/file"), "file"),
    # -- Cache -------------------------------------------------------------------------------
    ("cache behaviour misspelt", lambda: flyte.Cache("auot"), "cache.behavior"),
    ("cache= misspelt", lambda: task_with(cache="autoo"), "cache"),
    ("cache override without a version", lambda: flyte.Cache("override"), "cache.version_override"),
    ("cache serialize not a bool", lambda: flyte.Cache("auto", serialize="yes"), "serialize"),
    ("cache ignored_inputs not names", lambda: flyte.Cache("auto", ignored_inputs=[1]), "cache.ignored_inputs"),
    ("cache salt not a str", lambda: flyte.Cache("auto", salt=5), "cache.salt"),
    ("cache policy without get_version", lambda: flyte.Cache("auto", policies=[object()]), "cache.policies"),
    (
        "cache ignoring an input the task lacks",
        lambda: task_with(cache=flyte.Cache("auto", ignored_inputs=["nope"])),
        "task corpus._task: cache.ignored_inputs names 'nope'",
    ),
    # -- PodTemplate -------------------------------------------------------------------------
    ("label key with a space", lambda: P(labels={"bad key": "v"}), "pod_template.labels key"),
    ("label key too long", lambda: P(labels={"k" * 64: "v"}), "pod_template.labels key"),
    ("label key two slashes", lambda: P(labels={"a/b/c": "v"}), "pod_template.labels key"),
    ("label key upper-case prefix", lambda: P(labels={"Example.com/x": "v"}), "pod_template.labels key"),
    ("label key empty name", lambda: P(labels={"example.com/": "v"}), "pod_template.labels key"),
    ("label value with a space", lambda: P(labels={"k": "bad value"}), "pod_template.labels['k']"),
    ("label value too long", lambda: P(labels={"k": "v" * 64}), "pod_template.labels['k']"),
    ("label value not a str", lambda: P(labels={"k": 5}), "pod_template.labels['k']"),
    ("annotation key with a newline", lambda: P(annotations={"a\nb": "v"}), "pod_template.annotations key"),
    ("container name upper-case", lambda: P(primary_container_name="Primary"), "primary_container_name"),
    ("container name with _", lambda: P(primary_container_name="my_container"), "primary_container_name"),
    (
        "pod_spec misspelt field",
        lambda: P(pod_spec={"containers": [{"name": "primary", "imagePullPolcy": "Always"}]}),
        "pod_template.pod_spec.containers[0].imagePullPolcy",
    ),
    (
        "pod_spec snake_case field",
        lambda: P(pod_spec={"containers": [{"name": "primary"}], "node_selector": {"a": "b"}}),
        "pod_template.pod_spec.node_selector",
    ),
    ("pod_spec unknown top field", lambda: P(pod_spec={"containrs": []}), "pod_template.pod_spec.containrs"),
    ("pod_spec containers not a list", lambda: P(pod_spec={"containers": "x"}), "pod_template.pod_spec.containers"),
    (
        "pod_spec port as a string",
        lambda: P(pod_spec={"containers": [{"name": "primary", "ports": [{"containerPort": "80"}]}]}),
        "containerPort",
    ),
    (
        "pod_spec container without a name",
        lambda: P(pod_spec={"containers": [{"name": "primary"}, {"image": "busybox"}]}),
        "pod_template.pod_spec.containers[1]",
    ),
    ("pod_spec without the primary container", lambda: P(pod_spec={"containers": [{"name": "x"}]}), "primary"),
    ("pod_spec not a spec", lambda: P(pod_spec="x"), "pod_template.pod_spec"),
    ("pod_template not a template", lambda: flyte.TaskEnvironment("e", pod_template=5), "pod_template"),
    # -- queue ------------------------------------------------------------------------------
    ("queue with a newline", lambda: flyte.TaskEnvironment("e", queue="a\nb"), "queue"),
    ("queue with a space", lambda: task_with(queue="gpu pool"), "queue"),
    ("queue too long", lambda: task_with(queue="q" * 64), "queue"),
    ("queue empty", lambda: task_with(queue=""), "queue"),
    ("queue in an override", lambda: task_with().override(queue="a/b"), "queue"),
    ("trigger queue", lambda: T("t", flyte.Cron("* * * * *"), queue="a\tb"), "Trigger.queue"),
    # -- durations ---------------------------------------------------------------------------
    ("max_runtime nan", lambda: flyte.Timeout(max_runtime=NAN), "Timeout.max_runtime"),
    ("max_runtime inf", lambda: flyte.Timeout(max_runtime=INF), "Timeout.max_runtime"),
    ("max_runtime -inf", lambda: flyte.Timeout(max_runtime=-INF), "Timeout.max_runtime"),
    ("max_runtime 10**20", lambda: flyte.Timeout(max_runtime=10**20), "Timeout.max_runtime"),
    ("max_runtime 400 days", lambda: flyte.Timeout(max_runtime=timedelta(days=400)), "Timeout.max_runtime"),
    ("max_runtime timedelta.max", lambda: flyte.Timeout(max_runtime=timedelta.max), "Timeout.max_runtime"),
    ("max_runtime negative", lambda: flyte.Timeout(max_runtime=-1), "Timeout.max_runtime"),
    ("deadline negative timedelta", lambda: flyte.Timeout(deadline=timedelta(seconds=-1)), "Timeout.deadline"),
    ("max_runtime string", lambda: flyte.Timeout(max_runtime="60"), "Timeout.max_runtime"),
    ("max_queued_time nan", lambda: flyte.Timeout(max_queued_time=NAN), "Timeout.max_queued_time"),
    ("deadline inf", lambda: flyte.Timeout(deadline=INF), "Timeout.deadline"),
    ("timeout= nan", lambda: task_with(timeout=NAN), "timeout"),
    ("timeout= inf in an override", lambda: task_with().override(timeout=INF), "timeout"),
    ("timeout= bool", lambda: task_with(timeout=True), "timeout"),
    ("Backoff base nan", lambda: flyte.Backoff(base=NAN), "Backoff.base"),
    ("Backoff base negative", lambda: flyte.Backoff(base=-1), "Backoff.base"),
    ("Backoff factor nan", lambda: flyte.Backoff(base=1, factor=NAN), "Backoff.factor"),
    ("Backoff factor inf", lambda: flyte.Backoff(base=1, factor=INF), "Backoff.factor"),
    ("Backoff factor 1e308", lambda: flyte.Backoff(base=1, factor=1e308, cap=60), "Backoff.factor"),
    ("Backoff factor below 1", lambda: flyte.Backoff(base=1, factor=0.5), "Backoff.factor"),
    ("Backoff cap nan", lambda: flyte.Backoff(base=1, cap=NAN), "Backoff.cap"),
    ("Backoff cap below base", lambda: flyte.Backoff(base=10, cap=1), "Backoff.cap"),
    ("ReusePolicy idle_ttl nan", lambda: flyte.ReusePolicy(idle_ttl=NAN), "ReusePolicy.idle_ttl"),
    ("ReusePolicy idle_ttl 10**20", lambda: flyte.ReusePolicy(idle_ttl=10**20), "ReusePolicy.idle_ttl"),
    ("ReusePolicy scaledown_ttl inf", lambda: flyte.ReusePolicy(scaledown_ttl=INF), "ReusePolicy.scaledown_ttl"),
    # -- counts ------------------------------------------------------------------------------
    ("retries negative", lambda: task_with(retries=-1), "retries"),
    ("retries 10**9", lambda: task_with(retries=10**9), "retries"),
    ("retries bool", lambda: task_with(retries=True), "retries"),
    ("retries float", lambda: task_with(retries=1.5), "retries"),
    ("RetryStrategy backoff string", lambda: flyte.RetryStrategy(count=1, backoff="1s"), "RetryStrategy.backoff"),
    ("replicas zero", lambda: flyte.ReusePolicy(replicas=0), "ReusePolicy.replicas"),
    ("replicas 10**9", lambda: flyte.ReusePolicy(replicas=10**9), "ReusePolicy.replicas"),
    ("replicas min > max", lambda: flyte.ReusePolicy(replicas=(3, 1)), "ReusePolicy.replicas"),
    ("replicas triple", lambda: flyte.ReusePolicy(replicas=(1, 2, 3)), "ReusePolicy.replicas"),
    ("concurrency 10**9", lambda: flyte.ReusePolicy(concurrency=10**9), "ReusePolicy.concurrency"),
    ("max_inline_io_bytes zero", lambda: task_with(max_inline_io_bytes=0), "max_inline_io_bytes"),
    ("max_inline_io_bytes bool", lambda: task_with(max_inline_io_bytes=True), "max_inline_io_bytes"),
    # -- triggers ----------------------------------------------------------------------------
    ("trigger name empty", lambda: T("", flyte.Cron("* * * * *")), "Trigger.name"),
    ("trigger name with a newline", lambda: T("a\nb", flyte.Cron("* * * * *")), "Trigger.name"),
    ("trigger automation a number", lambda: T("t", 5), "Trigger.automation"),
    ("cron four fields", lambda: flyte.Cron("* * * *"), "Cron.expression"),
    ("cron minute 61", lambda: flyte.Cron("61 * * * *"), "Cron.expression"),
    ("cron time zone", lambda: flyte.Cron("* * * * *", timezone="Mars/Olympus"), "Cron.timezone"),
    ("fixed rate zero", lambda: flyte.FixedRate(0), "FixedRate.interval_minutes"),
    ("fixed rate 10**9", lambda: flyte.FixedRate(10**9), "FixedRate.interval_minutes"),
    ("fixed rate start_time a str", lambda: flyte.FixedRate(5, start_time="now"), "FixedRate.start_time"),
    ("trigger inputs not a dict", lambda: T("t", "* * * * *", inputs=5), "Trigger.inputs"),
    ("trigger env var not a str", lambda: T("t", "* * * * *", env_vars={"A": 5}), "Trigger.env_vars"),
    ("trigger label key", lambda: T("t", "* * * * *", labels={"bad key": "v"}), "Trigger.labels key"),
    ("trigger label value", lambda: T("t", "* * * * *", labels={"k": "a b"}), "Trigger.labels['k']"),
    ("trigger annotation key", lambda: T("t", "* * * * *", annotations={"": "v"}), "Trigger.annotations"),
    ("trigger interruptible", lambda: T("t", "* * * * *", interruptible="no"), "Trigger.interruptible"),
    (
        "a Trigger with settings as automation",
        lambda: T("nightly", T.daily(inputs={"x": 1})),
        "Trigger.automation",
    ),
    ("two triggers of one name", lambda: task_with(triggers=[T.daily(), T.daily()]), "triggers"),
    # -- environments and tasks --------------------------------------------------------------
    ("env name with a space", lambda: flyte.TaskEnvironment("my env"), "name"),
    ("env name upper-case", lambda: flyte.TaskEnvironment("MyEnv"), "name"),
    ("env name mixed separators", lambda: flyte.TaskEnvironment("my_env-x"), "name"),
    ("env name trailing newline", lambda: flyte.TaskEnvironment("my_env\n"), "name"),
    ("env name empty", lambda: flyte.TaskEnvironment(""), "name"),
    ("env name not a str", lambda: flyte.TaskEnvironment(5), "name"),
    ("env var name with a dash", lambda: flyte.TaskEnvironment("e", env_vars={"MY-VAR": "x"}), "env_vars"),
    ("env var value not a str", lambda: flyte.TaskEnvironment("e", env_vars={"A": 5}), "env_vars"),
    ("description too long", lambda: flyte.TaskEnvironment("e", description="x" * 300), "description"),
    ("interruptible not a bool", lambda: flyte.TaskEnvironment("e", interruptible="yes"), "interruptible"),
    ("reusable not a policy", lambda: flyte.TaskEnvironment("e", reusable="yes"), "reusable"),
    ("depends_on not environments", lambda: flyte.TaskEnvironment("e", depends_on=[5]), "depends_on"),
    ("retries on an environment", lambda: flyte.TaskEnvironment("e", retries=3), "retries"),
    ("short_name empty", lambda: task_with(short_name=""), "short_name"),
    ("report not a bool", lambda: task_with(report="yes"), "report"),
    ("links not links", lambda: task_with(links=5), "links"),
    ("docs not docs", lambda: task_with(docs=5), "docs"),
]


@pytest.mark.parametrize("label, make, names", BAD, ids=[b[0] for b in BAD])
def test_bad_values_are_refused_when_written_naming_the_parameter(label, make, names):
    with pytest.raises((ConfigurationError, LevelError, TypeError)) as caught:
        make()
    assert names in str(caught.value), f"{label}: {caught.value}"
    assert "\n" not in str(caught.value).split(" (accepted")[0].replace("\\n", ""), "one line"


GOOD: list[tuple[str, Any]] = [
    ("cpu forms", lambda: R(cpu=(0.5, "1.5"), memory=("512Mi", "1Gi"), disk="10Gi", shm="auto")),
    ("cpu 1m", lambda: R(cpu="1m", memory="1")),
    ("largest representable memory", lambda: R(memory=str(2**63 - 1))),
    ("gpu forms", lambda: R(gpu="A100:8")),
    ("most GPUs", lambda: R(gpu=64)),
    ("largest TPU slice", lambda: R(gpu=flyte.TPU("V5P", "16x16x24"))),
    ("MIG", lambda: R(gpu=flyte.GPU("A100", 2, partition="1g.5gb"))),
    ("queue label value", lambda: "gpu-pool.v1_a"),
]


@pytest.mark.parametrize("label, make", GOOD, ids=[g[0] for g in GOOD])
def test_the_edges_of_what_is_accepted_render_valid_objects(label, make, tmp_path):
    value = make()
    settings: dict[str, Any] = {"resources": value} if isinstance(value, flyte.Resources) else {"queue": value}
    e = flyte.TaskEnvironment(name="edges", **settings)

    @e.task
    def edge(x: int = 1) -> int:
        return x

    _render_and_validate([edge], tmp_path)


def test_accepted_image_references_registries_and_platforms(tmp_path):
    references = [
        "python:3.12-slim",
        "docker.io/myorg/myimage:mytag",
        "ghcr.io/my_gh_org/a__b/c-d.e:1.0_rc-1",
        "localhost:5000/img",
        "registry.example.com:443/org/img@sha256:" + "a" * 64,
        "[::1]:5000/img:tag",
    ]
    tasks = []
    for i, reference in enumerate(references):
        e = flyte.TaskEnvironment(name=f"ref{i}", image=reference)
        tasks.append(e.task(_named(f"t{i}")))
    built = Img.from_debian_base(registry="ghcr.io/my_gh_org", name="my-image", platform="linux/arm64")
    assert built.platform == ("linux/arm64",)  # a str is one platform, not a tuple of characters
    assert Img.from_debian_base(platform=("linux/amd64", "linux/arm64/v8")).platform[1] == "linux/arm64/v8"
    e = flyte.TaskEnvironment(name="built", image=built.with_env_vars({"A": "quoted 'value'"}))
    tasks.append(e.task(_named("built")))
    _render_and_validate(tasks, tmp_path)


def test_pod_templates_of_the_guide_and_their_edges_render_valid_objects(tmp_path):
    from kubernetes.client import V1Container, V1PodSpec, V1Toleration

    templates = [
        P(
            pod_spec=V1PodSpec(
                containers=[V1Container(name="primary"), V1Container(name="side", image="busybox")],
                tolerations=[V1Toleration(key="a", operator="Exists", effect="NoSchedule")],
            ),
            labels={"example.com/team": "ml", "tier": "", "a.b-c_d": "A.b-c_D"},
            annotations={"example.com/note": "any text\nwith lines"},
        ),
        P(pod_spec={"containers": [{"name": "primary", "resources": {"limits": {"cpu": 2}}}], "hostNetwork": False}),
        P(primary_container_name="c" * 63, pod_spec={"containers": [{"name": "c" * 63}]}),
    ]
    tasks = []
    for i, template in enumerate(templates):
        e = flyte.TaskEnvironment(name=f"pod{i}", pod_template=template)
        tasks.append(e.task(_named(f"p{i}")))
    _render_and_validate(tasks, tmp_path)


def test_a_trigger_passed_as_automation_gives_its_schedule(tmp_path):
    # The guide's signature fragment, Trigger(name, automation), with a predefined trigger.
    nightly = T("nightly", T.daily())
    assert nightly.automation == flyte.Cron("0 0 * * *") and nightly.inputs is None
    rate = T("often", T("inner", flyte.FixedRate(30)))
    assert rate.automation == flyte.FixedRate(30)
    e = flyte.TaskEnvironment(name="triggered")
    task = e.task(triggers=[nightly, rate])(_named("nightly_job"))
    objects = _render_and_validate([task], tmp_path)
    assert sorted(o["spec"]["schedule"] for o in objects if o["kind"] == "CronJob") == ["0 0 * * *", "0-59/30 * * * *"]
    # Settings the inner trigger carries would be lost: the error shows both right spellings.
    with pytest.raises(ConfigurationError) as caught:
        T("nightly", T.daily(queue="q", env_vars={"A": "1"}))
    message = str(caught.value)
    assert "flyte.Trigger.daily(name=..., env_vars=..., queue=...)" in message
    assert "flyte.Trigger(name, flyte.Cron('0 0 * * *'), env_vars=..., queue=...)" in message


def test_durations_and_counts_at_their_limits_are_accepted():
    year = timedelta(days=365)
    assert flyte.Timeout(max_runtime=year, deadline=365 * 86400).deadline == year
    assert flyte.ReusePolicy(replicas=(0, 1000), concurrency=1000, idle_ttl=year).capacity == 1000 * 1000
    assert flyte.RetryStrategy(count=1000).count == 1000
    assert flyte.FixedRate(365 * 24 * 60, start_time=datetime(2025, 1, 1)).interval_minutes == 525600
    backoff = flyte.Backoff(base=1, factor=100, cap=year)
    # A delay never overflows: past what a float holds it stays at the longest wait.
    assert backoff.delay(10_000) == year
    assert flyte.Backoff(base=1, factor=2, cap=60).delay(10_000) == timedelta(seconds=60)


def _named(name: str) -> Any:
    def body(x: int = 1) -> int:
        return x

    body.__name__ = body.__qualname__ = name
    return body


def _render_and_validate(tasks: list[Any], folder: Path) -> list[dict]:
    from flyte.render.context import RenderContext
    from flyte.render.render import render_task

    objects = [obj for task in tasks for obj in render_task(task, RenderContext())]
    path = folder / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    problems = validate_manifests(path)
    assert not problems, "\n".join(problems)
    return objects
