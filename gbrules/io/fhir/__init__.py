"""FHIR R4 integration: Bundle -> Intake (``intake_from_fhir``), Evaluation -> CarePlan.

Reading FHIR needs the ``fhir`` extra (``pip install 'gbrules[fhir]'``): fhir.resources' R4B
models, which read R4 for every resource used here. Without it, ``intake_from_fhir`` raises an
ImportError that says so; writing a CarePlan needs no extra.
"""

from __future__ import annotations

from gbrules.io.fhir.careplan import careplan_from_evaluation, fhir_request
from gbrules.io.fhir.intake import MappingNote, intake_from_fhir, intake_from_resources

__all__ = [
    "MappingNote",
    "careplan_from_evaluation",
    "fhir_request",
    "intake_from_fhir",
    "intake_from_resources",
]
