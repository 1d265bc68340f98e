"""`config-reloader watch` given files and values that must be refused with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import childproc

from config_reloader.webconfig import WEB_CONFIG_LIMIT


def watch(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return childproc.run(
        [sys.executable, "-m", "config_reloader", "watch", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def refused(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    said = r.stdout + r.stderr
    assert r.returncode == 2, said
    lines = [line for line in said.splitlines() if line.strip()]
    assert len(lines) == 1, said  # one line, no traceback, no continuation line
    for needle in needles:
        assert needle in lines[0], said


def test_web_config_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "web.yml"
    os.mkfifo(fifo)
    # Before the fix the open blocked until a writer came: the 60 s timeout raised.
    refused(watch(f"--watched-dir={tmp_path}", f"--web-config-file={fifo}"), str(fifo), "a FIFO")


def test_web_config_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "web.yml"
    with big.open("wb") as f:
        f.truncate(1 << 30)  # sparse: costs no disk
    refused(
        watch(f"--watched-dir={tmp_path}", f"--web-config-file={big}", timeout=20),
        str(big),
        f"larger than {WEB_CONFIG_LIMIT} bytes",
    )


def test_web_config_invalid_yaml_is_one_line(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("\t{\n")
    r = watch(f"--watched-dir={tmp_path}", f"--web-config-file={web}")
    refused(r, str(web), "invalid YAML", "line 1")
    assert "<unicode string>" not in r.stdout + r.stderr


def test_web_config_certificate_fifo_is_refused_before_openssl(tmp_path: Path) -> None:
    fifo = tmp_path / "cert.pem"
    os.mkfifo(fifo)
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {fifo.name}\n  key_file: {fifo.name}\n")
    refused(
        watch(f"--watched-dir={tmp_path}", f"--web-config-file={web}"),
        str(web),
        "tls_server_config.cert_file",
        "a FIFO",
    )


def test_listen_host_that_does_not_resolve_names_the_flag(tmp_path: Path) -> None:
    # .invalid never resolves (RFC 6761); before the fix: "reloader stopped" with the bare errno.
    r = watch(f"--watched-dir={tmp_path}", "--listen-address=nohost.invalid:8080")
    said = r.stdout + r.stderr
    assert r.returncode == 1, said
    assert 'msg="cannot listen on --listen-address"' in said, said
    assert "listen_address=nohost.invalid:8080" in said, said
    assert "reloader stopped" not in said and "Traceback" not in said


def test_credentials_in_url_warning_names_each_url_masked(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yml"
    cfg.write_text("a: 1\n")
    r = watch(
        f"--config-file={cfg}",
        f"--config-envsubst-file={tmp_path / 'out.yml'}",
        "--watch-interval=0",
        "--reload-url=http://u:secret1@127.0.0.1:1/-/reload",
        "--reload-url=http://u:secret2@127.0.0.1:2/-/reload",
    )
    said = r.stdout + r.stderr
    assert r.returncode == 0, said
    warnings = [line for line in said.splitlines() if "credentials in a URL" in line]
    assert len(warnings) == 2, said
    assert "url=http://***@127.0.0.1:1/-/reload" in warnings[0], said
    assert "url=http://***@127.0.0.1:2/-/reload" in warnings[1], said
    assert "secret1" not in said and "secret2" not in said


def test_reload_command_with_explicit_http_method_is_refused(tmp_path: Path) -> None:
    # Before the fix the command silently won over the explicit --reload-method=http.
    refused(
        watch(f"--watched-dir={tmp_path}", "--reload-method=http", "--reload-command=true", timeout=20),
        "--reload-command and --reload-method=http exclude each other",
    )


def test_empty_reload_command_is_refused(tmp_path: Path) -> None:
    # Before the fix an empty command fell back to POSTing the default reload URL.
    refused(watch(f"--watched-dir={tmp_path}", "--reload-command=", timeout=20), "--reload-command is empty")


def _pem_pair(d: Path) -> tuple[Path, Path]:
    cert, key = d / "c.pem", d / "k.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"]
    childproc.run(
        [*request, "-days", "1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    return cert, key


def test_bad_certificate_and_key_are_named_not_pem_lib(tmp_path: Path) -> None:
    cert, key = _pem_pair(tmp_path)
    junk = tmp_path / "junk.pem"
    junk.write_text("not pem\n")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {junk.name}\n  key_file: {key.name}\n")
    r = watch(f"--watched-dir={tmp_path}", f"--web-config-file={web}")
    refused(r, f"tls_server_config.cert_file {junk}: not a PEM certificate")
    web.write_text(f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {cert.name}\n")
    r = watch(f"--watched-dir={tmp_path}", f"--web-config-file={web}")
    refused(r, f"tls_server_config.key_file {cert}: not a PEM private key")
    r = watch(
        f"--watched-dir={tmp_path}",
        "--reload-url=https://127.0.0.1:1/-/reload",
        f"--reload-tls-cert-file={cert}",
        f"--reload-tls-key-file={junk}",
    )
    refused(r, f"--reload-tls-key-file {junk}: not a PEM private key")
    for said in (r.stdout, r.stderr):
        assert "PEM lib" not in said and "_ssl.c" not in said
