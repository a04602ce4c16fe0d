"""deploy/certs/make-certs.sh: a CA, a server certificate and client certificates."""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.deploy import MAKE_CERTS, make_certs


def openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=True)
    return done.stdout


def test_certificates_chain_and_name_what_they_should(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            "sh",
            str(MAKE_CERTS),
            "-d",
            str(tmp_path),
            "-H",
            "broker.example.org",
            "-H",
            "10.1.2.3",
            "gw-01",
            "acme-cloud",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "new CA" in done.stdout
    san = openssl("x509", "-in", str(tmp_path / "server.crt"), "-noout", "-ext", "subjectAltName")
    for name in (
        "IP Address:127.0.0.1",
        "DNS:localhost",
        "DNS:broker.example.org",
        "IP Address:10.1.2.3",
    ):
        assert name in san
    for client in ("gw-01", "acme-cloud"):
        cert = str(tmp_path / "clients" / f"{client}.crt")
        assert f"CN = {client}" in openssl("x509", "-in", cert, "-noout", "-subject")
        assert "TLS Web Client Authentication" in openssl(
            "x509", "-in", cert, "-noout", "-ext", "extendedKeyUsage"
        )
        openssl("verify", "-CAfile", str(tmp_path / "ca.crt"), cert)
    openssl("verify", "-CAfile", str(tmp_path / "ca.crt"), str(tmp_path / "server.crt"))
    for key in (tmp_path / "ca.key", tmp_path / "server.key", tmp_path / "clients/gw-01.key"):
        assert key.stat().st_mode & 0o077 == 0, key


def test_rerun_is_idempotent_and_keeps_the_ca(tmp_path: Path) -> None:
    make_certs(tmp_path, "gw-01")
    before = {p.name: p.read_bytes() for p in tmp_path.rglob("*.crt")}
    out = make_certs(tmp_path, "gw-01", "gw-02")
    assert "reusing the CA" in out
    after = {p.name: p.read_bytes() for p in tmp_path.rglob("*.crt")}
    assert {k: after[k] for k in before} == before
    assert "gw-02.crt" in after
    openssl("verify", "-CAfile", str(tmp_path / "ca.crt"), str(tmp_path / "clients/gw-02.crt"))


def test_ca_is_replaced_only_when_forced(tmp_path: Path) -> None:
    make_certs(tmp_path, "gw-01")
    ca = (tmp_path / "ca.crt").read_bytes()
    make_certs(tmp_path)
    assert (tmp_path / "ca.crt").read_bytes() == ca
    out = make_certs(tmp_path, "gw-01", force=True)
    assert "replacing the CA" in out
    assert (tmp_path / "ca.crt").read_bytes() != ca
    # everything was re-issued under the new CA
    for cert in ("server.crt", "clients/gw-01.crt"):
        openssl("verify", "-CAfile", str(tmp_path / "ca.crt"), str(tmp_path / cert))


def test_bad_client_id_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        ["sh", str(MAKE_CERTS), "-d", str(tmp_path), "-H", "localhost", "../evil"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "client id '../evil'" in done.stderr
    assert not list((tmp_path / "clients").iterdir())


def run_make_certs(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(MAKE_CERTS), "-d", str(directory), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_adding_clients_never_touches_the_server_certificate(tmp_path: Path) -> None:
    first = run_make_certs(tmp_path, "-H", "broker.example.org", "-H", "192.0.2.10")
    assert first.returncode == 0, first.stderr
    server = (tmp_path / "server.crt").read_bytes()
    key = (tmp_path / "server.key").read_bytes()
    added = run_make_certs(tmp_path, "gw-0001", "acme-cloud")  # as docs/deploy.md section 2
    assert added.returncode == 0, added.stderr
    assert (tmp_path / "server.crt").read_bytes() == server
    assert (tmp_path / "server.key").read_bytes() == key
    san = openssl("x509", "-in", str(tmp_path / "server.crt"), "-noout", "-ext", "subjectAltName")
    assert "DNS:broker.example.org" in san
    assert "IP Address:192.0.2.10" in san
    # naming other hosts re-issues it, and says so
    changed = run_make_certs(tmp_path, "-H", "mqtt.example.org")
    assert changed.returncode == 0, changed.stderr
    assert "re-issuing it; restart the broker" in changed.stderr
    assert (tmp_path / "server.crt").read_bytes() != server


def test_the_first_run_needs_the_host_names(tmp_path: Path) -> None:
    done = run_make_certs(tmp_path / "certs", "gw-0001")
    assert done.returncode == 2
    assert "name the hosts" in done.stderr
    assert "-H" in done.stderr
    assert not (tmp_path / "certs").exists()


def test_a_failing_chgrp_stops_the_script(tmp_path: Path) -> None:
    done = run_make_certs(tmp_path, "-H", "localhost", "-g", "no-such-group-hjem")
    assert done.returncode == 1
    assert "chgrp no-such-group-hjem" in done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="chgrp to the broker's group needs root")
def test_the_broker_user_reads_what_it_needs(tmp_path: Path) -> None:
    try:
        grp.getgrnam("mosquitto")
    except KeyError:
        pytest.skip("no mosquitto group (apt install mosquitto)")
    root = Path(tempfile.mkdtemp(prefix="hjem-certs-", dir="/tmp"))
    try:
        root.chmod(0o755)
        certs = root / "certs"
        done = run_make_certs(certs, "-g", "mosquitto", "-H", "localhost", "gw-0001")
        assert done.returncode == 0, done.stderr
        for name in ("ca.crt", "server.crt", "server.key"):
            read = subprocess.run(
                ["runuser", "-u", "mosquitto", "--", "cat", str(certs / name)],
                capture_output=True,
                check=False,
            )
            assert read.returncode == 0, (name, read.stderr)
        for secret in ("ca.key", "clients/gw-0001.key"):
            read = subprocess.run(
                ["runuser", "-u", "mosquitto", "--", "cat", str(certs / secret)],
                capture_output=True,
                check=False,
            )
            assert read.returncode != 0, secret
        assert stat.S_IMODE(certs.stat().st_mode) == 0o750
    finally:
        shutil.rmtree(root, ignore_errors=True)
