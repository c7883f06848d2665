"""CORS in a real browser: headless Chromium loads a page from an origin on 127.0.0.1 whose
script calls the service with ``fetch()`` (discovery, then patient-view with a JWT bearer token
and a JSON body, so the browser sends a preflight first) and writes what it got into the page;
``--dump-dom`` prints the page once the script is done.

From an allowed origin both calls succeed; from any other origin the browser blocks both, and
the patient-view request is never even sent (its preflight fails).

Needs the Debian package ``chromium`` (installed by ``.ci/run``): skipped locally without it,
failed in CI (``CI=true``).
"""

from __future__ import annotations

import contextlib
import functools
import html
import http.server
import json
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gbrules.io.service import JWTAuth, ServiceConfig, create_app
from tests.browser import CHROMIUM, CHROMIUM_ARGS, IN_CI
from tests.conftest import AS_OF, free_port
from tests.test_service import hook_request

ISS = "https://ehr.example.org"

PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
const service = %(service)s;
async function call(path, init) {
  try {
    const r = await fetch(service + path, init);
    const body = await r.json();
    return {status: r.status, cards: (body.cards || []).map(c => c.indicator),
            services: (body.services || []).map(s => s.id)};
  } catch (e) {
    return {blocked: e.name};
  }
}
(async () => {
  const out = {};
  out.discovery = await call("/cds-services");
  out.patientView = await call("/cds-services/patient-view", {
    method: "POST",
    headers: {"Content-Type": "application/json", "Authorization": "Bearer " + %(token)s},
    body: JSON.stringify(%(request)s),
  });
  document.getElementById("out").textContent = JSON.stringify(out);
})();
</script></body></html>
"""


def _chromium() -> str:
    if not Path(CHROMIUM).exists():
        msg = "chromium not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI: {msg}")
        pytest.skip(msg)
    return CHROMIUM


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", alg="RS384", use="sig")
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return key, path


def _token(key: Any, aud: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm="RS384", headers={"kid": "k1"})


@contextlib.contextmanager
def static_site(folder: Path, page: str, port: int = 0) -> Iterator[str]:
    """``page`` served as index.html by a static web server on 127.0.0.1 (its own origin)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(page, encoding="utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _run_page(url: str, profile: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [
            _chromium(),
            "--headless",
            *CHROMIUM_ARGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",  # let the page's fetches finish before the dump
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = re.search(r'<pre id="out">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stdout[-2000:]
    text = html.unescape(found.group(1))
    assert text != "pending", "the page's script did not finish"
    result: dict[str, Any] = json.loads(text)
    return result


def test_browser_calls_only_from_an_allowed_origin(
    serve: Callable[..., str], engine: Any, keys: tuple[Any, Path], tmp_path: Path
) -> None:
    _chromium()
    key, jwks = keys
    allowed_port = free_port()
    allowed = f"http://127.0.0.1:{allowed_port}"
    port = free_port()
    service = f"http://127.0.0.1:{port}"
    config = ServiceConfig(cors_origins=(allowed,))
    auth = JWTAuth(jwks, issuers=[ISS], audience=service)
    serve(create_app(engine, auth=auth, today=lambda: AS_OF, config=config), port)

    def page() -> str:
        return PAGE % {
            "service": json.dumps(service),
            "token": json.dumps(_token(key, service)),
            "request": json.dumps(hook_request("crisis")),
        }

    with static_site(tmp_path / "allowed", page(), allowed_port) as url:
        good = _run_page(url, tmp_path / "profile-a")
    assert good["discovery"]["status"] == 200
    assert good["discovery"]["services"] == ["patient-view", "order-select"]
    assert good["patientView"]["status"] == 200
    assert good["patientView"]["cards"][0] == "critical"

    # Any other origin (here: another port on the same host) is blocked by the browser.
    with static_site(tmp_path / "other", page()) as url:
        bad = _run_page(url, tmp_path / "profile-b")
    assert bad == {
        "discovery": {"blocked": "TypeError"},
        "patientView": {"blocked": "TypeError"},
    }
    # The blocked patient-view was never sent: one POST answered in all, the allowed one.
    metrics = httpx.get(f"{service}/metrics").text

    def answered(method: str) -> list[tuple[str, str]]:
        return sorted(
            re.findall(
                r'gbrules_http_requests_total\{endpoint="/cds-services/patient-view",'
                rf'method="{method}",status="(\d+)"\}} (\S+)',
                metrics,
            )
        )

    assert answered("POST") == [("200", "1.0")]
    assert answered("OPTIONS") == [("200", "1.0"), ("400", "1.0")]
