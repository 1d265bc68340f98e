"""prometheus-config-reloader flags that do not map to a setting of ours: ``--version``,
``--short-version``, ``--auto-gomemlimit-ratio`` (accepted, no effect) and ``--web-config-file``
(checked at start)."""

from __future__ import annotations

import argparse

from config_reloader.cli.watchstart import check_web_config_file

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_compat_arguments", "check_web_config_file"]


class _PrintVersion(argparse.Action):
    """``--version`` / ``--short-version``: print and exit 0 (prometheus-config-reloader flags)."""

    def __init__(self, option_strings: list[str], dest: str, short: bool = False, **kw: Any) -> None:
        kw.setdefault("help", "print just the version and exit" if short else "print the version and exit")
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, default=argparse.SUPPRESS, **kw)
        self.short = short

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kw: Any) -> None:
        from config_reloader.version import version_text

        v = version_text()
        print(v if self.short else f"config-reloader {v}")
        parser.exit()


def add_compat_arguments(parser: argparse.ArgumentParser) -> None:
    """prometheus-config-reloader flags that do not map to an option of ours (its ``main.go``
    defines them with kingpin): ``--version``, ``--short-version``, ``--auto-gomemlimit-ratio``
    (accepted, no effect) and ``--web-config-file`` (checked at start by
    :func:`check_web_config_file`)."""
    c = parser.add_argument_group("prometheus-config-reloader compatibility")
    c.add_argument("--version", action=_PrintVersion)
    c.add_argument("--short-version", action=_PrintVersion, short=True)
    c.add_argument(
        "--auto-gomemlimit-ratio",
        metavar="RATIO",
        type=float,
        default=0.0,
        help="accepted for compatibility and ignored: it sets Go's GOMEMLIMIT, "
        "there is no such limit in Python",
    )
    c.add_argument(
        "--web-config-file",
        metavar="PATH",
        default="",
        help="exporter-toolkit web config for the status server: TLS (cert_file, key_file, "
        "client_auth_type, client_ca_file, client_allowed_sans, min/max_version), "
        "basic_auth_users (bcrypt), headers, rate_limit; errors exit 2 at start",
    )
