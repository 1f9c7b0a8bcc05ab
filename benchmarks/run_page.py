"""Instructions for the page of a large run: callgrind, load-independent.

``python benchmarks/run_page.py [--n 2000] [--src PATH]``

Runs a gather of ``n`` cache hits (a run of ``n + 1`` actions) in a fresh process, then
writes its page on disk (``flyte.runtime.page.write_run_page``, as the run's end does) once or
six times, each under callgrind, and prints (I(6) - I(1)) / 5 for the main thread: the
instructions of one page. Every run writes its final page, and rewrites it every second or
so while it goes (more often per action under valgrind's slowdown, which is most of what
``by_thread.py`` counts on the caller's thread). ``--src``: the ``core/src`` of another tree
to compare with. (The page's system time, its file's write and rename, is not counted.)
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import subprocess
import sys
import tempfile


def child(n: int, pages: int) -> None:
    os.environ["FLYTE_HOME"] = home = tempfile.mkdtemp(prefix="flyte-run-page-")
    os.chdir(home)
    import flyte
    from flyte.runtime import page
    from flyte.runtime import store as st

    env = flyte.TaskEnvironment(name="bench")
    cached = flyte.TaskEnvironment(name="bench_cached", cache="auto")

    @cached.task
    async def cached_child(i: int) -> int:
        return i

    @env.task
    async def parent(n: int) -> int:
        return len(await asyncio.gather(*(cached_child(i) for i in range(n))))

    flyte.init()
    flyte.run(parent, n)  # fills the cache
    run = flyte.run(parent, n)
    writer = st.writer()
    writer.flush()
    for _ in range(pages):
        page.write_run_page(run.name, writer)


def main_thread_instructions(n: int, pages: int, src: str | None) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if src:
        env["PYTHONPATH"] = src
    with tempfile.TemporaryDirectory(prefix="flyte-run-page-cg-") as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            [
                *("valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}"),
                *(sys.executable, __file__, "--child", str(n), str(pages)),
            ],
            check=True,
            capture_output=True,
            env=env,
        )
        with open(glob.glob(out + "*-01")[0]) as f:
            return next(int(line.split()[1]) for line in f if line.startswith(("summary:", "totals:")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="cache hits in the run (default 2,000)")
    parser.add_argument("--src", help="the core/src of the tree to measure (default: the installed one)")
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    one, six = (main_thread_instructions(args.n, pages, args.src) for pages in (1, 6))
    print(f"the page of a run of {args.n + 1:,} actions: {(six - one) / 5 / 1e6:.2f}M instructions")


if __name__ == "__main__":
    main()
