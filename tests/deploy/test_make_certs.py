"""deploy/certs/make-certs.sh: a CA, a server certificate and client certificates."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
        ["sh", str(MAKE_CERTS), "-d", str(tmp_path), "../evil"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "client id '../evil'" in done.stderr
    assert not list((tmp_path / "clients").iterdir())
