"""Structured logs for ``gbrules serve --log-format json``: one JSON object a line.

Every logger (uvicorn's and gbrules') writes through ``python-json-logger``; uvicorn's access
log is replaced by the service's own line per request (``middleware.Observe``), which holds the
endpoint label instead of the raw path and query, the status, the duration, the client address
and the call's ids (service, hookInstance, card count): never patient data, never a token.
"""

from __future__ import annotations

import copy
from typing import Any

#: ``process``: which worker of ``gbrules serve --workers N`` wrote the line.
FIELDS = "%(levelname)s %(name)s %(process)d %(message)s"
#: httpx logs each request's URL at INFO, and a FHIR search URL holds the patient id.
QUIET_HTTPX: dict[str, Any] = {"level": "WARNING"}


def log_config(json_logs: bool) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn (``uvicorn.run(log_config=...)``). Text:
    uvicorn's own, with the ``gbrules`` loggers added (the start-up warnings show with their
    level). JSON: every logger through one JSON handler, uvicorn's access log off."""
    if not json_logs:
        from uvicorn.config import LOGGING_CONFIG

        config = copy.deepcopy(LOGGING_CONFIG)
        gbrules = {"handlers": ["default"], "level": "INFO", "propagate": False}
        config["loggers"]["gbrules"] = gbrules
        config["loggers"]["httpx"] = config["loggers"]["httpcore"] = QUIET_HTTPX
        return config
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": FIELDS,
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",  # ISO 8601, UTC
            }
        },
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "gbrules": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "httpx": QUIET_HTTPX,
            "httpcore": QUIET_HTTPX,
        },
    }
