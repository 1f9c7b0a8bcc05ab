"""``flyte.logger``: the library's logger, also for task code that wants its lines alongside."""

from __future__ import annotations

import logging

logger = logging.getLogger("flyte")
