"""Administration: ``hjem admin`` (:mod:`hub.admin.cli`, its arguments in
:mod:`hub.admin.args`), broker provisioning (:mod:`hub.admin.provision`), the append-only
audit log of administrative actions (:mod:`hub.admin.audit`) and ``hjem hub``: running the
hub (:mod:`hub.admin.hub_cli`) and its operator commands (:mod:`hub.admin.operator_cli`).
"""
