"""Fixtures of the FHIR push tests: Medplum's FHIR server (tests/support/medplum.py)."""

from tests.support.medplum import medplum  # noqa: F401 - fixture
