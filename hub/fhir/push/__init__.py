"""Push: new observations to FHIR servers other care actors run (issue 18).

``settings`` (the ``[fhir_push]`` section), ``outbox`` (the persisted queue and each
recipient's state), ``bundle`` (the transaction Bundle, the project's PHD mapping),
``transport`` (the HTTP seam), ``auth`` (bearer token or SMART Backend Services),
``exporter`` (queueing behind consent, sending with backoff, auditing), ``metrics``.
"""
