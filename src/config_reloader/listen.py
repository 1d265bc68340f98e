"""``--listen-address``: the one parser of the status server's address, like Go's ``net.Listen``."""

from __future__ import annotations

__all__ = ["is_ipv4_dotted_quad", "parse_listen_address"]

_LABEL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


def _is_hostname_label(label: str) -> bool:
    """RFC 1123 label: 1-63 ASCII letters, digits and ``-``, not starting or ending with ``-``."""
    return (
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(c in _LABEL_CHARS for c in label)
    )


def is_ipv4_dotted_quad(text: str) -> bool:
    """True for an IPv4 address as ``inet_pton(AF_INET)`` and :mod:`ipaddress` accept it: four
    decimal octets 0-255 joined by ``.``, no leading zeros (``010`` is refused, not read as octal).

    A scanner rather than ``_socket.inet_pton``: loading ``_socket`` (a shared library) was ~1.4 M
    instructions of the init container's one-shot render, which opens no socket.
    """
    octets = text.split(".")
    return len(octets) == 4 and all(
        0 < len(o) <= 3 and o.isascii() and o.isdigit() and (o == "0" or o[0] != "0") and int(o) <= 255
        for o in octets
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
    # ipaddress (~2 ms of CPU) is imported only for a literal IPv6 address; IPv4 dotted quads are
    # scanned (tests/property checks the scanner agrees with ipaddress and inet_pton).
    try:
        if bracketed:
            import ipaddress

            ipaddress.IPv6Address(host[1:-1])
        elif host and (":" in host or "[" in host or "]" in host):
            raise ValueError("an IPv6 address needs brackets: [ADDR]:PORT")
        elif host and all(c.isdigit() or c == "." for c in host):
            if not is_ipv4_dotted_quad(host):
                raise ValueError("not an IPv4 address (four decimal octets 0-255)")
        elif host and not all(_is_hostname_label(lb) for lb in host.removesuffix(".").split(".")):
            raise ValueError("not a host name")
    except ValueError as exc:
        raise ValueError(f"bad host in listen address {address!r}: {exc}") from None
    return (host[1:-1] if bracketed else host) or None, int(port)
