"""Ed25519 keys for signing releases, and the keyring a site trusts.

A release is signed by whoever built it and approved by named reviewers, each with their own
key. Ed25519 (via ``cryptography``, the standard Python binding to OpenSSL) gives short keys and
signatures that are deterministic, so the same bundle signed twice is byte-identical.

A *key id* is the first 16 hex digits of the SHA-256 of the raw public key: short enough to
print, long enough that two reviewers' keys do not collide by chance.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Literal

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Role = Literal["builder", "approver"]


class ReleaseError(Exception):
    """A release bundle, key or keyring is invalid, tampered with, or not trusted."""


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_text(public: Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes: what a keyring file holds."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def generate_key(path: Path) -> Ed25519PrivateKey:
    """A new private key written as PKCS#8 PEM, readable by its owner only, never overwritten."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ReleaseError(f"{path} exists: a private key is never overwritten") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ReleaseError(f"cannot read the private key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseError(f"{path} is not an Ed25519 private key")
    return key


def verify_signature(public: Ed25519PublicKey, signature_b64: str, message: bytes) -> bool:
    try:
        public.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message)).decode("ascii")


class TrustedKey(BaseModel):
    """One person a site trusts to build or approve releases."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    public_key: str
    roles: list[Role] = Field(min_length=1)

    def public(self) -> Ed25519PublicKey:
        try:
            return Ed25519PublicKey.from_public_bytes(
                base64.b64decode(self.public_key, validate=True)
            )
        except ValueError as exc:
            raise ReleaseError(f"keyring: the key of {self.name} is not Ed25519: {exc}") from None

    @property
    def key_id(self) -> str:
        return key_id(self.public())


class Keyring(BaseModel):
    """The keys a site trusts (``keyring.yaml``), kept by the site, not inside a release."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: list[TrustedKey]

    def find(self, kid: str) -> TrustedKey | None:
        return next((k for k in self.keys if k.key_id == kid), None)


def load_keyring(path: Path) -> Keyring:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        ring = Keyring.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ReleaseError(f"cannot read the keyring {path}: {exc}") from None
    except ValidationError as exc:
        raise ReleaseError(f"invalid keyring {path}: {exc}") from None
    names = [k.name for k in ring.keys]
    ids = [k.key_id for k in ring.keys]
    if len(set(names)) != len(names) or len(set(ids)) != len(ids):
        raise ReleaseError(f"keyring {path}: each person and key must appear once")
    return ring
