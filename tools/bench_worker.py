"""One process of a ``zbus bench`` scenario: ``python -m zbus.tools.bench_worker ROLE JSON-ARGS``.

The harness (:mod:`.bench_harness`) starts every publisher, subscriber, client and responder as its
own process through this entry point, so raw pyzmq and zbus run under identical conditions. A worker
talks to the harness with one JSON object per stdout line (``{"ready": ...}``, ``{"result": ...}``)
and takes orders (``go``, ``quit``) as lines on stdin. Every wait is bounded by ``deadline`` seconds.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from .bench_io import emit


def _roles(role: str) -> dict[str, Callable[..., Any]]:
    # only the side that runs is imported: a raw worker never loads zbus
    if role.startswith("raw_"):
        from .bench_raw import ROLES

        return ROLES
    from .bench_zbus import ROLES as ZBUS_ROLES

    return ZBUS_ROLES


def main(argv: list[str] | None = None) -> int:
    """Run the role named by ``argv[0]`` with the JSON arguments in ``argv[1]``."""
    argv = sys.argv[1:] if argv is None else argv
    role, args = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    func = _roles(role).get(role)
    if func is None:
        emit(error=f"unknown role {role!r}")
        return 2
    profile_dir = os.environ.get("ZBUS_BENCH_PROFILE")  # a directory: write <role>-<pid>.prof there
    try:
        if profile_dir:
            import cProfile
            import time

            # CPU time of this thread, not wall time: on a busy machine a wall-clock profile charges a
            # function for the time the process waited for a core
            profiler = cProfile.Profile(time.thread_time)
            try:
                profiler.runcall(func, **args)
            finally:
                profiler.dump_stats(os.path.join(profile_dir, f"{role}-{os.getpid()}.prof"))
        else:
            func(**args)
    except Exception as exc:  # reported to the harness, which shows it in its error
        emit(error=f"{type(exc).__name__}: {exc}")
        raise
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
