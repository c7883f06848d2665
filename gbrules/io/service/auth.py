"""CDS Hooks JWT bearer verification (CDS Hooks 2.0, "Trusting CDS Clients").

The client signs a short-lived JWT: ``iss`` must be on the allow-list, the signature must verify
against a public key in the configured JWKS file (chosen by ``kid``), ``aud`` must be this
service's URL (the configured base URL, or the base URL plus the endpoint path), and ``exp``,
``iat`` and ``jti`` must be present. A ``jti`` seen before inside the replay window is refused.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]


class AuthError(Exception):
    """The bearer token is missing or not acceptable. The message is safe to return."""


class JWTAuth:
    def __init__(
        self,
        jwks: dict[str, Any] | str | Path,
        *,
        issuers: Iterable[str],
        audience: str | Iterable[str],
        replay_window_s: int = 300,
        leeway_s: int = 30,
    ) -> None:
        data: dict[str, Any] = (
            jwks if isinstance(jwks, dict) else json.loads(Path(jwks).read_text(encoding="utf-8"))
        )
        self.keys = jwt.PyJWKSet.from_dict(data)
        self.issuers = frozenset(issuers)
        if not self.issuers:
            raise ValueError("at least one trusted issuer is required")
        self.audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        self.replay_window_s = replay_window_s
        self.leeway_s = leeway_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def _key(self, token: str) -> Any:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {exc}") from None
        kid = header.get("kid")
        candidates = [k for k in self.keys.keys if kid is None or k.key_id == kid]
        if not candidates:
            raise AuthError("unknown signing key (kid)")
        if header.get("alg") not in ALGORITHMS:
            raise AuthError("signing algorithm not allowed")
        return candidates[0].key

    def verify(self, authorization: str | None, path: str) -> dict[str, Any]:
        """Check an ``Authorization`` header for a request to ``path``; return the claims."""
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError("missing bearer token")
        token = authorization.removeprefix("Bearer ").strip()
        key = self._key(token)
        accepted = list(self.audiences) + [a.rstrip("/") + path for a in self.audiences]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=accepted,
                leeway=self.leeway_s,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"token rejected: {exc}") from None
        if claims["iss"] not in self.issuers:
            raise AuthError("issuer not trusted")
        self._check_replay(str(claims["jti"]), float(claims["exp"]))
        return claims

    def _check_replay(self, jti: str, exp: float) -> None:
        now = time.time()
        with self._lock:
            for old in [j for j, until in self._seen.items() if until < now]:
                del self._seen[old]
            if jti in self._seen:
                raise AuthError("token replayed (jti already used)")
            self._seen[jti] = max(exp + self.leeway_s, now + self.replay_window_s)
