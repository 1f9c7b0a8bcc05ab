"""flyte.io.File/Dir travel by reference through object storage; init_from_config picks local."""

from __future__ import annotations

from pathlib import Path

import pytest

import flyte
from flyte.io import Dir, File

env = flyte.TaskEnvironment(name="io")


@env.task(max_inline_io_bytes=2048)
def write_big(n: int) -> File:
    f = File.new_remote("big.txt")
    with f.open_sync("w") as fp:
        fp.write("x" * n)
    return f


@env.task(max_inline_io_bytes=2048)
async def read_size(f: File) -> int:
    async with f.open("rb") as fp:
        return len(fp.read())


@env.task
def make_dir(files: int) -> Dir:
    import tempfile
    from pathlib import Path

    local = Path(tempfile.mkdtemp())
    for i in range(files):
        (local / f"part-{i}.txt").write_text(str(i))
    (local / "sub").mkdir()
    (local / "sub" / "deep.txt").write_text("deep")
    return Dir.from_local_sync(local)


@env.task
async def count_dir(d: Dir) -> list[str]:
    return [f.name async for f in d.walk()]


@env.task
async def round_trip(n: int) -> int:
    return await read_size(write_big(n))


@pytest.fixture(autouse=True)
def local():
    flyte.init()


def test_files_pass_by_reference_and_do_not_count_as_inline_bytes():
    assert flyte.run(round_trip, 100_000).outputs() == 100_000  # 50x the inline limit


def test_dirs_upload_walk_and_download(tmp_path):
    d = flyte.run(make_dir, 3).outputs()[0]
    assert sorted(flyte.run(count_dir, d).outputs()[0]) == ["deep.txt", "part-0.txt", "part-1.txt", "part-2.txt"]
    local = d.download_sync(tmp_path / "copy")
    assert (tmp_path / "copy" / "sub" / "deep.txt").read_text() == "deep"
    assert local == str(tmp_path / "copy")


def test_any_fsspec_url_can_be_the_store():
    flyte.init(storage="memory://flyte-test")
    f = flyte.run(write_big, 10).outputs()[0]
    assert f.path.startswith("memory://flyte-test/")
    assert flyte.run(read_size, f).outputs() == 10


def test_file_from_local_and_download(tmp_path):
    src = tmp_path / "in.bin"
    src.write_bytes(b"\x00\x01payload")
    f = File.from_local_sync(src)
    assert f.exists_sync() and f.name == "in.bin"
    assert Path(f.download_sync(tmp_path / "out.bin")).read_bytes() == b"\x00\x01payload"
    with pytest.raises(FileNotFoundError):
        File.from_local_sync(tmp_path / "missing")


def test_init_from_config_without_a_remote_backend_runs_locally(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flyte.init_from_config()
    assert "no config file names no remote backend; running locally" in capsys.readouterr().err
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "admin:\n  endpoint: dns:///example.com\ntask:\n  project: p\n  domain: d\nlocal:\n  max_concurrency: 3\n"
    )
    flyte.init_from_config(config)
    err = capsys.readouterr().err
    assert "running locally" in err and "admin.endpoint" in err
    from flyte.runtime import settings

    assert settings.current().max_concurrency == 3 and settings.current().project == "p"
    assert flyte.run(read_size, File.from_local_sync(config)).outputs() == config.stat().st_size


def test_init_from_config_errors_are_clear(tmp_path):
    with pytest.raises(RuntimeError, match="does not exist"):
        flyte.init_from_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed")
    with pytest.raises(RuntimeError, match="not valid YAML"):
        flyte.init_from_config(bad)
    with pytest.raises(RuntimeError, match="remote Flyte control plane"):
        flyte.init(endpoint="dns:///x")


def test_a_found_config_yaml_that_is_not_a_flyte_config_is_skipped_with_a_line(tmp_path, monkeypatch, capsys):
    """A project's own ./config.yaml (for its app, not for flyte) does not stop runs, as with
    the reference SDK; one named by the caller must be a config."""
    monkeypatch.chdir(tmp_path)
    for text in ("a: [unclosed\n", "- a list\n- not a mapping\n"):
        (tmp_path / "config.yaml").write_text(text)
        flyte.init_from_config()
        err = capsys.readouterr().err
        assert "config.yaml is not a flyte config" in err and "ignoring it" in err
        assert "no config file names no remote backend; running locally" in err
        assert flyte.run(read_size, File.from_local_sync(tmp_path / "config.yaml")).outputs() == len(text)
        with pytest.raises(RuntimeError, match="config.yaml"):
            flyte.init_from_config("config.yaml")
