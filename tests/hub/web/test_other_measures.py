"""Readings the dashboard does not show as a vital are listed, not dropped (issue 21).

Messages go through the hub's ingest (judging, binding, SQLite) and the resident's page is
read through the whole app stack (httpx over ASGI, signed in as care staff).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from hub.ingest.commit import Inbound, Processed
from hub.ingest.notices import notices_of
from schemas.codes import LOINC_SYSTEM, MDC_SYSTEM
from tests.hub.web.conftest import SignedIn
from tests.support.browser import T0, FastWorld

pytestmark = pytest.mark.asyncio

AT = T0 - timedelta(minutes=5)


def _obs(oid: str, codes: list[tuple[str, str]], value: str, unit: str, device: str) -> Any:
    return {
        "id": oid,
        "source": {"publisher": "gw-a", "device": {"id": device}},
        "code": [{"system": s, "code": c} for s, c in codes],
        "effective": AT.isoformat(),
        "value": value,
        "unit": unit,
    }


def ingest(world: FastWorld, *observations: Any) -> Processed:
    message = {
        "schema": "hjem/1",
        "message_id": f"m-{observations[0]['id']}",
        "publisher": "gw-a",
        "sent": T0.isoformat(),
        "observations": list(observations),
    }
    inbound = Inbound("hjem/v1/gw-a/obs", json.dumps(message).encode(), T0)
    return world.hub.ingestor.process([inbound])


def _tile(page: str, vital: str) -> str:
    found = re.search(rf'<div class="tile[^"]*" data-vital="{vital}">.*?</div></div>', page, re.S)
    assert found, f"no {vital} tile on the page"
    return found.group(0)


async def test_a_body_temperature_coded_loinc_first_is_stored_and_shown(
    world: FastWorld, signed_in: SignedIn
) -> None:
    processed = ingest(
        world, _obs("t-loinc", [(LOINC_SYSTEM, "8310-5")], "38.9", "Cel", "dev-thermo")
    )
    assert len(processed.stored) == 1
    assert processed.judgements[0].rejection is None
    assert "8310-5" in world.hub.store.latest("r-anna")
    client, _ = await signed_in("sara")
    page = (await client.get("/residents/r-anna")).text
    assert "38,9" in _tile(page, "body_temperature")
    assert re.search(r'<svg[^>]*aria-label="Temperatur"', page)
    assert 'id="other-measures"' not in page  # shown as the vital, not as another measure


async def test_an_unknown_code_is_accepted_with_a_notice_and_listed(
    world: FastWorld, signed_in: SignedIn
) -> None:
    processed = ingest(
        world,
        _obs("u-1", [(MDC_SYSTEM, "999999")], "12.5", "mg", "dev-thermo"),
        _obs("p-1", [(LOINC_SYSTEM, "8867-4")], "71", "/min", "dev-oxi"),
    )
    assert len(processed.stored) == 2
    judgement = processed.judgements[0]
    assert judgement.rejection is None
    notices = notices_of(judgement)
    assert [(n.kind, n.code, n.path) for n in notices] == [
        ("unknown-code", f"{MDC_SYSTEM}|999999", "$.observations[0].code")
    ]
    assert "999999" in notices[0].reason
    client, _ = await signed_in("sara")
    page = (await client.get("/residents/r-anna")).text
    table = re.search(r'<div[^>]*id="other-measures".*?</table>', page, re.S)
    assert table, "no table of other measures"
    rows = dict(re.findall(r'<tr data-code="([^"]+)">(.*?)</tr>', table.group(0), re.S))
    assert set(rows) == {"999999", "8867-4"}
    assert "Ukendt kode" in rows["999999"]
    assert "12,5 mg" in rows["999999"]
    assert "dev-thermo" in rows["999999"]
    assert "71 /min" in rows["8867-4"]  # any pulse rate (LOINC): named, not dropped
    assert "Puls (blodtryksmåler)" in rows["8867-4"]
    assert "Andre målinger" in table.group(0)


async def test_an_unassigned_device_gets_a_notice_and_known_codes_none(
    world: FastWorld,
) -> None:
    processed = ingest(
        world,
        _obs("n-1", [(MDC_SYSTEM, "150364")], "36.9", "Cel", "dev-new"),
        _obs("n-2", [(MDC_SYSTEM, "150364")], "37.0", "Cel", "dev-new"),
        _obs("n-3", [(MDC_SYSTEM, "150364")], "37.1", "Cel", "dev-thermo"),
    )
    assert len(processed.stored) == 3
    notices = notices_of(processed.judgements[0])
    assert [(n.kind, n.device_id, n.path) for n in notices] == [
        ("unassigned-device", "dev-new", "$.observations[0].source.device.id")
    ]
