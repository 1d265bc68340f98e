"""``config-reloader demo``: see the reloader work in a few seconds, touching nothing outside a
temp dir (engine: :mod:`config_reloader.demo`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="show reloads on a throwaway target: atomic rename, in-place write, kubelet swap",
        description=(
            "In a temp dir, run the reloader (--delay-interval=0) against a local stand-in for "
            "Prometheus' reload API, edit the bundled example files the ways users and kubelet do, "
            "and print each reload with its latency and the content the target saw; then rewrite a "
            "file byte for byte to show that no reload follows. Listens on 127.0.0.1 only."
        ),
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir and print its path")
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warn", "error"),
        default="error",
        help="reloader log level on stderr (default: %(default)s)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from config_reloader.demo import run_demo
    from config_reloader.logs import setup_logging

    setup_logging("logfmt", args.log_level)
    try:
        steps = asyncio.run(run_demo(sys.stdout, keep=args.keep))
    except TimeoutError as exc:
        print(f"config-reloader demo: failed: {exc}", file=sys.stderr)
        return 1
    return 0 if all(s.reloaded == (s.name != "identical rewrite") for s in steps) else 1
