"""The virtual BLE radio: bumble's in-process link, virtual devices, and a bleak backend.

``radio = "virtual"`` in the gateway configuration runs the same agent code against virtual
devices that advertise real BTHome, Ruuvi and Xiaomi payloads and serve real GATT health
services, with values from a synthetic resident (:mod:`sim.resident`).
"""

__all__: list[str] = []
