"""The Hjem hub: MQTT and HTTP ingest, registry, storage, alerts, dashboard (docs/hub.md)."""
