"""CDS Hooks 2.0 service (needs the ``service`` and ``fhir`` extras)."""

from __future__ import annotations

from gbrules.io.service.app import create_app
from gbrules.io.service.auth import AuthError, JWTAuth
from gbrules.io.service.config import ServiceConfig
from gbrules.io.service.hooks import SERVICES

__all__ = ["SERVICES", "AuthError", "JWTAuth", "ServiceConfig", "create_app"]
