"""What the hub's FHIR server says about itself: the CapabilityStatement (``/fhir/metadata``)
and the SMART configuration (``/.well-known/smart-configuration``). Both list exactly what
:mod:`hub.fhir.api` serves; tests compare them with the routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.fhir.resources import instant
from hub.fhir.tokens import SIGNING_ALGORITHMS

__all__ = ["TOKEN_PATH", "capability_statement", "smart_configuration"]

TOKEN_PATH = "/fhir/auth/token"  # noqa: S105 - a path, not a secret
SCOPES = [f"system/{t}.{p}" for t in ("Observation", "Patient", "Device") for p in ("rs", "read")]
_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
_SEARCH_OBSERVATION = [
    ("patient", "reference", "The resident (Patient/r-...); a consent must be in force"),
    ("code", "token", "system|code of the reading, or any code the codes table gives it"),
    ("date", "date", "Effective time; prefixes eq, ge, gt, le, lt"),
    ("category", "token", "vital-signs, phd (PhdObservationCategories)"),
    ("_lastUpdated", "date", "When the hub received the reading; prefixes as date"),
    ("_count", "number", "Page size, 1-1000 (default 100); next pages by a cursor link"),
]


def _param(name: str, kind: str, doc: str) -> dict[str, str]:
    return {"name": name, "type": kind, "documentation": doc}


def _resources() -> list[dict[str, Any]]:
    return [
        {
            "type": "Observation",
            "profile": "http://hl7.org/fhir/StructureDefinition/Observation",
            "supportedProfile": [
                "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdNumericObservation",
                "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCompoundNumericObservation",
            ],
            "interaction": [{"code": "search-type"}],
            "searchInclude": ["Observation:device"],
            "searchParam": [_param(*p) for p in _SEARCH_OBSERVATION],
        },
        {
            "type": "Patient",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [_param("_id", "token", "Resident id (r-...)")],
        },
        {
            "type": "Device",
            "supportedProfile": ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdDevice"],
            "interaction": [{"code": "read"}],
        },
    ]


def capability_statement(origin: str, now: datetime, version: str) -> dict[str, Any]:
    """R4 CapabilityStatement of ``{origin}/fhir``."""
    token = f"{origin}{TOKEN_PATH}"
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(now),
        "kind": "instance",
        "software": {"name": "Hjem hub", "version": version},
        "implementation": {"description": "Hjem hub FHIR API", "url": f"{origin}/fhir"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Read-only. Only residents with a consent in force for the client's"
                    " organisation and purpose are visible; every request is logged."
                ),
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "extension": [
                        {"url": _OAUTH_URIS, "extension": [{"url": "token", "valueUri": token}]}
                    ],
                },
                "resource": _resources(),
            }
        ],
    }


def smart_configuration(origin: str) -> dict[str, Any]:
    """SMART App Launch 2 discovery document (backend services only)."""
    return {
        "token_endpoint": f"{origin}{TOKEN_PATH}",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "scopes_supported": SCOPES,
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    }
