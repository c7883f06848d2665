"""CDS Hooks 2.0 service (needs the ``service`` and ``fhir`` extras)."""

from __future__ import annotations

from gbrules.io.service.app import SERVICES, create_app
from gbrules.io.service.auth import AuthError, JWTAuth

__all__ = ["SERVICES", "AuthError", "JWTAuth", "create_app"]
