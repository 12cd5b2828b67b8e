"""Deterministic stand-ins for what providers return, so that a recorded plan is reproducible.

Each value is derived from the resource's type, name and inputs: the same program and config give
byte-identical plans, and outputs look like the real ones (64-hex ids, sha256 image ids).
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable
from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks


def digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(str(part) for part in parts).encode()).hexdigest()


def _generated_text(seed: str, length: int) -> str:
    """Deterministic letters and digits of the requested length (a mock password)."""
    alphabet = string.ascii_letters + string.digits
    out: list[str] = []
    counter = 0
    while len(out) < length:
        for byte in bytes.fromhex(digest(seed, counter)):
            out.append(alphabet[byte % len(alphabet)])
        counter += 1
    return "".join(out[:length])


def _remote_image(args: MockResourceArgs) -> dict[str, Any]:
    name = str(args.inputs.get("name", ""))
    image_id = f"sha256:{digest('image', name)}"
    repository = name.split("@", 1)[0].rsplit(":", 1)[0] if "/" in name or ":" in name else name
    return {"imageId": image_id, "repoDigest": f"{repository}@sha256:{digest('digest', name)}"}


def _container(args: MockResourceArgs) -> dict[str, Any]:
    return {"containerLogs": None, "exitCode": None, "networkData": []}


def _random_password(args: MockResourceArgs) -> dict[str, Any]:
    length = int(args.inputs.get("length", 32))
    value = _generated_text(f"{args.typ}:{args.name}", length)
    return {"result": value, "bcryptHash": f"$2a$10${digest('bcrypt', value)[:53]}"}


def _tls_private_key(args: MockResourceArgs) -> dict[str, Any]:
    body = digest("tls-key", args.name)
    pem = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    return {"privateKeyPem": pem, "privateKeyPemPkcs8": pem, "publicKeyPem": f"public:{body}"}


def _tls_self_signed_cert(args: MockResourceArgs) -> dict[str, Any]:
    body = digest("tls-cert", args.name, args.inputs.get("dnsNames"))
    return {"certPem": f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"}


_OUTPUTS: dict[str, Callable[[MockResourceArgs], dict[str, Any]]] = {
    "docker:index/remoteImage:RemoteImage": _remote_image,
    "docker:index/container:Container": _container,
    "random:index/randomPassword:RandomPassword": _random_password,
    "tls:index/privateKey:PrivateKey": _tls_private_key,
    "tls:index/selfSignedCert:SelfSignedCert": _tls_self_signed_cert,
}


class WebsysMocks(Mocks):
    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id = digest(args.typ, args.name)
        make_outputs = _OUTPUTS.get(args.typ)
        outputs = make_outputs(args) if make_outputs is not None else {}
        return resource_id, {**args.inputs, **outputs}

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None
