"""The registry: organisations, teams, homes, residents, devices and their assignments
(:mod:`hub.registry.core`), publishers' gateway state (:mod:`hub.registry.gateways`), the
device -> resident resolver (:mod:`hub.registry.resolver`) and the read model that alerts and
the dashboard share (:mod:`hub.registry.read_model`).
"""
