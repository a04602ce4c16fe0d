"""Administration: ``hjem admin`` (:mod:`hub.admin.cli`, its arguments in
:mod:`hub.admin.args`), broker provisioning (:mod:`hub.admin.provision`), the append-only
audit log of administrative actions (:mod:`hub.admin.audit`) and the operator commands of
``hjem hub`` (:mod:`hub.admin.operator_cli`).
"""
