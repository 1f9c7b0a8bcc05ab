"""Every SQL statement on the run database lives in the run store's module: a scan of the
installed sources (flyte, and the plugins and connectors under flyteplugins) that names the file
and line of any statement found elsewhere."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import flyte

# The run store's module, where every statement on runs.db lives; the result cache's own
# database (a different file, its own module); and the open-time PRAGMA every SQLite store
# of ours shares (journal mode, not a statement on any table).
ALLOWED = {"flyte/runtime/store.py", "flyte/_cache/store.py", "flyte/_sqlite.py"}

RUN_TABLES = r"(runs|actions|attempts|deployments|triggers|connector_jobs|cluster_objects)"
# A literal that is an SQL statement (its text starts with a statement's keyword) ...
STATEMENT = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|"
    r"EXPLAIN|VACUUM|WITH)\b"
)
# ... or a piece of one that names a table of the run store.
TABLE_CLAUSE = re.compile(rf"\b(FROM|INTO|UPDATE|JOIN|TABLE|ON)\s+{RUN_TABLES}\b")
# Calls that run SQL on a connection or cursor.
EXECUTE = {"execute", "executemany", "executescript"}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _text(node: ast.JoinedStr) -> str:
    return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)


def sql_outside_store(source: str, name: str, core: bool) -> list[str]:
    """``name:line: text`` of each SQL statement in ``source``: a string literal that is a
    statement or names a run store table, and (in flyte's own modules, ``core``) any call of
    a connection's ``execute``."""
    tree = ast.parse(source, name)
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # its constant parts are judged as one text
            skip.update(id(v) for v in node.values)
    found = []
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = _text(node)
        if text is not None and (STATEMENT.match(text) or TABLE_CLAUSE.search(text)):
            found.append((node.lineno, repr(text.strip()[:80])))
        elif core and isinstance(node, ast.Call) and getattr(node.func, "attr", None) in EXECUTE:
            found.append((node.lineno, f".{node.func.attr}(...) runs SQL"))
    return [f"{name}:{line}: {what}" for line, what in sorted(found)]


def _sources() -> list[tuple[Path, str, bool]]:
    """(file, its name from its package's parent, whether it is flyte's own) of every module
    of the installed flyte and flyteplugins packages."""
    roots = [(Path(p), True) for p in flyte.__path__]
    try:
        plugins = importlib.import_module("flyteplugins")
        roots += [(Path(p), False) for p in plugins.__path__]
    except ImportError:  # no plugin installed
        pass
    return [
        (f, f.relative_to(root.parent).as_posix(), core) for root, core in roots for f in sorted(root.rglob("*.py"))
    ]


def test_no_sql_on_the_run_database_outside_the_store_module():
    sources = _sources()
    names = {name for _, name, _ in sources}
    assert names >= ALLOWED, f"the allowed modules moved: {sorted(ALLOWED - names)}"
    assert any(not core for _, _, core in sources), "no plugin or connector was scanned"
    found = [
        hit
        for path, name, core in sources
        if name not in ALLOWED
        for hit in sql_outside_store(path.read_text(encoding="utf-8"), name, core)
    ]
    assert not found, "SQL outside flyte/runtime/store.py (move it behind a function there):\n" + "\n".join(found)


def test_the_scan_finds_the_statements_of_the_store_module_itself():
    # What the allowed module holds is what the scan would flag anywhere else: every kind of
    # statement it runs, in plain, implicitly joined and f-string literals.
    store = Path(flyte.__path__[0], "runtime", "store.py")
    found = sql_outside_store(store.read_text(encoding="utf-8"), "store.py", core=True)
    text = "\n".join(found)
    for kind in ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "PRAGMA", "BEGIN", ".execute(", ".executemany("):
        assert kind in text, f"{kind} not found in store.py by the scan"
    assert "'SELECT * FROM runs{}" in text  # an f-string whose table follows a placeholder


def test_the_scan_names_file_and_line_and_leaves_prose_alone():
    source = '''
"""A docstring may say SELECT * FROM runs."""
import sqlite3


def f(conn, table):
    """UPDATE actions SET status: also a docstring."""
    conn.execute(f"SELECT * FROM {table} WHERE x=?", (1,))
    rows = "SELECT id FROM actions WHERE run=?"
    where = " WHERE run=? " + "ORDER BY number"
    message = "update the runs you started from the actions page"
    joined = f"DELETE FROM triggers WHERE task={table}"
    return conn.cursor().executemany(rows, []), where, message, joined
'''
    found = sql_outside_store(source, "mod.py", core=True)
    assert found == [
        "mod.py:8: 'SELECT * FROM {} WHERE x=?'",
        "mod.py:8: .execute(...) runs SQL",
        "mod.py:9: 'SELECT id FROM actions WHERE run=?'",
        "mod.py:12: 'DELETE FROM triggers WHERE task={}'",
        "mod.py:13: .executemany(...) runs SQL",
    ], found
    # A plugin's own calls of execute (a connector's SQL on its service) are its business;
    # a statement on the run store's tables is not.
    plugin = sql_outside_store(source, "mod.py", core=False)
    assert not any(".execute" in hit for hit in plugin) and len(plugin) == 3, plugin
