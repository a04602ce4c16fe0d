"""The shared foundation: what every part of Hjem (schemas, edge, hub, the ``hjem`` command)
may import, and which imports none of them.

- :mod:`foundation.version` — the installed version;
- :mod:`foundation.errors` — :class:`~foundation.errors.CliError`, the one-line user error;
- :mod:`foundation.clock` — the one clock type (a callable) and a manual clock for tests;
- :mod:`foundation.mqtturl` — MQTT broker URLs;
- :mod:`foundation.logs`, :mod:`foundation.sd_notify` — logging and systemd notification;
- :mod:`foundation.process` — child processes that die with their parent;
- :mod:`foundation.sqlite` — the one SQLite transaction helper.
"""
