"""The hub's MQTT transport: the connection (:mod:`hub.mqtt.connection`), the relay child
process that runs paho (:mod:`hub.mqtt.relay`), the frames between them
(:mod:`hub.mqtt.frames`) and the relay's liveness watch (:mod:`hub.mqtt.liveness`).

The transport knows topics, payload bytes, acknowledgements and flow control; it imports
nothing of the hub's domain (ingest, registry, store, alerts). The relay's optional judge
runs the function named in its configuration.
"""
