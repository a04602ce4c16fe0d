"""Ingest: judging messages (:mod:`hub.ingest.commit` with the models, the fast path in
:mod:`hub.ingest.fastpath`, the relay's verdicts in :mod:`hub.ingest.verdicts`), and
committing them exactly once (:class:`hub.ingest.commit.Ingestor`); the vendors' HTTPS
endpoint (:mod:`hub.ingest.http`).
"""
