"""Security of the shipped broker configuration, against a real Mosquitto running it."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import pytest

from schemas.models import MAX_PAYLOAD_BYTES
from tests.support.deploy import Client, SecureBroker, TlsFiles, connect, make_certs

pytestmark = pytest.mark.mosquitto
_ids = count()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        client.close()


def login(
    secure: SecureBroker, opened: list[Client], username: str, *, tls: bool = False
) -> Client:
    port = secure.tls_port if tls else secure.plain_port
    files = TlsFiles.for_client(secure.certs, username) if tls else None
    result = connect(
        port,
        f"{username}-{next(_ids)}",
        username=username,
        password=secure.passwords[username],
        tls=files,
    )
    assert result.client is not None, f"{username} could not connect: {result.reason}"
    opened.append(result.client)
    return result.client


def test_anonymous_connection_is_refused(secure: SecureBroker) -> None:
    result = connect(secure.plain_port, "anonymous-1")
    assert result.client is None
    assert "authori" in result.reason.lower()


def test_wrong_password_is_refused(secure: SecureBroker) -> None:
    result = connect(secure.plain_port, "gw-a-bad", username="gw-a", password="not-it")
    assert result.client is None
    assert result.reason != "Success"


def test_gateway_cannot_publish_on_another_gateways_topics(
    secure: SecureBroker, clients: list[Client]
) -> None:
    hub = login(secure, clients, "hub")
    gw_b = login(secure, clients, "gw-b")
    assert [rc.value for rc in hub.subscribe("hjem/v1/+/obs")] == [1]
    assert [rc.value for rc in hub.subscribe("hjem/v1/+/status")] == [1]
    assert [rc.value for rc in hub.subscribe("hjem/v1/hub/alerts/#")] == [1]
    assert [rc.value for rc in gw_b.subscribe("hjem/v1/gw-b/errors")] == [1]

    gw_a = login(secure, clients, "gw-a")
    for topic in (
        "hjem/v1/gw-b/obs",
        "hjem/v1/gw-b/status",
        "hjem/v1/gw-b/errors",
        "hjem/v1/hub/alerts/forged",
        "hjem/v1/gw-a/errors",  # only the hub writes rejections
    ):
        gw_a.publish(topic, b'{"forged": true}')
    # Controls: A's own topics do get through. The broker relays A's messages in order, so
    # when the controls arrive anything forged before them would already have arrived.
    gw_a.publish("hjem/v1/gw-a/obs", b"control-obs")
    gw_a.publish("hjem/v1/gw-a/status", b"control-status")
    hub.publish("hjem/v1/gw-b/errors", b"control-errors")

    seen = [hub.next_message(), hub.next_message()]
    assert [(m.topic, m.payload) for m in seen] == [
        ("hjem/v1/gw-a/obs", b"control-obs"),
        ("hjem/v1/gw-a/status", b"control-status"),
    ]
    got = gw_b.next_message()
    assert (got.topic, got.payload) == ("hjem/v1/gw-b/errors", b"control-errors")
    assert hub.drain() == []
    assert gw_b.drain() == []


def test_gateway_cannot_read_anyone_elses_data(secure: SecureBroker, clients: list[Client]) -> None:
    gw_a = login(secure, clients, "gw-a")
    # Mosquitto's acl_file grants every SUBSCRIBE and filters on delivery (the dynamic-security
    # plugin would refuse the SUBSCRIBE itself), so what counts is that nothing is delivered.
    for topic in (
        "hjem/v1/gw-b/obs",
        "hjem/v1/gw-b/status",
        "hjem/v1/gw-b/errors",
        "hjem/v1/+/obs",
        "hjem/v1/gw-a/obs",  # not even its own observations: publishers write, the hub reads
        "hjem/v1/hub/alerts/#",
        "#",
    ):
        gw_a.subscribe(topic)
    gw_b = login(secure, clients, "gw-b")
    hub = login(secure, clients, "hub")
    gw_b.publish("hjem/v1/gw-b/obs", b"b-data")
    gw_b.publish("hjem/v1/gw-b/status", b"b-status", retain=True)
    gw_a.publish("hjem/v1/gw-a/obs", b"a-data")
    hub.publish("hjem/v1/gw-b/errors", b"b-rejection")
    hub.publish("hjem/v1/hub/alerts/a1", b"alert", retain=True)
    hub.publish("hjem/v1/gw-a/errors", b"a-rejection")  # the control: A reads its own errors
    got = gw_a.next_message()
    assert (got.topic, got.payload) == ("hjem/v1/gw-a/errors", b"a-rejection")
    assert gw_a.drain() == []
    # a later subscriber gets no retained status or alert of others either
    late = login(secure, clients, "gw-a")
    late.subscribe("hjem/v1/#")
    hub.publish("hjem/v1/gw-a/errors", b"control-2")
    got = late.next_message()
    assert (got.topic, got.payload, got.retain) == ("hjem/v1/gw-a/errors", b"control-2", False)
    assert late.drain() == []


def test_vendor_cannot_subscribe_to_alerts(secure: SecureBroker, clients: list[Client]) -> None:
    hub = login(secure, clients, "hub")
    hub.publish("hjem/v1/hub/alerts/retained-1", b"retained alert", retain=True)
    vendor = login(secure, clients, "vendor-x")
    for topic in ("hjem/v1/hub/alerts/#", "hjem/v1/hub/alerts/retained-1", "hjem/v1/hub/#"):
        vendor.subscribe(topic)
    vendor.subscribe("hjem/v1/vendor-x/errors")
    hub.publish("hjem/v1/hub/alerts/live-1", b"live alert")
    hub.publish("hjem/v1/vendor-x/errors", b"control")
    got = vendor.next_message()
    assert (got.topic, got.payload) == ("hjem/v1/vendor-x/errors", b"control")
    assert vendor.drain() == []
    # the hub itself does read alerts (other hub processes follow them)
    follower = login(secure, clients, "hub")
    follower.subscribe("hjem/v1/hub/alerts/retained-1")
    got = follower.next_message()
    assert (got.topic, got.payload, got.retain) == (
        "hjem/v1/hub/alerts/retained-1",
        b"retained alert",
        True,
    )


def test_hub_reads_through_a_shared_subscription(
    secure: SecureBroker, clients: list[Client]
) -> None:
    hub = login(secure, clients, "hub")
    codes = hub.subscribe("$share/hjem-hub/hjem/v1/+/obs")
    assert [code.value for code in codes] == [1]
    login(secure, clients, "vendor-x").publish("hjem/v1/vendor-x/obs", b"vendor batch")
    got = hub.next_message()
    assert (got.topic, got.payload) == ("hjem/v1/vendor-x/obs", b"vendor batch")


def test_tls_with_the_generated_certificates_works(
    secure: SecureBroker, clients: list[Client]
) -> None:
    hub = login(secure, clients, "hub")
    hub.subscribe("hjem/v1/+/obs")
    gw_a = login(secure, clients, "gw-a", tls=True)
    gw_a.publish("hjem/v1/gw-a/obs", b"over tls")
    got = hub.next_message()
    assert (got.topic, got.payload) == ("hjem/v1/gw-a/obs", b"over tls")


def test_tls_without_a_client_certificate_is_refused(secure: SecureBroker) -> None:
    result = connect(
        secure.tls_port,
        "gw-a-nocert",
        username="gw-a",
        password=secure.passwords["gw-a"],
        tls=TlsFiles(secure.certs / "ca.crt"),
    )
    assert result.client is None, result.reason


def test_tls_certificate_from_another_ca_is_refused(
    secure: SecureBroker, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other-ca")
    make_certs(other, "gw-a")
    # a client certificate with the right CN, signed by another CA: the broker refuses it
    result = connect(
        secure.tls_port,
        "gw-a-foreign-cert",
        username="gw-a",
        password=secure.passwords["gw-a"],
        tls=TlsFiles(
            secure.certs / "ca.crt", other / "clients/gw-a.crt", other / "clients/gw-a.key"
        ),
    )
    assert result.client is None, result.reason
    # a client that trusts only the other CA refuses the broker's server certificate
    result = connect(
        secure.tls_port,
        "gw-a-foreign-ca",
        username="gw-a",
        password=secure.passwords["gw-a"],
        tls=TlsFiles(
            other / "ca.crt",
            secure.certs / "clients/gw-a.crt",
            secure.certs / "clients/gw-a.key",
        ),
    )
    assert result.client is None
    assert "certificate verify failed" in result.reason


def test_tls_client_certificate_still_needs_the_password(secure: SecureBroker) -> None:
    result = connect(
        secure.tls_port,
        "gw-a-cert-no-password",
        username="gw-a",
        password="wrong",
        tls=TlsFiles.for_client(secure.certs, "gw-a"),
    )
    assert result.client is None


def test_oversized_payload_is_dropped_by_the_broker(
    secure: SecureBroker, clients: list[Client]
) -> None:
    hub = login(secure, clients, "hub")
    hub.subscribe("hjem/v1/gw-a/obs")
    gw_a = login(secure, clients, "gw-a")
    # one byte over schemas.models.MAX_PAYLOAD_BYTES: no PUBACK, the broker drops the client
    gw_a.publish_nowait("hjem/v1/gw-a/obs", b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert gw_a.disconnected.wait(5.0)
    login(secure, clients, "gw-a").publish("hjem/v1/gw-a/obs", b"y" * MAX_PAYLOAD_BYTES)
    got = hub.next_message()
    assert got.payload == b"y" * MAX_PAYLOAD_BYTES
    assert hub.drain() == []
