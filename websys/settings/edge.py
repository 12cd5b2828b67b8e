"""Validated value types of the edge (nginx) settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, SecretStr

from websys.settings.text import header_value_problem


def _header_value(value: str) -> str:
    """A value nginx writes into a response header, as a double-quoted nginx string."""
    problem = header_value_problem(value)
    if problem is not None:
        raise ValueError(problem)
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
