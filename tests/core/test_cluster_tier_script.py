"""``make test-cluster`` (.ci/test-cluster) never passes silently: without a server it says so
in one line and skips; a failed package download skips with the reason; any other failure to
start the servers fails the tier."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "test-cluster"


def run_tier(tmp_path: Path, start_script: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FLYTE_TEST_KUBECONTEXT"}
    env["KUBE_TMPDIR"] = str(tmp_path / "kube")
    if start_script is not None:
        fake = tmp_path / "start_apiserver.sh"
        fake.write_text('#!/bin/sh\n[ "$1" = status ] && exit 0\n' + start_script)
        fake.chmod(0o755)
        env["FLYTE_KUBE_START"] = str(fake)
    else:
        env["FLYTE_KUBE_START"] = str(tmp_path / "absent.sh")
    return subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True)


def test_without_a_server_the_tier_says_so_in_one_line(tmp_path):
    result = run_tier(tmp_path, None)
    assert result.returncode == 0
    assert result.stdout.startswith("test-cluster: SKIPPED: no API server") and result.stdout.count("\n") == 1


def test_a_failed_download_skips_with_its_reason(tmp_path):
    result = run_tier(tmp_path, "echo 'E: Failed to fetch http://mirror/pool/x.deb  404  Not Found' >&2\nexit 100\n")
    assert result.returncode == 0
    assert result.stdout.count("\n") == 1
    assert "SKIPPED: the API server could not be built (a package download failed: E: Failed to fetch" in result.stdout


def test_any_other_failure_fails_the_tier(tmp_path):
    result = run_tier(tmp_path, "echo 'benchcrd: undefined: options.NewThing' >&2\nexit 2\n")
    assert result.returncode == 1
    assert "FAILED: starting the API servers failed" in result.stderr and "undefined: options.NewThing" in result.stderr
