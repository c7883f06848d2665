"""Signed, versioned rulebook releases (``gbrules release ...``); see ``bundle.py``."""

from gbrules.io.release.bundle import (
    APPROVERS_NEEDED,
    Approval,
    Release,
    ReleaseManifest,
    Verification,
    approve_release,
    build_release,
    extract_active_rules,
    extract_rules,
    read_release,
    verify_release,
)
from gbrules.io.release.keys import (
    Keyring,
    ReleaseError,
    TrustedKey,
    generate_key,
    load_keyring,
    load_private_key,
)

__all__ = [
    "APPROVERS_NEEDED",
    "Approval",
    "Keyring",
    "Release",
    "ReleaseError",
    "ReleaseManifest",
    "TrustedKey",
    "Verification",
    "approve_release",
    "build_release",
    "extract_active_rules",
    "extract_rules",
    "generate_key",
    "load_keyring",
    "load_private_key",
    "read_release",
    "verify_release",
]
