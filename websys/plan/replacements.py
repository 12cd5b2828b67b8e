"""What the engine does with a change: update, replace (delete first or create first), or nothing.

Computed from two recorded plans and the providers' replace-on-change properties below, each
cited. The engine replaces a resource when an input the provider marks ForceNew (or the program
lists in `replaceOnChanges`) changes; it deletes first when the program says so
(`deleteBeforeReplace` defined) or else when the provider asks (pulumi
`pkg/resource/deploy/step_generator.go`). pulumi-docker asks for every Container
(`provider/resources.go`: `DeleteBeforeReplace: true`) and for every resource whose auto-namable
`name` the program gives (pulumi-terraform-bridge `pkg/tfbridge/schema.go`,
`nameRequiresDeleteBeforeReplace`; `pkg/tfbridge/info/autonaming.go`, `SetAutonaming`).
A replaced resource's outputs are new, so each dependent whose inputs hold one of them changes too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from websys.plan.mocks import reference_values
from websys.plan.model import Plan

UPDATE = "update"
REPLACE_DELETE_FIRST = "replace (delete first)"
REPLACE_CREATE_FIRST = "replace (create first)"
CREATE = "create"
DELETE = "delete"

_TF = "kreuzwerker/terraform-provider-docker@5074970c internal/provider/"


def _key(name: str) -> str:
    """Terraform's snake_case and Pulumi's camelCase (often pluralized) of a property, compared."""
    return name.replace("_", "").lower().removesuffix("s")


def _keys(names: Iterable[str]) -> frozenset[str]:
    return frozenset(_key(name) for name in names)


def _explicit_name(resource: Mapping[str, Any]) -> bool:
    return bool(resource.get("inputs", {}).get("name"))


@dataclass(frozen=True)
class ReplaceTable:
    force_new: frozenset[str]  # top-level inputs (compared by _key) whose change replaces
    source: str
    nested: tuple[str, ...] = ()  # regular expressions of nested input paths that replace
    provider_deletes_first: Callable[[Mapping[str, Any]], bool] = field(default=lambda _: False)


_NAMED = _explicit_name
TABLE: dict[str, ReplaceTable] = {
    "docker:index/container:Container": ReplaceTable(
        _keys(
            [
                "capabilities",
                "cgroup_parent",
                "cgroupns_mode",
                "command",
                "cpus",
                "device_requests",
                "devices",
                "dns",
                "dns_opts",
                "dns_search",
                "domainname",
                "entrypoint",
                "env",
                "gpus",
                "group_add",
                "host",
                "hostname",
                "image",
                "ipc_mode",
                "labels",
                "log_driver",
                "log_opts",
                "mounts",
                "name",
                "network_mode",
                "networks_advanced",
                "pid_mode",
                "platform",
                "ports",
                "privileged",
                "publish_all_ports",
                "read_only",
                "runtime",
                "security_opts",
                "shm_size",
                "stdin_open",
                "stop_signal",
                "stop_timeout",
                "storage_opts",
                "sysctls",
                "tty",
                "ulimit",
                "upload",
                "user",
                "userns_mode",
                "volumes",
                "working_dir",
            ]
        ),
        _TF + "resource_docker_container.go (ForceNew); pulumi-docker provider/resources.go (DeleteBeforeReplace)",
        provider_deletes_first=lambda _: True,
    ),
    "docker:index/network:Network": ReplaceTable(
        _keys(
            [
                "attachable",
                "driver",
                "ingress",
                "internal",
                "ipam_config",
                "ipam_driver",
                "ipam_options",
                "ipv6",
                "labels",
                "name",
                "options",
            ]
        ),
        _TF + "resource_docker_network.go (ForceNew)",
        provider_deletes_first=_NAMED,
    ),
    "docker:index/volume:Volume": ReplaceTable(
        _keys(["driver", "driver_opts", "labels", "name"]),
        _TF + "resource_docker_volume.go",
        provider_deletes_first=_NAMED,
    ),
    "docker:index/secret:Secret": ReplaceTable(
        _keys(["data", "labels", "name"]), _TF + "resource_docker_secret.go", provider_deletes_first=_NAMED
    ),
    "docker:index/serviceConfig:ServiceConfig": ReplaceTable(
        _keys(["data", "data_raw", "labels", "name"]), _TF + "resource_docker_config.go", provider_deletes_first=_NAMED
    ),
    "docker:index/service:Service": ReplaceTable(
        _keys(["name", "auth"]),
        _TF + "resource_docker_service.go (ForceNew: name, auth, hosts, sysctl, networks_advanced)",
        nested=(
            r"taskSpec\.containerSpec\.hosts.*",
            r"taskSpec\.containerSpec\.sysctl.*",
            r"taskSpec\.networksAdvanceds\[\d+\]\.(id|name|aliases|driverOpts).*",
        ),
        provider_deletes_first=_NAMED,
    ),
    "docker:index/remoteImage:RemoteImage": ReplaceTable(
        _keys(["name", "platform", "pull_triggers", "triggers"]), _TF + "resource_docker_image.go (ForceNew)"
    ),
    # pulumi-random: every input of a random resource replaces it (terraform-provider-random
    # internal/provider/resource_password.go, resource_id.go: RequiresReplace on each attribute).
    "random:index/randomPassword:RandomPassword": ReplaceTable(
        frozenset({"*"}), "terraform-provider-random resource_password.go (RequiresReplace)"
    ),
    "random:index/randomId:RandomId": ReplaceTable(
        frozenset({"*"}), "terraform-provider-random resource_id.go (RequiresReplace)"
    ),
    "tls:index/privateKey:PrivateKey": ReplaceTable(
        frozenset({"*"}), "terraform-provider-tls resource_private_key.go (RequiresReplace)"
    ),
    "tls:index/selfSignedCert:SelfSignedCert": ReplaceTable(
        frozenset({"*"}), "terraform-provider-tls resource_self_signed_cert.go (RequiresReplace)"
    ),
    # pulumi-aws (terraform-provider-aws internal/service/...): ForceNew properties; a Bucket's
    # `bucket` is auto-named, so given explicitly it is delete-first too.
    "aws:s3/bucket:Bucket": ReplaceTable(
        _keys(["bucket", "bucket_prefix", "object_lock_enabled"]),
        "terraform-provider-aws internal/service/s3/bucket.go (ForceNew)",
        provider_deletes_first=lambda r: bool(r.get("inputs", {}).get("bucket")),
    ),
    "aws:kms/key:Key": ReplaceTable(
        _keys(["customer_master_key_spec", "key_usage", "multi_region", "custom_key_store_id", "xks_key_id"]),
        "terraform-provider-aws internal/service/kms/key.go (ForceNew)",
    ),
    "aws:iam/accessKey:AccessKey": ReplaceTable(
        _keys(["user", "pgp_key"]), "terraform-provider-aws internal/service/iam/access_key.go (ForceNew)"
    ),
    "aws:iam/userPolicy:UserPolicy": ReplaceTable(
        _keys(["name", "name_prefix", "user"]),
        "terraform-provider-aws internal/service/iam/user_policy.go (ForceNew)",
        provider_deletes_first=_NAMED,
    ),
    # pulumi-command: `triggers` replaces (pulumi-command provider/pkg/provider/local/command.go).
    "command:local:Command": ReplaceTable(_keys(["triggers"]), "pulumi-command local Command (triggers)"),
}
# The S3 bucket configuration resources: `bucket` and `expectedBucketOwner` are ForceNew.
for _token in (
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketPolicy:BucketPolicy",
):
    TABLE[_token] = ReplaceTable(
        _keys(["bucket", "expected_bucket_owner"]), "terraform-provider-aws internal/service/s3 (ForceNew: bucket)"
    )


@dataclass(frozen=True)
class Outcome:
    urn: str
    name: str
    type: str
    action: str
    paths: tuple[str, ...]  # the changed input paths (or, for a replacement, those that replace)
    inputs: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{path}.{key}" if path else key))
        return out or {path: {}}
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            out.update(_flatten(item, f"{path}[{index}]"))
        return out or {path: []}
    return {path: value}


def _ignored(path: str, ignore: Iterable[str]) -> bool:
    return any(path == item or path.startswith((f"{item}.", f"{item}[")) for item in ignore)


def _top(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def changed_paths(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """Input paths whose value differs, secret ones by their in-memory fingerprints."""
    old, new = _flatten(before.get("inputs", {})), _flatten(after.get("inputs", {}))
    paths = {path for path in old.keys() | new.keys() if old.get(path, _flatten) != new.get(path, _flatten)}
    old_secrets = before.get("secretFingerprints", {})
    new_secrets = after.get("secretFingerprints", {})
    paths |= {path for path in old_secrets.keys() & new_secrets.keys() if old_secrets[path] != new_secrets[path]}
    return {path for path in paths if not _ignored(path, after.get("options", {}).get("ignoreChanges", []))}


def _replacing(resource: Mapping[str, Any], paths: Iterable[str]) -> list[str]:
    table = TABLE.get(str(resource.get("type")))
    replace_on = resource.get("options", {}).get("replaceOnChanges", [])
    hits = []
    for path in paths:
        if (
            _ignored(path, replace_on)
            or "*" in replace_on
            or (
                table is not None
                and (
                    "*" in table.force_new
                    or _key(_top(path)) in table.force_new
                    or any(re.fullmatch(pattern, path) for pattern in table.nested)
                )
            )
        ):
            hits.append(path)
    return sorted(hits)


def deletes_first(resource: Mapping[str, Any]) -> bool:
    options = resource.get("options", {})
    if options.get("deleteBeforeReplaceDefined"):
        return bool(options.get("deleteBeforeReplace"))
    if options.get("deleteBeforeReplace"):
        return True
    table = TABLE.get(str(resource.get("type")))
    return table is not None and table.provider_deletes_first(resource)


def _references(path_values: dict[str, Any], refs: set[str]) -> set[str]:
    return {path for path, value in path_values.items() if isinstance(value, str) and any(r in value for r in refs)}


def classify(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Outcome]:
    """Every resource of either plan (documents in `plan_document` form) by URN, with its action."""
    old = {r["urn"]: r for r in before.get("resources", [])}
    new = {r["urn"]: r for r in after.get("resources", [])}
    changes = {urn: changed_paths(old[urn], new[urn]) for urn in old.keys() & new.keys()}
    replaced: set[str] = set()
    settled = False
    while not settled:  # a replacement's new outputs reach its dependents, and theirs, in turn
        settled = True
        for urn in sorted(changes):
            if urn not in replaced and _replacing(new[urn], changes[urn]):
                replaced.add(urn)
                settled = False
                refs = reference_values(new[urn]["type"], new[urn]["name"], new[urn].get("inputs", {}))
                for other, resource in new.items():
                    if urn in resource.get("dependencies", []) and other in changes:
                        touched = _references(_flatten(resource.get("inputs", {})), refs)
                        touched = {p for p in touched if not _ignored(p, resource["options"].get("ignoreChanges", []))}
                        if not touched <= changes[other]:
                            changes[other] |= touched
    outcomes: dict[str, Outcome] = {}
    for urn, resource in new.items():
        if urn not in old:
            outcomes[urn] = Outcome(urn, resource["name"], resource["type"], CREATE, (), resource.get("inputs", {}))
            continue
        paths = changes[urn]
        hits = _replacing(resource, paths)
        if hits:
            action = REPLACE_DELETE_FIRST if deletes_first(resource) else REPLACE_CREATE_FIRST
            outcomes[urn] = Outcome(
                urn, resource["name"], resource["type"], action, tuple(hits), resource.get("inputs", {})
            )
        elif paths:
            outcomes[urn] = Outcome(
                urn, resource["name"], resource["type"], UPDATE, tuple(sorted(paths)), resource.get("inputs", {})
            )
    for urn in old.keys() - new.keys():
        resource = old[urn]
        outcomes[urn] = Outcome(urn, resource["name"], resource["type"], DELETE, (), resource.get("inputs", {}))
    return outcomes


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan's JSON form with each resource's in-memory secret fingerprints (never written)."""
    document = plan.to_json()
    for resource, planned in zip(document["resources"], plan.resources, strict=True):
        resource["secretFingerprints"] = dict(planned.secret_fingerprints)
    return document


def classify_plans(before: Plan, after: Plan) -> dict[str, Outcome]:
    return classify(plan_document(before), plan_document(after))
