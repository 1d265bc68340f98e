"""``--listen-address``: the one parser of the status server's address, like Go's ``net.Listen``."""

from __future__ import annotations

# The C module under socket: inet_pton without socket.py's enums (the init container and the
# sidecar parse "127.0.0.1:8080" when prometheus-operator's listenLocal is set).
import _socket

__all__ = ["parse_listen_address"]

_LABEL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


def _is_hostname_label(label: str) -> bool:
    """RFC 1123 label: 1-63 ASCII letters, digits and ``-``, not starting or ending with ``-``."""
    return (
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(c in _LABEL_CHARS for c in label)
    )


def parse_listen_address(address: str) -> tuple[str | None, int]:
    """``HOST:PORT``, ``:PORT`` (all interfaces) or ``[IPV6]:PORT`` -> ``(host or None, port)``.

    PORT is 0-65535 (0 = any free port); HOST is an IP address or a syntactically valid host name
    (RFC 1123; not resolved). Syntax only: an address in use is found when binding.

    Raises:
        ValueError: what is wrong, with the address.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen address must be HOST:PORT or :PORT with PORT 0-65535, got {address!r}")
    if host.startswith("[") != host.endswith("]"):
        raise ValueError(f"unbalanced brackets in listen address {address!r}")
    bracketed = host.startswith("[")
    # ipaddress (~2 ms of CPU) is imported only for a literal IPv6 address; IPv4 is the C
    # library's inet_pton, which accepts exactly the dotted quads ipaddress accepts (no leading
    # zeros, four decimal octets 0-255; tests/property checks the two agree).
    try:
        if bracketed:
            import ipaddress

            ipaddress.IPv6Address(host[1:-1])
        elif host and (":" in host or "[" in host or "]" in host):
            raise ValueError("an IPv6 address needs brackets: [ADDR]:PORT")
        elif host and all(c.isdigit() or c == "." for c in host):
            try:
                _socket.inet_pton(_socket.AF_INET, host)
            except OSError:
                raise ValueError("not an IPv4 address (four decimal octets 0-255)") from None
        elif host and not all(_is_hostname_label(lb) for lb in host.removesuffix(".").split(".")):
            raise ValueError("not a host name")
    except ValueError as exc:
        raise ValueError(f"bad host in listen address {address!r}: {exc}") from None
    return (host[1:-1] if bracketed else host) or None, int(port)
