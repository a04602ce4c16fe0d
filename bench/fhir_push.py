"""Benchmark: the FHIR push exporter, observations/s from stored to confirmed by the recipient.

One resident with a consent for the recipient; ``HJEM_BENCH_PUSH`` readings (default 100:
temperature, heart rate and SpO2 of one device), queued in the outbox and drained as
transaction Bundles of 8 entries (Medplum's limit for conditional creates in a transaction),
each step as in the hub: outbox (SQLite, synchronous=full), consent asked per resident and
Bundle, audit row per delivery.

Rows: the exporter against an in-process recipient that answers at once (the exporter's own
cost; with Bundles of 8 and of 100 entries), and against Medplum's FHIR server
(tests/support/fhir_server: the FHIR router on its in-memory repository, every resource
validated) on 127.0.0.1. Peer: the same Bundles posted
straight to a fresh Medplum with httpx (no outbox, consent or audit), the recipient's floor.
Medplum's in-memory repository answers a conditional create by scanning every stored resource
of the type, so its time per Bundle grows with what it holds: compare rows of one size only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from hub.db import open_db
from hub.fhir.consent import Consents
from hub.fhir.push.bundle import push_bundle, take
from hub.fhir.push.exporter import PushExporter
from hub.fhir.push.settings import FhirPushSettings, PushRecipient
from hub.fhir.push.transport import HttpAnswer, HttpxTransport, MemoryTransport, PushTransport
from hub.registry.core import Registry
from hub.store.base import StoredObservation
from schemas.builders import make_observation
from schemas.models import DeviceInfo, Source

__all__ = ["push_throughput"]

DAY0 = datetime(2026, 10, 1, tzinfo=UTC)
RESIDENT = "r-00000000000000c1"
KINDS = (("body_temperature", "36.8"), ("heart_rate", "72"), ("spo2", "97"))
ENTRIES = 8


def _readings(count: int) -> list[StoredObservation]:
    source = Source(publisher="vendor-p", device=DeviceInfo(id="dev-p"))
    return [
        StoredObservation(
            make_observation(
                KINDS[i % 3][0],
                source=source,
                effective=DAY0 + timedelta(minutes=5 * i),
                value=KINDS[i % 3][1],
            ),
            "vendor-p",
            RESIDENT,
            DAY0,
        )
        for i in range(count)
    ]


def _exporter(
    folder: Path, base: str, token: str, transport: PushTransport, entries: int = ENTRIES
) -> PushExporter:
    conn = open_db(folder / "hub.sqlite3")
    registry = Registry(conn)
    for org in ("kommune", "hospital"):
        registry.add_organisation(org, org)
    registry.add_team("team", "kommune", "team")
    registry.add_home("home", team_id="team")
    registry.add_resident("Bench", "home", resident_id=RESIDENT)
    Consents(conn).add(RESIDENT, "hospital", "TREAT", DAY0, None, actor="bench")
    os.environ["HJEM_BENCH_PUSH_TOKEN"] = token
    recipient = PushRecipient.model_validate(
        {
            "name": "hospital",
            "organisation": "hospital",
            "base_url": base,
            "auth": {"kind": "bearer", "token_env": "HJEM_BENCH_PUSH_TOKEN"},
            "bundle_entries": entries,
        }
    )
    return PushExporter(conn, FhirPushSettings(recipients=(recipient,)), transport)


def _answer_at_once(url: str, body: bytes, headers: Mapping[str, str]) -> HttpAnswer:
    del url, headers
    entries = [{"response": {"status": "201"}} for _ in json.loads(body)["entry"]]
    reply = {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
    return HttpAnswer(200, json.dumps(reply).encode())


async def _drain(exporter: PushExporter, items: list[StoredObservation]) -> int:
    try:
        exporter.enqueue(items)
        await exporter.drain()
        return exporter.outbox.state("hospital").sent
    finally:
        await exporter.transport.aclose()


def _direct(base: str, token: str, items: list[StoredObservation]) -> int:
    picks = [(s.observation, RESIDENT) for s in items]
    sent = 0
    with httpx.Client(timeout=120) as http:
        while picks:
            count = take(picks, ENTRIES)
            answer = http.post(
                base,
                content=push_bundle(picks[:count]),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/fhir+json",
                },
            )
            answer.raise_for_status()
            sent, picks = sent + count, picks[count:]
    return sent


def _row(name: str, count: int, work: Callable[[], int]) -> None:
    started = time.perf_counter()
    got = work()
    took = time.perf_counter() - started
    assert got == count, f"{name}: {got} of {count}"
    print(f"{name:<46} {count / took:>10,.1f} obs/s  ({count:,} obs in {took:.2f} s)")


def _against_medplum(folder: Path, count: int, items: list[StoredObservation]) -> None:
    from tests.support.medplum import start_medplum

    server = start_medplum(folder / "push")
    try:
        exporter = _exporter(folder / "push", server.base, server.token, HttpxTransport())
        _row(
            "hjem push -> Medplum FHIR server", count, lambda: asyncio.run(_drain(exporter, items))
        )
        assert server.stats()["refused"] == 0, "Medplum refused a Bundle"
    finally:
        server.stop()
    peer = start_medplum(folder / "peer")
    try:
        _row(
            "peer: same Bundles posted to Medplum directly",
            count,
            lambda: _direct(peer.base, peer.token, items),
        )
        assert peer.stats()["refused"] == 0, "Medplum refused a Bundle"
    finally:
        peer.stop()


def push_throughput() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    count = int(os.environ.get("HJEM_BENCH_PUSH", "100"))
    items = _readings(count)
    print(f"one resident, {count:,} observations; Bundles of {ENTRIES} entries unless a row says")
    with tempfile.TemporaryDirectory(prefix="hjem-bench-push-") as tmp:
        root = Path(tmp)
        for entries in (ENTRIES, 100):
            folder = root / f"memory-{entries}"
            folder.mkdir()
            transport = MemoryTransport(_answer_at_once)
            memory = _exporter(folder, "http://127.0.0.1:9/fhir", "t", transport, entries)
            _row(
                f"hjem push -> in-process recipient, {entries} entries",
                count,
                lambda memory=memory: asyncio.run(_drain(memory, items)),  # type: ignore[misc]
            )
        _against_medplum(root, count, items)
