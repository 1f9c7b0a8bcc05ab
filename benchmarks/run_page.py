"""Instructions for the page of a large run: callgrind, load-independent.

``python benchmarks/run_page.py [--n 2000] [--src PATH]``

Runs a gather of ``n`` cache hits (a run of ``n + 1`` actions) in a fresh process; then, in
two processes under callgrind, writes that run's page on disk
(``flyte.runtime.page.write_run_page``, as the run's end does) once or 11 times and prints
(I(11) - I(1)) / 10 for the main thread: the instructions of one page (nothing else differs
between the two processes: no run, nothing on a clock). Every run writes its final page, and rewrites it every second or
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


def make_run(n: int) -> str:
    """The run to page (in this process, not measured): its name."""
    import flyte

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
    return flyte.run(parent, n).name


def pages(name: str, count: int) -> None:
    """The measured process: ``count`` pages of run ``name``."""
    import flyte
    from flyte.runtime import page
    from flyte.runtime import store as st

    flyte.init()
    writer = st.writer()
    for _ in range(count):
        page.write_run_page(name, writer)


def main_thread_instructions(name: str, count: int, env: dict[str, str]) -> int:
    with tempfile.TemporaryDirectory(prefix="flyte-run-page-cg-") as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            [
                *("valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}"),
                *(sys.executable, __file__, "--pages", name, str(count)),
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
    parser.add_argument("--pages", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--make", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pages:
        return pages(args.pages[0], int(args.pages[1]))
    if args.make:
        return print(make_run(args.make))
    home = tempfile.mkdtemp(prefix="flyte-run-page-")
    env = {**os.environ, "PYTHONHASHSEED": "0", "FLYTE_HOME": home}
    if args.src:
        env["PYTHONPATH"] = args.src
    made = subprocess.run([sys.executable, __file__, "--make", str(args.n)], capture_output=True, text=True, env=env)
    name = made.stdout.split()[-1]
    one, eleven = (main_thread_instructions(name, count, env) for count in (1, 11))
    print(f"the page of a run of {args.n + 1:,} actions: {(eleven - one) / 10 / 1e6:.2f}M instructions")


if __name__ == "__main__":
    main()
