"""Running the build steps an image's project layers emit, without a Docker daemon: the build
context is written as ``flyte build`` writes it, each ``RUN`` of the layer runs in a shell with
its bind mounts as copies in a sandbox, and ``--system`` installs go into a venv. Projects are
local (wheels and folders with an in-tree build backend), so uv works offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import flyte
from flyte.render.build_context import BuildContext
from flyte.render.dockerfile import dockerfile


def uv_binary() -> str | None:
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


# A PEP 517 backend small enough to live in a test project (``backend-path = ["."]``): it
# packs the project's top-level packages into a wheel, so builds need nothing from an index.
WHEEL_WRITER = """
import base64, hashlib, os, tomllib, zipfile

def write_wheel(directory, name, version, files):
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = dict(files)
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n"
    files[f"{info}/WHEEL"] = "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\\n".join(record + [f"{info}/RECORD,,"]) + "\\n"
    filename = f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, filename), "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)
    return filename

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    files = {}
    for top in sorted(os.listdir(".")):
        if os.path.isfile(os.path.join(top, "__init__.py")):
            for root, _, names in os.walk(top):
                for n in names:
                    if n.endswith(".py"):
                        with open(os.path.join(root, n)) as f:
                            files[os.path.join(root, n)] = f.read()
    return write_wheel(wheel_directory, project["name"], project["version"], files)
"""


def write_wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    namespace: dict = {}
    exec(WHEEL_WRITER, namespace)
    return folder / namespace["write_wheel"](str(folder), name, version, files)


def package(folder: Path, name: str, module: str, code: str, dependencies: str = "[]", extra: str = "") -> Path:
    """A project folder that builds with the in-tree backend."""
    (folder / module).mkdir(parents=True, exist_ok=True)
    (folder / module / "__init__.py").write_text(code)
    (folder / "backend.py").write_text(WHEEL_WRITER)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "1.0"\nrequires-python = ">=3.10"\ndependencies = {dependencies}\n\n'
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n' + extra
    )
    return folder


def new_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(path)
    return path / "bin" / "python"


MOUNT = re.compile(r"--mount=(\S+)\s+")


def run_steps(image: flyte.Image, index: int, sandbox: Path, python: Path, replaced: tuple[str, ...] = ()) -> str:
    """Run the RUN steps of layer ``index`` as a build would; return the shell output."""
    context = BuildContext(image).write(sandbox / "context")
    marker = re.compile(rf"\bsource=\w+project-{index},")
    output = []
    for line in dockerfile(image, replaced=replaced).splitlines():
        if not line.startswith("RUN ") or not marker.search(line):
            continue
        command = line[len("RUN ") :]
        for mount in MOUNT.findall(command):
            options = dict(part.split("=", 1) for part in mount.split(",") if "=" in part)
            if options.get("type") == "bind":  # a bind mount: a private copy at the same place
                target = sandbox / "root" / options["target"].lstrip("/")
                shutil.copytree(context / options["source"], target)
                command = command.replace(options["target"], str(target))
        command = MOUNT.sub("", command).replace("uv pip install --system", f"uv pip install --python {python}")
        env = {
            **os.environ,
            "PATH": f"{Path(uv_binary()).parent}{os.pathsep}{os.environ['PATH']}",
            "UV_OFFLINE": "1",
            "UV_CACHE_DIR": str(sandbox / "uv-cache"),
            "UV_PYTHON": sys.executable,  # the interpreter uv export resolves markers for
            "UV_NO_CONFIG": "1",
        }
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=300)
        output.append(result.stdout + result.stderr)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return "\n".join(output)


def installed(python: Path) -> dict[str, str]:
    """Distribution name -> version in the venv of ``python``."""
    code = "import importlib.metadata as m, json; print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    import json

    return json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)
