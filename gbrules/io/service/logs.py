"""Structured logs for ``gbrules serve --log-format json``: one JSON object a line.

Every logger (uvicorn's and gbrules') writes through ``python-json-logger``; uvicorn's access
log is replaced by the service's own line per request (``middleware.Observe``), which holds the
endpoint label instead of the raw path and query, the status, the duration, the client address
and the call's ids (service, hookInstance, card count): never patient data, never a token.
"""

from __future__ import annotations

from typing import Any

FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def log_config(json_logs: bool) -> dict[str, Any] | None:
    """A ``logging.config.dictConfig`` for uvicorn (``uvicorn.run(log_config=...)``), or None
    to keep uvicorn's own text logs."""
    if not json_logs:
        return None
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
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "gbrules": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }
