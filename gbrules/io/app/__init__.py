"""The clinician's drafting workbench: a web app from an intake to a decided care plan.

``create_workbench(engine, audit=..., settings=...)`` returns an ASGI app (Starlette) to mount at
``/app`` beside the CDS Hooks service (same process, engine and audit trail)::

    app.mount("/app", create_workbench(engine, audit=audit))

``python -m gbrules.io.app`` runs it alone (``standalone_app``). Pages are server-rendered
(jinja2, ``templates/``) with a small script (``static/app.js``, no build step); the form is
generated from the Intake JSON Schema (``form``), the draft and the documents come from
``draft``, sessions and CSRF from ``sessions``, headers from ``security``, the SMART App Launch
from ``smart``. docs/APP.md has the details. Needs the ``service`` and ``fhir`` extras.
"""

from __future__ import annotations

from gbrules.io.extras import require

require("service", "the clinician's workbench (gbrules.io.app)")
require("fhir", "the clinician's workbench (gbrules.io.app), which exports FHIR,")

from gbrules.io.app.routes import create_workbench, standalone_app  # noqa: E402
from gbrules.io.app.settings import SmartSettings, WorkbenchSettings  # noqa: E402
from gbrules.io.app.workbench import Drafting  # noqa: E402

__all__ = ["Drafting", "SmartSettings", "WorkbenchSettings", "create_workbench", "standalone_app"]
