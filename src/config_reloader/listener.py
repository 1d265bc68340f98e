"""The status server's listening socket, bound through ``_socket``.

The sidecar binds it before its first reload (:mod:`config_reloader.cli.watchstart`), so that a
``--listen-address`` that cannot be bound (a port in use, a host name that does not resolve) stops
the process before it reloads the target, not right after: in a crash loop, each restart would
reload Prometheus once more. ``_socket`` is the C module under :mod:`socket`, which that path does
not load (socket.py's enums and selectors); :func:`config_reloader.httpserve.bind_socket` binds
through this function too, so there is one definition of how we listen.
"""

from __future__ import annotations

import _socket

__all__ = ["BACKLOG", "bind_listener", "listen_problem"]

BACKLOG = 128
"""Pending connections the kernel queues before the server accepts them."""


def _dual_stack() -> _socket.socket | None:
    """An IPv6 socket that also accepts IPv4 (``IPV6_V6ONLY`` off), or None where the system has
    no IPv6 (a container with ``--network none`` may have none)."""
    try:
        sock = _socket.socket(_socket.AF_INET6, _socket.SOCK_STREAM)
    except OSError:
        return None
    try:
        sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 0)
    except OSError:
        sock.close()
        return None
    return sock


def bind_listener(host: str | None, port: int) -> _socket.socket:
    """A listening TCP socket on ``host:port``, as Go's ``net.Listen("tcp", ...)`` gives one.

    ``host=None`` means all interfaces: one dual-stack socket where the system has IPv6 (so port 0
    gives one port for both families), else IPv4 only. A host name is resolved once (the first
    address ``getaddrinfo`` returns). ``SO_REUSEADDR`` is set, so a restart binds while the previous
    process' connections are in TIME_WAIT.

    Args:
        host: an IP address or host name (``parse_listen_address`` checked its syntax), or None.
        port: 0-65535; 0 = any free port (``getsockname()`` tells which).

    Raises:
        OSError: the address cannot be bound (EADDRINUSE, EADDRNOTAVAIL, EACCES), or
            ``_socket.gaierror`` (an OSError) when ``host`` does not resolve.
    """
    address: tuple[object, ...]
    if host is None:
        dual = _dual_stack()
        if dual is not None:
            sock, address = dual, ("", port)
        else:
            sock, address = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM), ("", port)
    else:
        # ASCII bytes: a str host would be encoded with the idna codec (encodings.idna,
        # stringprep, unicodedata); the syntax check admits ASCII names only.
        infos = _socket.getaddrinfo(host.encode("ascii"), port, 0, _socket.SOCK_STREAM, 0, _socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        sock = _socket.socket(family, _socket.SOCK_STREAM)
    try:
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def listen_problem(exc: OSError) -> str:
    """How a bind failure reads in a log line: the system's words (``Address already in use``,
    ``Name or service not known``), not Python's ``[Errno 98] ...`` form."""
    return exc.strerror or str(exc)
