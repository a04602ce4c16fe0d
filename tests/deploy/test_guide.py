"""docs/deploy.md sections 1-6, run as written on this machine (conventions: the guide's
"How this guide is tested" and :mod:`tests.support.guide`): certificates, the shipped broker
configuration started as Debian's unit does, the hub and a gateway (virtual radio) from their
installed systemd units, provisioning with ``hjem admin``, and a reading on the dashboard."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hjem.mosquitto import free_port
from tests.support.guide import REPO, GuideShell, apply_toml_edit, blocks, rebase

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow, pytest.mark.timeout(600)]

GUIDE = REPO / "docs" / "deploy.md"
SECTIONS = ("1.", "2.", "3.", "4.", "5.", "6.")
BASE_SYSTEM = ("etc/systemd/system", "var/lib", "run", "usr/share/doc")
"""Directories every Debian system has."""
CUFF = "ble-00091f000004"  # deploy/edge.example.toml's blood-pressure cuff, as the hub names it


@dataclass
class Installed:
    root: Path
    shell: GuideShell
    http_port: int
    tls_port: int
    hosts: dict[str, str]

    def printed(self, after: str, label: str) -> str:
        """The value printed as ``label: VALUE`` after the line containing ``after``."""
        text = "\n".join(self.shell.transcript)
        tail = text[text.index(after) :]
        found = re.search(rf"^{label}: (\S+)$", tail, re.MULTILINE)
        assert found, f"no {label!r} after {after!r}"
        return found.group(1)

    @property
    def database(self) -> Path:
        return self.root / "var/lib/hjem/hub.sqlite3"


def _environment(root: Path, plain: int, tls: int, http: int) -> dict[str, str]:
    return {
        "GUIDE_PLAIN_PORT": str(plain),
        "GUIDE_TLS_PORT": str(tls),
        "HJEM_ADMIN_PASSWORD_FILE": f"{root}/etc/mosquitto/hjem.passwd",
        "HJEM_ADMIN_BROKER_PID_FILE": f"{root}/run/mosquitto/mosquitto.pid",
        "HJEM_HUB_DATABASE": f"{root}/var/lib/hjem/hub.sqlite3",
        "HJEM_HUB_ALERTS__RULES_FILE": f"{root}/etc/hjem/alerts.toml",
        "HJEM_HUB_STORE__KIND": "sqlite",
        "HJEM_HUB_MQTT__URL": f"mqtt://127.0.0.1:{plain}",
        "HJEM_HUB_HTTP__PORT": str(http),
        "HJEM_EDGE_RADIO": "virtual",
        "HJEM_EDGE_OUTBOX__PATH": f"{root}/var/lib/hjem-edge/outbox.sqlite",
        "HJEM_EDGE_MQTT__BATCH_LINGER_S": "0.2",
        "HJEM_EDGE_VIRTUAL__MEASUREMENT_INTERVAL_S": "2",
    }


def _seen(database: Path, device: str) -> bool:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        row = conn.execute("SELECT first_seen_us FROM device WHERE id = ?", (device,)).fetchone()
    return row is not None and row[0] is not None


def _wait_until_seen(database: Path, device: str) -> None:
    """As an installer does: look at `hjem admin list` until the gateway reported the device."""
    deadline = time.monotonic() + 60
    while not (database.exists() and _seen(database, device)):
        assert time.monotonic() < deadline, f"{device} never reported by the gateway"
        time.sleep(0.5)


def _run_guide(installed: Installed) -> None:
    for block in blocks(GUIDE.read_text(encoding="utf-8")):
        if not block.section.startswith(SECTIONS) or not block.runs:
            continue
        text = rebase(block.text, installed.root, installed.hosts)
        if block.lang == "sh":
            if "assign-device" in text:
                _wait_until_seen(installed.database, CUFF)
            installed.shell.run(text, label=f"{GUIDE.name}:{block.line}")
        elif block.lang == "toml" and block.marker.startswith("edit "):
            target = Path(rebase(block.marker.removeprefix("edit ").strip(), installed.root, {}))
            target.write_text(apply_toml_edit(target.read_text("utf-8"), text), "utf-8")


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
        return [int(child) for child in text.split()]
    return []


def _stop_services(root: Path) -> None:
    pids = sorted((root / "guide" / "pids").glob("*")) if (root / "guide").exists() else []
    for pid_file in pids:
        if pid_file.name.startswith("zz-"):  # a background block: its commands first
            for child in _children(int(pid_file.read_text(encoding="ascii"))):
                with contextlib.suppress(OSError):
                    os.kill(child, signal.SIGTERM)
    for pid_file in reversed(pids):  # background blocks, hjem-edge, hjem-hub, then mosquitto
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text(encoding="ascii")), signal.SIGTERM)
    deadline = time.monotonic() + 20
    for pid_file in pids:
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text(encoding="ascii"))
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    root = Path(tempfile.mkdtemp(prefix="hjem-guide-", dir="/tmp"))
    root.chmod(0o755)  # the broker drops to "mosquitto", which must reach its files
    for system_dir in BASE_SYSTEM:
        (root / system_dir).mkdir(parents=True)
    checkout = root / "checkout"
    checkout.mkdir()
    for name in ("deploy", "docs", "schemas"):
        (checkout / name).symlink_to(REPO / name)
    plain, tls, http = free_port(), free_port(), free_port()
    hosts = {
        "broker.example.org:8883": f"127.0.0.1:{tls}",
        "https://hub.example.org": f"http://127.0.0.1:{http}",
        "-h hub.example.org -p 8883": f"-h 127.0.0.1 -p {tls}",
    }
    shell = GuideShell(root, checkout, _environment(root, plain, tls, http))
    try:
        shell.start()
        ready = Installed(root, shell, http, tls, hosts)
        _run_guide(ready)
        yield ready
    finally:
        shell.close()
        _stop_services(root)
        if os.environ.get("HJEM_KEEP_GUIDE_ROOT") is None:
            shutil.rmtree(root, ignore_errors=True)


def _resident_row(html: str, name: str) -> str:
    for row in html.split("<tr"):
        if name in row:
            return row
    return ""


def test_installer_path_as_written_shows_a_reading(installed: Installed) -> None:
    password = installed.printed("user anna (care_staff) created", "password")
    with httpx.Client(base_url=f"http://127.0.0.1:{installed.http_port}") as client:
        page = client.get("/sign-in")
        csrf = re.search(r'name="csrf-token" content="([0-9a-f]*)"', page.text)
        assert csrf, page.text
        signed_in = client.post(
            "/sign-in",
            data={"username": "anna", "password": password, "csrf_token": csrf.group(1)},
        )
        assert signed_in.status_code == 303, signed_in.text
        deadline = time.monotonic() + 60
        row = ""
        while 'class="vital-value' not in row:
            assert time.monotonic() < deadline, f"no reading for Ingrid Hansen:\n{row}"
            time.sleep(1.0)
            row = _resident_row(client.get("/residents").text, "Ingrid Hansen")
    assert "mm[Hg]" in row or "mmHg" in row
    # the broker really dropped to its own user and reads what the guide made for it
    conf = (installed.root / "guide/mosquitto.conf").read_text(encoding="utf-8")
    assert "user mosquitto" in conf


VENDOR_GUIDE = REPO / "schemas" / "README.md"
BP_ID = "carefirm-bp77-20261128T071500"  # schemas/examples/valid/blood-pressure.json


def _stored(database: Path, observation_id: str) -> bool:
    """The SQLite store has the observation (in whichever version of its table)."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'observation%'"
            )
        ]
        for table in tables:
            with contextlib.suppress(sqlite3.OperationalError):
                query = f"SELECT 1 FROM {table} WHERE id = ?"
                if conn.execute(query, (observation_id,)).fetchone():
                    return True
    return False


def _handed_to_the_vendor(installed: Installed) -> None:
    """What the operator gives carefirm (schemas/README.md section 1): files and secrets."""
    certs = installed.root / "etc/mosquitto/certs"
    for name in ("ca.crt", "clients/carefirm.crt", "clients/carefirm.key"):
        shutil.copy(certs / name, installed.shell.cwd / Path(name).name)
    password = installed.printed("vendor carefirm registered", "MQTT password")
    token = installed.printed("vendor carefirm registered", "HTTP bearer token")
    installed.shell.run(f"export PASSWORD='{password}' TOKEN='{token}'", label="vendor secrets")


EARLIER_IDS = (
    "carefirm-fd12-000044-fall-20261128T073058",
    "carefirm-ds3-000910-opening-20261128T074000",
)


def _wait_stored(database: Path, ids: tuple[str, ...]) -> None:
    deadline = time.monotonic() + 30
    while not all(_stored(database, i) for i in ids):
        assert time.monotonic() < deadline, f"{ids} never reached the store"
        time.sleep(0.2)


def test_vendor_guide_as_written_against_the_shipped_broker(installed: Installed) -> None:
    _handed_to_the_vendor(installed)
    outputs: list[str] = []
    for block in blocks(VENDOR_GUIDE.read_text(encoding="utf-8")):
        if block.lang != "sh" or not block.section.startswith("6.") or not block.runs:
            continue
        text = rebase(block.text, installed.root, installed.hosts)
        label = f"{VENDOR_GUIDE.name}:{block.line}"
        if "curl" in text:
            deadline = time.monotonic() + 30
            while not _stored(installed.database, BP_ID):
                assert time.monotonic() < deadline, "the MQTT reading never reached the store"
                time.sleep(0.2)
            reply = json.loads(installed.shell.run(text, label=label))
            # the same batch as over MQTT: accepted again, stored once
            assert (reply["accepted"], reply["stored"], reply["duplicates"]) == (2, 0, 2), reply
        else:
            if "mosquitto_rr" in text:  # the hub's word on earlier readings has gone out
                _wait_stored(installed.database, EARLIER_IDS)
            outputs.append(installed.shell.run(text, label=label))
    printed = [  # what mosquitto_rr printed: the hub's answers on carefirm's errors topic
        json.loads(o.strip().splitlines()[-1]) for o in outputs if o.strip().endswith("}")
    ]
    rejection = next(p for p in printed if "errors" in p)
    assert rejection["publisher"] == "carefirm"
    assert "decimal string" in rejection["errors"][0]["reason"]
    notice = next(p for p in printed if "notices" in p)  # a new device, an unknown code
    assert notice["message_id"] == "carefirm-20261128-0005", notice
    kinds = {n["kind"]: n for n in notice["notices"]}
    assert kinds["unknown-code"]["code"] == "urn:iso:std:iso:11073:10101|188999"
    assert kinds["unassigned-device"]["device_id"] == "carefirm-gx1-000007"
    for observation_id in (
        "carefirm-fd12-000044-fall-20261128T073058",
        "carefirm-ds3-000910-opening-20261128T074000",
    ):
        assert _stored(installed.database, observation_id), observation_id
