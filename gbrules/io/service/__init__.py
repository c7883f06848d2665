"""CDS Hooks 2.0 service (needs the ``service`` and ``fhir`` extras).

Both are checked on import, so a missing one is an ImportError naming the extra to install,
not a failure at the first request that carries FHIR data.
"""

from __future__ import annotations

from gbrules.io.extras import require

require("service", "the CDS Hooks service (gbrules.io.service)")
require("fhir", "the CDS Hooks service (gbrules.io.service), which reads FHIR prefetch,")

from gbrules.io.service.app import create_app  # noqa: E402
from gbrules.io.service.auth import AuthError, JWTAuth  # noqa: E402
from gbrules.io.service.config import ServiceConfig  # noqa: E402
from gbrules.io.service.hooks import SERVICES  # noqa: E402

__all__ = ["SERVICES", "AuthError", "JWTAuth", "ServiceConfig", "create_app"]
