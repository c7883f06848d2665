"""Optional features and the pip extra that installs each, for clear errors when one is missing.

gbrules' core (intake, rules, engine, rendering) needs no extra. The surfaces that talk to other
systems do, and without their extra they used to fail deep inside with "No module named
'fhir'", which says nothing about what to install. Each such feature calls ``require`` before
it needs its third-party modules, and the ImportError it raises names the extra and the pip
command (``pip install 'gbrules[fhir]'``), in the Python API as in the CLI.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

#: The modules each extra provides that gbrules imports (pyproject.toml lists the packages).
EXTRAS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "fhir": ("fhir.resources",),
        "service": ("fastapi", "jwt", "uvicorn", "prometheus_client", "limits", "python_multipart"),
        "audit": ("sqlalchemy",),
        "dask": ("distributed",),
        "parquet": ("pyarrow",),
        "monitor": ("matplotlib",),
        "prove": ("z3",),
        "scenarios": ("pytest_bdd", "gherkin"),
    }
)


class MissingExtraError(ImportError):
    """A feature was used without the optional extra that provides its dependencies."""

    def __init__(self, extra: str, feature: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the '{extra}' extra, which is not installed "
            f"(no module {module!r}): pip install 'gbrules[{extra}]'",
            name=module,
        )
        self.extra = extra
        self.feature = feature


def require(extra: str, feature: str) -> None:
    """Import the extra's modules now, or raise MissingExtraError naming the extra.

    ``feature`` says in words what needed it ("the CDS Hooks service"). Cheap after the first
    call: the modules are then in ``sys.modules``.
    """
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingExtraError(extra, feature, module) from exc
