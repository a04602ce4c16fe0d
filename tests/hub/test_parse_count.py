"""A message the fast path declines is parsed at most twice: by the fast path, then once by the
models for the error wording (issue 16; it was four times).

Every JSON parse that the hub's judging can make is counted: the fast path's msgspec decoders
(the message, and the duplicate-key check), pydantic's ``from_json`` and ``model_validate_json``
and the standard library's ``json.loads`` (which names a repeated key). Only a message that
repeats a key is read more often: each side reads it a second time to find the repeat.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pydantic_core
import pytest

from hub.ingest import fastpath, fastpath_keys
from hub.ingest.commit import Inbound, Judgement, judge
from schemas.models import Batch, Observation
from tests.schemas.factories import NOW, batch, observation

TOPIC = "hjem/v1/gw-1/obs"


class _Counting:
    """A msgspec decoder that counts its calls."""

    def __init__(self, decoder: Any, name: str, counts: Counter[str]) -> None:
        self._decoder, self._name, self._counts = decoder, name, counts

    def decode(self, payload: bytes) -> Any:
        self._counts[self._name] += 1
        return self._decoder.decode(payload)


def _counted(func: Callable[..., Any], name: str, counts: Counter[str]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        return func(*args, **kwargs)

    return call


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    monkeypatch.setattr(fastpath, "_DECODER", _Counting(fastpath._DECODER, "msgspec", counts))
    keys = _Counting(fastpath_keys._DECODER, "msgspec keys", counts)
    monkeypatch.setattr(fastpath_keys, "_DECODER", keys)
    monkeypatch.setattr(
        pydantic_core, "from_json", _counted(pydantic_core.from_json, "from_json", counts)
    )
    monkeypatch.setattr(json, "loads", _counted(json.loads, "json.loads", counts))
    for model in (Batch, Observation):
        counted = _counted(model.model_validate_json, f"{model.__name__}.json", counts)
        monkeypatch.setattr(model, "model_validate_json", counted)
    return counts


def _judge(document: dict[str, Any] | bytes) -> Judgement:
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    return judge(Inbound(TOPIC, payload, NOW), now=NOW, resolve=lambda *_: None)


DECLINED = {
    "a bad value": batch(1) | {"observations": [observation(0, value="36,6")]},
    "one of two bad": batch(2) | {"observations": [observation(0), observation(1, unit="")]},
    "another publisher": batch(1, publisher="gw-2"),
    "a time without offset": batch(1) | {"sent": "2026-11-28T08:00:00"},
    "a time finer than microseconds (declined unread)": batch(1)
    | {"observations": [observation(0, effective="2026-11-28T08:00:00.1234567Z")]},
    "not an object": [batch(1)],
    "no observations": batch(1) | {"observations": []},
}


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_a_declined_message_is_parsed_twice(parses: Counter[str], name: str) -> None:
    document = DECLINED[name]
    judged = _judge(document)  # type: ignore[arg-type]
    assert judged.rejection is not None or judged.dead_letter is not None or judged.items
    assert parses["from_json"] == 1, name  # the models' one parse, for the wording
    assert parses.total() == 2 or (parses.total() == 1 and "finer" in name), parses


def test_not_json_is_parsed_twice(parses: Counter[str]) -> None:
    judged = _judge(b'{"message_id": "m-1", ')
    assert judged.dead_letter is not None
    assert parses == Counter({"msgspec": 1, "from_json": 1})


def test_a_valid_message_is_parsed_by_the_fast_path_alone(parses: Counter[str]) -> None:
    assert len(_judge(batch(3)).items) == 3
    assert parses == Counter({"msgspec": 1, "msgspec keys": 1})


def test_a_repeated_key_is_read_once_more_on_each_side_to_name_it(parses: Counter[str]) -> None:
    text = json.dumps(batch(1)).replace('"value": "97"', '"value": "97", "value": "98"')
    judged = _judge(text.encode())
    assert judged.rejection is not None
    assert "occurs more than once" in judged.rejection.errors[0].reason
    assert parses == Counter({"msgspec": 1, "msgspec keys": 1, "from_json": 1, "json.loads": 1})
