"""Validated value types of the edge (nginx) settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, SecretStr


def _header_value(value: str) -> str:
    """A value nginx writes into a response header: one line, no double quote, no backslash."""
    if not value.strip() or any(ch in value for ch in '"\\\r\n') or not value.isprintable():
        raise ValueError("must be a non-empty single line without double quotes or backslashes")
    return value


def _pem_certificate(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if "-----BEGIN CERTIFICATE-----" not in text or "-----END CERTIFICATE-----" not in text:
        raise ValueError("is not a PEM certificate (chain): expected -----BEGIN CERTIFICATE-----")
    return value


def _pem_private_key(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    begin = next((line for line in text.splitlines() if line.startswith("-----BEGIN ")), "")
    if not begin.endswith("PRIVATE KEY-----") or "-----END " not in text:
        raise ValueError("is not an unencrypted PEM private key: expected -----BEGIN ... PRIVATE KEY-----")
    if "ENCRYPTED" in begin:
        raise ValueError("is an encrypted private key; nginx cannot read it without a passphrase")
    return value


HeaderValue = Annotated[str, AfterValidator(_header_value)]
PemCertificate = Annotated[SecretStr, AfterValidator(_pem_certificate)]
PemPrivateKey = Annotated[SecretStr, AfterValidator(_pem_private_key)]
ReferrerPolicy = Literal[
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
]
