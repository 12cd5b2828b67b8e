"""Deterministic stand-ins for what providers return, so that a recorded plan is reproducible.

Each value is derived from the resource's type, name and inputs: the same program and config give
byte-identical plans, and outputs look like the real ones (64-hex ids, sha256 image ids).
"""

from __future__ import annotations

import base64
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
    # A built image's RemoteImage is triggered by the build's digest: new content, new id.
    triggers = args.inputs.get("triggers")
    image_id = f"sha256:{digest('image', name, *([triggers] if triggers else []))}"
    repository = name.split("@", 1)[0].rsplit(":", 1)[0] if "/" in name or ":" in name else name
    return {"imageId": image_id, "repoDigest": f"{repository}@sha256:{digest('digest', name)}"}


def _built_image(args: MockResourceArgs) -> dict[str, Any]:
    """pulumi-docker-build's Image: `digest` from the build (here: from its inputs), `ref` a tag
    when nothing was pushed (provider/internal/image.go: Create)."""
    tags = list(args.inputs.get("tags") or [])
    context = dict(args.inputs.get("context") or {})
    dockerfile = dict(args.inputs.get("dockerfile") or {})
    build_args = dict(args.inputs.get("buildArgs") or {})
    image_digest = f"sha256:{digest('build', context, dockerfile, sorted(build_args.items()), tags)}"
    return {"digest": image_digest, "ref": tags[0] if tags else "", "contextHash": digest("context", context)}


def _container(args: MockResourceArgs) -> dict[str, Any]:
    return {"containerLogs": None, "exitCode": None, "networkData": []}


def _random_password(args: MockResourceArgs) -> dict[str, Any]:
    length = int(args.inputs.get("length", 32))
    value = _generated_text(f"{args.typ}:{args.name}", length)
    return {"result": value, "bcryptHash": f"$2a$10${digest('bcrypt', value)[:53]}"}


def _random_id(args: MockResourceArgs) -> dict[str, Any]:
    """A random id of the type and name alone: never of its keepers, which may hold a secret's
    digest (a value derived from them would let a plan reader test guesses of the secret)."""
    size = int(args.inputs.get("byteLength", 8))
    raw = bytes.fromhex(digest("random-id", args.typ, args.name))[:size]
    return {
        "hex": raw.hex(),
        "b64Url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "b64Std": base64.b64encode(raw).decode(),
        "dec": str(int.from_bytes(raw, "big")),
    }


def _tls_private_key(args: MockResourceArgs) -> dict[str, Any]:
    body = digest("tls-key", args.name)
    pem = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    return {"privateKeyPem": pem, "privateKeyPemPkcs8": pem, "publicKeyPem": f"public:{body}"}


def _tls_self_signed_cert(args: MockResourceArgs) -> dict[str, Any]:
    body = digest("tls-cert", args.name, args.inputs.get("dnsNames"))
    return {"certPem": f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"}


# AWS: ARNs and ids shaped like the real ones (account 123456789012, the stack's region).
_AWS_ACCOUNT = "123456789012"
_AWS_REGION = "ap-northeast-1"


def _s3_bucket(args: MockResourceArgs) -> dict[str, Any]:
    bucket = str(args.inputs.get("bucket") or f"{args.name}-{digest('bucket', args.name)[:8]}")
    return {
        "id": bucket,
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "region": _AWS_REGION,
    }


def _kms_key(args: MockResourceArgs) -> dict[str, Any]:
    h = digest("kms", args.name)
    key_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
    return {"id": key_id, "keyId": key_id, "arn": f"arn:aws:kms:{_AWS_REGION}:{_AWS_ACCOUNT}:key/{key_id}"}


def _iam_user(args: MockResourceArgs) -> dict[str, Any]:
    name = str(args.inputs.get("name", args.name))
    return {
        "id": name,
        "arn": f"arn:aws:iam::{_AWS_ACCOUNT}:user/{name}",
        "uniqueId": f"AIDA{digest('uid', name)[:17].upper()}",
    }


def _iam_access_key(args: MockResourceArgs) -> dict[str, Any]:
    key_id = f"AKIA{digest('akid', args.name)[:16].upper()}"
    return {"id": key_id, "secret": _generated_text(f"secret:{args.name}", 40), "status": "Active"}


def _service(args: MockResourceArgs) -> dict[str, Any]:
    """What the provider fills in on a service: the task spec's defaults and the endpoint mode."""
    task_spec = dict(args.inputs.get("taskSpec", {}))
    task_spec.setdefault("forceUpdate", 0)
    task_spec.setdefault("runtime", "container")
    endpoint_spec = {"mode": "vip", **dict(args.inputs.get("endpointSpec", {}))}
    return {"taskSpec": task_spec, "endpointSpec": endpoint_spec}


def _swarm_secret(args: MockResourceArgs) -> dict[str, Any]:
    """A Swarm secret keeps its name and (base64) data; Docker never returns the data."""
    return {"name": args.inputs.get("name", args.name), "data": args.inputs.get("data", "")}


def _service_config(args: MockResourceArgs) -> dict[str, Any]:
    """The provider stores a config's content base64-encoded in `data`."""
    raw = str(args.inputs.get("dataRaw", ""))
    return {"name": args.inputs.get("name", args.name), "data": base64.b64encode(raw.encode()).decode()}


REGISTRY_IMAGE = "docker:index/getRegistryImage:getRegistryImage"

# Swarm secrets and configs are immutable: a new content is a new object with a new id.
_ID_FROM_NAME = ("docker:index/secret:Secret", "docker:index/serviceConfig:ServiceConfig")


_OUTPUTS: dict[str, Callable[[MockResourceArgs], dict[str, Any]]] = {
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:kms/key:Key": _kms_key,
    "aws:iam/user:User": _iam_user,
    "aws:iam/accessKey:AccessKey": _iam_access_key,
    "docker:index/remoteImage:RemoteImage": _remote_image,
    "docker-build:index:Image": _built_image,
    "docker:index/container:Container": _container,
    "docker:index/service:Service": _service,
    "docker:index/secret:Secret": _swarm_secret,
    "docker:index/serviceConfig:ServiceConfig": _service_config,
    "random:index/randomPassword:RandomPassword": _random_password,
    "random:index/randomId:RandomId": _random_id,
    "tls:index/privateKey:PrivateKey": _tls_private_key,
    "tls:index/selfSignedCert:SelfSignedCert": _tls_self_signed_cert,
}


class WebsysMocks(Mocks):
    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        make_outputs = _OUTPUTS.get(args.typ)
        outputs = make_outputs(args) if make_outputs is not None else {}
        # Swarm secrets and configs are immutable: new content is a new object with a new id.
        default_id = digest(args.typ, args.name, args.inputs.get("name")) if args.typ in _ID_FROM_NAME else None
        resource_id = str(outputs.pop("id", None) or default_id or digest(args.typ, args.name))
        return resource_id, {**args.inputs, **outputs}

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == REGISTRY_IMAGE:
            # The registry's digest of a tag (a stand-in: the same tag always has the same digest).
            name = str(args.args.get("name", ""))
            return {"name": name, "sha256Digest": f"sha256:{digest('registry', name)}"}, []
        return {}, []


def reference_values(type_token: str, name: str, inputs: dict[str, Any]) -> set[str]:
    """The id and string outputs the mocks give a resource: what its dependents' inputs hold of it.
    When the resource is replaced, these become new (unknown) values in those inputs."""
    resource_id, _ = WebsysMocks().new_resource(MockResourceArgs(type_token, name, dict(inputs)))
    values = {str(resource_id)} if resource_id else set()
    made = _OUTPUTS.get(type_token)
    if made is not None:
        values |= {
            value for value in made(MockResourceArgs(type_token, name, dict(inputs))).values() if isinstance(value, str)
        }
    return {value for value in values if len(value) >= 8}
