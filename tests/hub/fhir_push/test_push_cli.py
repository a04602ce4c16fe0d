"""``hjem admin fhir-push-status`` and ``fhir-push-retry``: the operator sees what waits and
what the recipient refused (with its answer), and queues refused rows again once the recipient
fixed what it refused; both audited, both limited to the organisation the operator acts for."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from foundation.clock import ManualClock
from hjem.cli import main as hjem
from hub.admin.audit import admin_actions
from hub.config import load_settings
from hub.db import Connection
from hub.fhir.consent import Consents
from hub.fhir.push.exporter import PushExporter
from hub.fhir.push.transport import MemoryTransport
from hub.fhir.resources import instant
from hub.registry.core import Registry
from tests.hub.fhir_push.helpers import (
    ANNA,
    DEVICES,
    HOSPITAL,
    T0,
    MemoryFhir,
    setup_registry,
    stored,
)
from tests.support.hub_db import HubDatabases

DOC = Path(__file__).resolve().parents[3] / "docs" / "fhir-push.md"


@dataclass
class Stand:
    conn: Connection
    config: Path
    fhir: MemoryFhir
    exporter: PushExporter
    refused: str
    """The observation the recipient refused (parked)."""

    def admin(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        code = hjem(["admin", *args, "--config", str(self.config)])
        out, err = capsys.readouterr()
        return code, out, err

    def actions(self, organisation: str) -> list[str]:
        return [a.action for a in admin_actions(self.conn, frozenset({organisation}))]


@pytest.fixture
def stand(tmp_path: Path, hub_dbs: HubDatabases) -> Iterator[Stand]:
    """Anna's second reading parked (the recipient refused it), the fourth queued while the
    recipient answers 503 (failing since T0); kommune-b has nothing queued."""
    token = tmp_path / "token"
    token.write_text("secret\n", encoding="utf-8")
    config = hub_dbs.write_toml(
        f'[[fhir_push.recipients]]\nname = "hospital"\norganisation = "{HOSPITAL}"\n'
        f'base_url = "http://127.0.0.1:9/fhir"\n'
        f'auth = {{ kind = "bearer", token_file = "{token}" }}\n'
    )
    conn = hub_dbs.open()
    setup_registry(Registry(conn)).add_organisation("kommune-b", "Kommune B")
    clock = ManualClock(T0)
    Consents(conn, clock).add(ANNA, HOSPITAL, "TREAT", T0, None, actor="cli:t")
    items = [stored(ANNA, DEVICES[ANNA], i) for i in range(4)]
    fhir = MemoryFhir(refuse={items[1].id})
    settings = load_settings(config).fhir_push
    exporter = PushExporter(conn, settings, MemoryTransport(fhir), clock=clock)
    exporter.enqueue(items[:3])
    asyncio.run(exporter.drain())
    fhir.status = 503
    exporter.enqueue(items[3:])
    asyncio.run(exporter.drain())
    yield Stand(conn, config, fhir, exporter, items[1].id)
    conn.close()


def test_status_shows_the_queue_the_parked_rows_and_the_failure(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = stand.admin(capsys, "fhir-push-status")
    assert code == 0
    head, parked = out.splitlines()
    assert head.startswith(f"hospital -> {HOSPITAL} at http://127.0.0.1:9/fhir")
    assert "queued 1, parked 1, failing since" in head
    assert f"failing since {instant(T0)} (failed attempts: 1; next try" in head
    assert "503 error refused by the test" in head
    assert f"last success {instant(T0)}" in head
    fields = parked.split("\t")
    assert fields[1:4] == [f"observation {stand.refused}", f"resident {ANNA}", "attempts 1"]
    assert fields[4] == "400 error refused by the test"
    [shown] = re.findall(r"```text\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert out == shown  # docs/fhir-push.md shows this very output
    # audited, filed under the recipient's and the residents' organisations
    assert "fhir_push_status" in stand.actions(HOSPITAL)
    assert "fhir_push_status" in stand.actions("kommune-a")


def test_status_for_an_organisation_shows_only_what_concerns_it(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = stand.admin(capsys, "fhir-push-status", "--organisation", "kommune-a")
    assert code == 0
    assert "(rows of kommune-a's residents): queued 1, parked 1" in out
    assert stand.refused in out
    code, out, _ = stand.admin(capsys, "fhir-push-status", "--organisation", "kommune-b")
    assert code == 0
    assert stand.refused not in out
    assert "hospital" not in out
    assert "no FHIR push recipient to show" in out
    code, _, err = stand.admin(capsys, "fhir-push-status", "--organisation", "nowhere")
    assert code != 0
    assert "organisation 'nowhere' does not exist" in err


def test_retry_queues_the_parked_rows_again_and_they_go(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    stand.fhir.status, stand.fhir.refuse = 200, set()  # the recipient fixed things
    code, out, _ = stand.admin(capsys, "fhir-push-retry", "hospital", "--parked")
    assert code == 0
    assert (
        out.strip()
        == "hospital: tried again at the exporter's next look; 1 parked rows queued again"
    )
    state = stand.exporter.outbox.state("hospital")
    assert (state.queued, state.parked_rows, state.next_attempt) == (2, 0, None)
    asyncio.run(stand.exporter.drain())
    assert stand.refused in {o["identifier"][0]["value"] for o in stand.fhir.observations()}
    state = stand.exporter.outbox.state("hospital")
    assert (state.queued, state.parked_rows, state.consecutive_failures) == (0, 0, 0)
    [entry] = [
        a for a in admin_actions(stand.conn, frozenset({"kommune-a"}))
        if a.action == "fhir_push_retry"
    ]  # fmt: skip
    assert entry.detail["requeued"] == [stand.refused]
    assert entry.actor.startswith("cli:")


def test_retry_without_parked_only_ends_the_backoff(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stand.exporter.outbox.state("hospital").next_attempt is not None
    code, out, _ = stand.admin(capsys, "fhir-push-retry", "hospital")
    assert code == 0
    assert "parked" not in out
    state = stand.exporter.outbox.state("hospital")
    assert (state.queued, state.parked_rows, state.next_attempt) == (1, 1, None)
    assert "fhir_push_retry" in stand.actions(HOSPITAL)


def test_retry_is_refused_for_an_unknown_recipient_or_another_organisation(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = stand.admin(capsys, "fhir-push-retry", "clinic", "--parked")
    assert code != 0
    assert "no FHIR push recipient 'clinic'" in err
    assert "known: hospital" in err
    code, _, err = stand.admin(
        capsys, "fhir-push-retry", "hospital", "--parked", "--organisation", "kommune-b"
    )
    assert code != 0
    assert "holds no observation of kommune-b's residents" in err
    assert stand.exporter.outbox.state("hospital").parked_rows == 1
    assert "fhir_push_retry" not in stand.actions("kommune-b")
    assert "fhir_push_retry" not in stand.actions(HOSPITAL)
