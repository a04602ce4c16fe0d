"""The hub as a FHIR R4 server for other care actors (issue 18): consent, SMART Backend
Services clients and tokens, the ``/fhir`` API and its access log."""
