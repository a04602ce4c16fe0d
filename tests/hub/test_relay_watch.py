"""The relay's liveness rules (pure, clock passed in)."""

from __future__ import annotations

from hub.mqtt.liveness import Progress


def test_alive_is_sent_once_per_interval() -> None:
    progress = Progress(5.0, stuck_after_s=30.0)
    sent = [
        t
        for t in range(21)
        if progress.tick(t, count=t, connected=True, waiting_for_hub=False) == "alive"
    ]
    assert sent == [0, 5, 10, 15, 20]


def test_a_network_loop_that_stands_still_while_connected_is_stuck() -> None:
    progress = Progress(5.0, stuck_after_s=30.0)
    verdicts = [progress.tick(t, count=7, connected=True, waiting_for_hub=False) for t in (0, 29)]
    assert "stuck" not in verdicts
    assert progress.tick(30, count=7, connected=True, waiting_for_hub=False) == "stuck"


def test_standing_still_is_fine_while_disconnected_or_waiting_for_the_hub() -> None:
    progress = Progress(5.0, stuck_after_s=30.0)
    for t in range(0, 200, 5):
        connected = t % 2 == 0
        verdict = progress.tick(t, count=7, connected=connected, waiting_for_hub=connected)
        assert verdict != "stuck", t
    # The last reset was at 195 (disconnected): 30 s from there without progress is stuck.
    assert progress.tick(224, count=7, connected=True, waiting_for_hub=False) != "stuck"
    assert progress.tick(225, count=7, connected=True, waiting_for_hub=False) == "stuck"
    assert progress.tick(226, count=8, connected=True, waiting_for_hub=False) != "stuck"
