"""HttpClientConfig: which hosts are verified, which settings go together, how secret files read."""

from __future__ import annotations

import ast
import ipaddress
import os
import sys
from pathlib import Path

import childproc
import pytest
from nonblocking import outcome_without_blocking

from config_reloader.errors import ReloadError
from config_reloader.reload.client import (
    CREDENTIAL_FILE_LIMIT,
    HttpClientConfig,
    is_loopback_host,
    read_secret_file,
)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:7f00:1", True),  # the same, in hex
        ("0:0:0:0:0:0:0:1", True),
        ("[::1%lo]", True),  # a zone id is not part of the address
        ("127.255.255.254", True),
        ("::ffff:10.0.0.1", False),
        ("::2", False),
        ("::", False),
        ("0.0.0.0", False),
        ("128.0.0.1", False),
        ("127.1", False),  # not a dotted quad: a name, not resolved
        ("127.000.0.1", False),  # leading zeros are not an address (ipaddress refuses them too)
        ("127.0.0.1.nip.io", False),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("prom.localhost", True),
        ("10.0.0.1", False),
        ("prometheus.monitoring.svc", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.9.8.7", "10.1.2.3", "::1", "::", "::2", "::ffff:127.0.0.2", "::ffff:7f00:2",
     "::ffff:8.8.8.8", "fe80::1", "2001:db8::1", "0::0:1", "1.2.3", "01.2.3.4", "::1::", "256.0.0.1"],
)  # fmt: skip
def test_loopback_addresses_as_ipaddress_reads_them(host: str) -> None:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        expected = False
    else:
        mapped = getattr(addr, "ipv4_mapped", None)
        expected = (mapped or addr).is_loopback
    assert is_loopback_host(host) is expected


def test_default_verifies_every_host_but_loopback() -> None:
    c = HttpClientConfig()
    assert not c.verifies("127.0.0.1")
    assert c.verifies("prometheus.monitoring.svc")
    assert HttpClientConfig(tls_ca_file="/ca.pem").verifies("127.0.0.1")  # a CA file means "verify"
    assert HttpClientConfig(tls_insecure_skip_verify=False).verifies("localhost")
    assert not HttpClientConfig(tls_insecure_skip_verify=True).verifies("prometheus.example")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"tls_cert_file": "/c"}, "--reload-tls-key-file"),
        ({"tls_key_file": "/k"}, "--reload-tls-cert-file"),
        ({"basic_auth_username": "u"}, "--reload-basic-auth-password-file"),
        ({"basic_auth_password_file": "/p"}, "--reload-basic-auth-username"),
        (
            {"basic_auth_username": "u", "basic_auth_password_file": "/p", "bearer_token_file": "/t"},
            "exclude",
        ),
        ({"basic_auth_username": "a:b", "basic_auth_password_file": "/p"}, "':'"),
        ({"tls_insecure_skip_verify": True, "tls_ca_file": "/ca"}, "contradict"),
    ],
)
def test_settings_that_do_not_go_together(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HttpClientConfig(**kw)  # type: ignore[arg-type]


def test_empty_strings_mean_unset() -> None:
    assert HttpClientConfig(tls_ca_file="", basic_auth_username="") == HttpClientConfig()


def test_secret_file_errors_name_flag_and_path_never_content(tmp_path: Path) -> None:
    flag = "--reload-bearer-token-file"
    good = tmp_path / "t"
    good.write_text("  tok\n")
    assert read_secret_file(str(good), flag) == "tok"
    cases = {
        "missing": (tmp_path / "nope", "cannot read"),
        "dir": (tmp_path, "not a regular file"),
        "empty": (tmp_path / "empty", "is empty"),
        "big": (tmp_path / "big", "larger than"),
        "binary": (tmp_path / "bin", "not UTF-8"),
    }
    (tmp_path / "empty").write_text("\n\n")
    (tmp_path / "big").write_bytes(b"x" * (CREDENTIAL_FILE_LIMIT + 1))
    (tmp_path / "bin").write_bytes(b"\xff\xfesecret")
    for path, match in cases.values():
        with pytest.raises(ValueError, match=match) as ei:
            read_secret_file(str(path), flag)
        assert flag in str(ei.value) and str(path) in str(ei.value)
        assert "secret" not in str(ei.value).replace(str(tmp_path), "")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        read_secret_file(str(fifo), flag)  # must not block waiting for a writer


def test_auth_headers_read_at_each_call(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("one")
    c = HttpClientConfig(basic_auth_username="u", basic_auth_password_file=str(pw))
    first = c.auth_headers()
    pw.write_text("two")
    assert c.auth_headers() != first
    pw.unlink()
    with pytest.raises(ReloadError, match="cannot read"):
        c.auth_headers()
    with pytest.raises(ValueError, match="cannot read"):
        c.check()


def test_tls_files_checked_only_when_tls_is_used(tmp_path: Path) -> None:
    c = HttpClientConfig(tls_ca_file=str(tmp_path / "missing-ca.pem"))
    c.check()  # the credential files only: ssl need not even be imported
    from config_reloader.reload.tls import check_files

    with pytest.raises(ValueError, match="--reload-tls-ca-file"):
        check_files(c)


def _check_in_thread(config: HttpClientConfig) -> BaseException | None:
    """check_files(config), the start-up check: what it raised (fails if it blocks)."""
    from config_reloader.reload.tls import check_files

    return outcome_without_blocking(lambda: check_files(config), str(config))


@pytest.mark.parametrize("flag", ["--reload-tls-ca-file", "--reload-tls-cert-file", "--reload-tls-key-file"])
def test_tls_files_that_are_fifos_devices_or_huge_are_refused_without_blocking(
    tmp_path: Path, flag: str
) -> None:
    from config_reloader.pemload import PEM_FILE_LIMIT

    ca, cert, key = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    for p in (ca, cert, key):
        p.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    fifo, huge = tmp_path / "fifo", tmp_path / "huge"
    os.mkfifo(fifo)
    with open(huge, "wb") as f:
        f.truncate(PEM_FILE_LIMIT + 1)  # sparse
    field = {"--reload-tls-ca-file": "tls_ca_file", "--reload-tls-cert-file": "tls_cert_file"}.get(
        flag, "tls_key_file"
    )
    for bad, why in (
        (fifo, "a FIFO, not a regular file"),
        ("/dev/zero", "a character device, not a regular file"),
        (huge, f"larger than {PEM_FILE_LIMIT} bytes"),
    ):
        files = {
            "tls_ca_file": str(ca),
            "tls_cert_file": str(cert),
            "tls_key_file": str(key),
            field: str(bad),
        }
        exc = _check_in_thread(HttpClientConfig(**files))
        assert isinstance(exc, ValueError)
        assert str(exc) == f"{flag} {bad}: {why}"


def test_secret_file_swapped_for_a_fifo_never_blocks(tmp_path: Path) -> None:
    """A FIFO renamed over the file between a path check and the open blocked that open until a
    writer came; the descriptor is checked instead. Runs in a child so a hang is a failure."""
    script = f"""
import os, threading, time
from config_reloader.reload.client import read_secret_file
d = {str(tmp_path)!r}
path, reg, fifo = d + "/token", d + "/reg", d + "/fifo"
stop = threading.Event()
def swap():
    while not stop.is_set():
        with open(reg, "w") as f:
            f.write("tok")
        os.rename(reg, path)
        os.mkfifo(fifo)
        os.rename(fifo, path)
threading.Thread(target=swap, daemon=True).start()
results = set()
deadline = time.monotonic() + 3
while time.monotonic() < deadline:
    try:
        results.add(read_secret_file(path, "--reload-bearer-token-file"))
    except ValueError as exc:
        results.add(str(exc).split(": ", 1)[1])
stop.set()
print(sorted(results))
"""
    r = childproc.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 0, r.stderr
    # Only the two honest outcomes (and a rename caught mid-way): never a hang.
    assert set(ast.literal_eval(r.stdout)) <= {
        "tok",
        "a FIFO, not a regular file",
        "cannot read: No such file or directory",
    }
