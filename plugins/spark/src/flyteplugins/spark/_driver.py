"""``flyte-spark-entrypoint.py``: the application file a SparkApplication's driver runs.

spark-submit runs a Python application only from a ``.py`` file, so this script (installed by
``flyteplugins-spark``) stands in for ``python -m flyte.entrypoint`` and takes its arguments.
"""

from __future__ import annotations

import sys

from flyte.extend import entrypoint


def main() -> None:
    sys.exit(entrypoint.main(sys.argv[1:]))
