"""Where local state lives: one root, ``~/.flyte`` by default, ``FLYTE_HOME`` to move it.

The root is private to the user: folders are created 0700 and the files flyte writes there
0600 (:func:`private_file`), whatever the umask. A root written by an older version, whose
folders and databases were readable by others, is tightened once when a process first uses it.
Every path under the root is built from single, checked components and resolved, so no name
(a project, a run, a secret) can lead outside it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

from flyte._validation import invalid
from flyte.errors import StateError

# Files and folders an older version left readable by others (see _tighten).
_PRIVATE_FILES = tuple(f"{db}{suffix}" for db in ("runs.db", "local-cache/cache.db") for suffix in ("", "-wal", "-shm"))
_PRIVATE_TREES = ("secrets", "runs", "local-cache")

_checked: dict[str, Path] = {}  # FLYTE_HOME as given -> the root it names, checked once
_defaults: dict[str | None, str] = {}  # $HOME -> ~/.flyte under it
_real_roots: dict[Path, str] = {}  # a root -> where it resolves (symlinks followed)
_root_ids: dict[Path, tuple[int, int]] = {}  # a root -> (device, inode) of where it resolved
_lock = threading.Lock()


def state_root() -> Path:
    """The state root (created on first use, private to the user)."""
    return _root()[0]


def _root() -> tuple[Path, os.stat_result]:
    """The state root and what ``stat`` says of it now."""
    raw = os.environ.get("FLYTE_HOME") or _default_root()
    root = _checked.get(raw)  # every run asks several times: parse and check it once
    if root is not None:
        try:
            info = os.stat(root)
        except OSError:
            info = None
        if info is not None and stat.S_ISDIR(info.st_mode):
            return root, info
    root = Path(raw).expanduser()
    if root.exists() and not root.is_dir():
        raise StateError(
            f"FLYTE_HOME={raw}: {root} is not a directory; point FLYTE_HOME at a directory "
            "(it is created if missing), or unset it to use ~/.flyte"
        )
    with _lock:
        if not root.is_dir():
            try:
                root.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise StateError(f"cannot create the state root {root} (FLYTE_HOME): {exc.strerror}") from exc
        _tighten(root)
        _checked[raw] = root
    return root, os.stat(root)


def checked_root() -> Path | None:
    """The state root the environment names now, if this process has checked it before
    (:func:`state_root`), without looking at it again; None if not. For a caller that opens or
    stats a file under it anyway, and asks :func:`state_root` when that fails."""
    return _checked.get(os.environ.get("FLYTE_HOME") or _default_root())


def _default_root() -> str:
    """``~/.flyte`` (``Path.home()`` builds Paths on every call: kept per ``$HOME``)."""
    home = os.environ.get("HOME")
    found = _defaults.get(home)
    if found is None:
        found = _defaults[home] = str(Path.home() / ".flyte")
    return found


# The folder of the runs' pages (``pages/<name>.html``); a run's own files are in ``runs/<name>/``.
PAGES = "pages"


def run_page(name: str) -> Path:
    """Where run ``name``'s page is: ``pages/<name>.html``, or, for a run whose page an older
    version wrote (at ``runs/<name>/index.html``) and none since, that one. Nothing under the
    root is created (a run's page is written by :mod:`flyte.runtime.page`)."""
    root = state_root()
    path = root / PAGES / f"{name}.html"
    if not path.exists():
        old = root / "runs" / name / "index.html"
        if old.exists():
            return old
    return path


def state_path(*parts: str) -> Path:
    """A folder under the state root, created if missing (each level mode 0700).

    Each part must be one plain path component; the resolved folder must lie inside the root.
    """
    return Path(state_dir(*parts))


def state_dir(*parts: str) -> str:
    """:func:`state_path` as a string (a run's page and logs ask for their folder on every write)."""
    root, info = _root()
    path = os.fspath(root)
    # Built from checked components, the path can leave the root only through a symlink (in
    # it, or the root's own path now leading to another folder than the one it first resolved
    # to: another device and inode). One lstat per component finds them; only what leads
    # through one is resolved (realpath: an lstat per component of the root's path too, in
    # Python, a fifth of a run's page), and before anything is made below it.
    if _root_ids.get(root) != (info.st_dev, info.st_ino):
        inside(root, root)  # a root made again, or replaced: checked, then known by its inode
        _root_ids[root] = (info.st_dev, info.st_ino)
    for part in parts:
        if not isinstance(part, str) or part in ("", ".", "..") or "/" in part or "\0" in part or os.sep in part:
            invalid("state path component", part, "one path component: no '/', not '.' or '..'")
        path = os.path.join(path, part)
        try:
            mode = os.lstat(path).st_mode
        except OSError:  # missing (or unreadable: the mkdir below says why)
            mode = 0
        if stat.S_ISDIR(mode):
            continue
        if stat.S_ISLNK(mode):
            inside(root, Path(path))
            if os.path.isdir(path):
                continue
        try:
            os.mkdir(path, 0o700)
        except OSError as exc:
            if not os.path.isdir(path):  # made meanwhile by another process: fine
                raise StateError(f"cannot create {path} under the state root: {exc.strerror}") from exc
            inside(root, Path(path))  # not made here: whatever it is gets resolved
        _chmod(path, 0o700)
    return path


def inside(root: Path, path: Path) -> Path:
    """``path``, after checking that it resolves (symlinks followed) to a place under ``root``."""
    resolved = os.path.realpath(path)
    real_root = _real_roots.get(root)
    if real_root is None:
        # Resolved once per root: if the root is moved afterwards, paths under it stop
        # matching and are refused, never let through.
        real_root = _real_roots[root] = os.path.realpath(root)
        with contextlib.suppress(OSError):
            info = os.stat(real_root)
            _root_ids[root] = (info.st_dev, info.st_ino)
    if resolved != real_root and not resolved.startswith(real_root.rstrip(os.sep) + os.sep):
        raise StateError(f"{path} resolves to {resolved}, outside the state root {root}; refusing to use it")
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it does not exist (SQLite then gives its -wal
    and -shm files the same mode), or make an existing one 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        _chmod(path, 0o600)
    else:
        os.close(fd)
    return path


def _chmod(path: str | Path, mode: int) -> None:
    """Set ``mode`` on a file or folder we own when it differs (symlinks are never followed)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) == mode:
        return
    os.chmod(path, mode)


def _tighten(root: Path) -> None:
    """Make a root written by an older version private: the root 0700 (unless it is a shared
    sticky folder such as /tmp, which is never a state root of its own), and every folder and
    file flyte writes there 0700/0600. Only flyte's own entries are touched."""
    info = root.stat()
    if not info.st_mode & stat.S_ISVTX:
        _chmod(root, 0o700)
    for name in _PRIVATE_FILES:
        _chmod(root / name, 0o600)
    for name in _PRIVATE_TREES:
        top = root / name
        # A folder this version made is 0700 with private files inside: only walk loose ones.
        if top.is_symlink() or not top.is_dir() or stat.S_IMODE(top.stat().st_mode) == 0o700:
            continue
        for folder, dirs, files in os.walk(top):
            _chmod(Path(folder), 0o700)
            for entry in files:
                _chmod(Path(folder) / entry, 0o600)
            dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]
