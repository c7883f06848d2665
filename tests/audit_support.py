"""Support for the audit tests: a throwaway PostgreSQL cluster, scripted sessions, workers.

Not a test module (no ``test_`` prefix): the worker below runs in spawned processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from glob import glob
from pathlib import Path

import gbrules
from gbrules.core.result import Evaluation
from gbrules.io.audit import AuditLog, CardRecord

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"test-secret-0123456789-abcdef"
INDICATOR = {"critical": "critical", "urgent": "warning", "routine": "info"}


def example_evaluation(name: str) -> Evaluation:
    return gbrules.evaluate(json.loads((ROOT / "examples" / f"{name}.json").read_text()))


def cards_for(ev: Evaluation) -> list[CardRecord]:
    """One card per suggestion, as the CDS Hooks service makes them."""
    return [
        CardRecord(str(uuid.uuid4()), s.code, s.rule_id, INDICATOR[s.priority])  # type: ignore[arg-type]
        for s in ev.suggestions
    ]


def worker(url: str, requests: int, fail_path: str) -> None:
    """A separate process writing requests and feedback (each feedback posted twice)."""
    try:
        ev = example_evaluation("case1")
        base = datetime(2030, 1, 1, tzinfo=UTC)
        with AuditLog(url, secret=SECRET) as audit:
            for i in range(requests):
                cards = cards_for(ev)
                audit.record_request("patient-view", str(uuid.uuid4()), "gbrules", ev, cards)
                for j, card in enumerate(cards):
                    at = base + timedelta(seconds=i * 100 + j)
                    outcome = "accepted" if j % 2 == 0 else "overridden"
                    reasons = [] if outcome == "accepted" else ["not-indicated"]
                    for _ in range(2):
                        audit.record_feedback(card.uuid, outcome, [], reasons, at)
    except BaseException as exc:
        Path(fail_path).write_text(f"{type(exc).__name__}: {exc}")
        raise


# -- a throwaway PostgreSQL cluster ---------------------------------------------------------


def pg_bindir() -> Path | None:
    def version(path: str) -> tuple[int, ...]:
        m = re.search(r"/postgresql/([\d.]+)/", path)
        return tuple(int(x) for x in m.group(1).split(".")) if m else (0,)

    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bindir: Path
    base: Path
    port: int
    password: str
    run_as: str | None
    user: str = "gbrules"

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_db(self) -> str:
        name = f"audit_{uuid.uuid4().hex[:12]}"
        self.admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_db(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, check=False, timeout=120
        )

    @classmethod
    def start(cls, bindir: Path) -> PgServer:
        run_as = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            for name in ("gbrules-pg", "postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    pwd.getpwnam(name)
                    run_as = name
                    break
            if run_as is None:
                raise RuntimeError("running as root and no unprivileged user to run postgres")
        base = Path(tempfile.mkdtemp(prefix="gbrules-pg-"))  # /tmp: traversable by run_as
        password = secrets.token_hex(16)
        (base / "pw").write_text(password + "\n")
        if run_as:
            entry = pwd.getpwnam(run_as)
            for p in (base, base / "pw"):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        server = cls(bindir, base, 0, password, run_as)
        init = server._run(
            str(bindir / "initdb"),
            "-D",
            str(base / "data"),
            "-U",
            server.user,
            "--auth=scram-sha-256",
            f"--pwfile={base / 'pw'}",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr}")
        for _attempt in range(3):
            server.port = free_port()
            opts = (
                f"-p {server.port} -k {base} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c max_connections=200"
            )
            started = server._run(
                str(bindir / "pg_ctl"),
                "-D",
                str(base / "data"),
                "-l",
                str(base / "log"),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            )
            if started.returncode == 0:
                return server
            time.sleep(0.5)
        log = (base / "log").read_text() if (base / "log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{log}")

    def stop(self) -> None:
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.base / "data"), "-m", "fast", "-w", "stop"
        )
        shutil.rmtree(self.base, ignore_errors=True)
