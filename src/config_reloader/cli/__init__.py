"""Command-line entry point: argument parsing and subcommand dispatch only.

Each subcommand lives in its own module of this package and exposes::

    def register(subparsers) -> None    # adds its parser; sets defaults(func=run)
    def run(args: argparse.Namespace) -> int   # imports its engine lazily, returns the exit status

Engines are imported inside ``run`` so that ``config-reloader condition`` never pays for aiohttp,
prometheus_client or the inotify layer (DESIGN §7: start within 1.3x of a bare interpreter).
This package is the only place that maps our exceptions to exit statuses and messages.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

# name -> module (relative to this package). Order is the order in --help.
_SUBCOMMANDS = (
    ("watch", "watch"),
    ("run", "run"),
    ("condition", "condition"),
    ("cpu-features", "cpu_features"),
    ("demo", "demo"),
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("config-reloader")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0+unknown"


class _VersionAction(argparse.Action):
    """Prints the version lazily (importlib.metadata costs ~10 ms; only pay when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: object):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *a: object, **kw: object) -> None:
        print(f"config-reloader {_version()}")
        parser.exit()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the parser. Used by ``main`` and by tests that check that command lines in docs and
    manifests parse.

    Args:
        only: register just this subcommand (``main`` passes the one named on the command line,
            so ``condition`` does not pay for building the ``watch`` and ``run`` parsers);
            ``None`` registers all of them.
    """
    parser = argparse.ArgumentParser(
        prog="config-reloader",
        description=(
            "Reload services exactly when their configuration content changes (watch), "
            "gate and pin them on CPU features with systemd-style conditions checked on every CPU "
            "(condition, cpu-features), or do both as a small supervisor (run)."
        ),
    )
    parser.add_argument("--version", action=_VersionAction)
    # dest is not "command": `run -- COMMAND ARGS...` stores the child's argv under that name.
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    for name, module in _SUBCOMMANDS:
        if only is not None and name != only:
            continue
        mod = importlib.import_module(f"{__name__}.{module}")
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = args_list[0] if args_list else None
    parser = build_parser(first if first in dict(_SUBCOMMANDS) else None)
    args = parser.parse_args(args_list)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `config-reloader cpu-features | head`: the reader went away; not our error.
        # Point stdout at /dev/null so the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a killed pipeline member
