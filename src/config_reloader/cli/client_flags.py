"""``watch`` flags of the reload client: TLS, credential files, and ``--reload-command``.

TLS and credentials apply to ``--reload-url`` and to ``--runtimeinfo-url`` alike. Secrets are
read from files only (``/proc/PID/cmdline`` is readable by every process): the flag names are the
ones prometheus-operator's web basic-auth proposal settles (``--reload-basic-auth-username``,
``--reload-basic-auth-password-file``), the TLS ones follow Prometheus' ``tls_config`` fields.
"""

from __future__ import annotations

import argparse
import logging
import shlex

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from config_reloader.reload.client import HttpClientConfig

__all__ = [
    "add_reload_client_arguments",
    "client_config_from_args",
    "parse_bool",
    "reload_command_from_args",
]

log = logging.getLogger("config_reloader.cli.watch")

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_bool(text: str) -> bool:
    """argparse ``type=`` for ``--flag=true|false`` (kingpin's bool flags take the same).

    Raises:
        argparse.ArgumentTypeError: not a boolean word.
    """
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r} (use true or false)")


def add_reload_client_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the TLS, credential and ``--reload-command`` flags to ``parser``."""
    g = parser.add_argument_group(
        "reload client: TLS and credentials (for --reload-url and --runtimeinfo-url; secrets from files only)"
    )
    g.add_argument(
        "--reload-tls-ca-file",
        metavar="PATH",
        default="",
        help="PEM CA bundle to verify the target's certificate (instead of the system CAs; "
        "verifies loopback targets too)",
    )
    g.add_argument("--reload-tls-cert-file", metavar="PATH", default="", help="PEM client certificate")
    g.add_argument(
        "--reload-tls-key-file", metavar="PATH", default="", help="PEM key of the client certificate"
    )
    g.add_argument(
        "--reload-tls-server-name",
        metavar="NAME",
        default="",
        help="name sent in SNI and checked against the certificate, instead of the URL's host",
    )
    g.add_argument(
        "--reload-tls-insecure-skip-verify",
        metavar="BOOL",
        nargs="?",
        const=True,
        default=None,
        type=parse_bool,
        help="do not verify the target's certificate (=false: verify loopback targets too). "
        "Default: https to 127.0.0.0/8, ::1 or localhost is not verified, any other host is",
    )
    g.add_argument(
        "--reload-basic-auth-username",
        metavar="NAME",
        default="",
        help="basic auth user name (with --reload-basic-auth-password-file)",
    )
    g.add_argument(
        "--reload-basic-auth-password-file",
        metavar="PATH",
        default="",
        help="file holding the basic auth password; re-read at every attempt (rotation needs no restart)",
    )
    g.add_argument(
        "--reload-bearer-token-file",
        metavar="PATH",
        default="",
        help="file holding a bearer token (Authorization: Bearer); re-read at every attempt",
    )
    c = parser.add_argument_group("reload by command")
    c.add_argument(
        "--reload-command",
        metavar="CMD",
        default=None,  # None = not given; an empty value is an error, not "use the URL"
        help="reload by running this command instead (no shell; split like a shell line; {} = the "
        "rendered config file): success is exit status 0, bounded by --reload-timeout, output in "
        "the log. Selects --reload-method=command",
    )


def client_config_from_args(args: argparse.Namespace) -> HttpClientConfig | None:
    """The :class:`~config_reloader.reload.client.HttpClientConfig` of the flags, files checked.

    Returns ``None`` when no TLS or credential flag is given. Logs a warning for credentials
    in a URL (visible in ``/proc/PID/cmdline``) and for TLS flags with only ``http`` URLs.

    Raises:
        ValueError: flags that do not go together, or a file that cannot be used now (the
            message names the flag).
    """
    settings = {
        "tls_ca_file": args.reload_tls_ca_file,
        "tls_cert_file": args.reload_tls_cert_file,
        "tls_key_file": args.reload_tls_key_file,
        "tls_server_name": args.reload_tls_server_name,
        "tls_insecure_skip_verify": args.reload_tls_insecure_skip_verify,
        "basic_auth_username": args.reload_basic_auth_username,
        "basic_auth_password_file": args.reload_basic_auth_password_file,
        "bearer_token_file": args.reload_bearer_token_file,
    }
    reload_urls = getattr(args, "reload_urls", None) or [args.reload_url]
    urls = [("--reload-url", u) for u in reload_urls] + [("--runtimeinfo-url", args.runtimeinfo_url or "")]
    if all(v is None or v == "" for v in settings.values()) and not any("@" in u for _, u in urls):
        # The usual case, and the init container's: the client module (with ipaddress, json and
        # the reload package: ~5-7 ms of CPU) and urllib.parse are not loaded to find nothing.
        return None

    from urllib.parse import urlsplit

    from config_reloader.logs import redact_url
    from config_reloader.reload.client import HttpClientConfig

    config = HttpClientConfig(**settings)
    for flag, url in urls:
        if url and "@" in urlsplit(url).netloc:
            if config.has_credentials:
                raise ValueError(f"{flag} holds credentials and credential files are given too: use one")
            log.warning(
                "credentials in a URL can be read by every process in /proc/PID/cmdline; "
                "use --reload-basic-auth-username and --reload-basic-auth-password-file",
                extra={"flag": flag, "url": redact_url(url)},
            )
    if config == HttpClientConfig():
        return None
    https = any(u.lower().startswith("https:") for _, u in urls)
    config.check()
    if https and (config.tls_ca_file is not None or config.tls_cert_file is not None):
        # no https URL: the TLS files are never used, and ssl need not load
        from config_reloader.reload.tls import check_files

        check_files(config)
    if config.has_tls_settings and not https:
        log.warning("--reload-tls-* flags given but no URL is https: they are not used")
    return config


def reload_command_from_args(args: argparse.Namespace) -> tuple[str, ...] | None:
    """``--reload-command`` split into argv, ``{}`` replaced by the rendered config file
    (``--config-envsubst-file``, else ``--config-file``); ``None`` when not given.

    Raises:
        ValueError: empty or unsplittable command, or ``{}`` without a config file.
    """
    text = args.reload_command
    if text is None:
        return None
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"--reload-command: cannot split {text!r}: {exc}") from None
    if not argv:
        raise ValueError("--reload-command is empty")
    path = args.config_envsubst_file or args.config_file
    if any("{}" in a for a in argv):
        if not path:
            raise ValueError("--reload-command uses {} but there is no --config-file")
        argv = [a.replace("{}", path) for a in argv]
    return tuple(argv)
