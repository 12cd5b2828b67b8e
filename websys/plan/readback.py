"""Read-back normal form: every input a provider reads back in another spelling is already sent in it.

The engine diffs the program's inputs against the state, and the state holds what the provider
read back from Docker. An input sent in one spelling and read back in another is a change on every
`pulumi up`: a replacement where the property is ForceNew, a rolling update of a Swarm service
otherwise. Each rule below says, once, what comes back for a value and cites the source it follows
(kreuzwerker/terraform-provider-docker at 5074970c, the upstream of pulumi-docker v5; moby v28.5.2,
the Docker client it uses; hashicorp/terraform-provider-aws v6, the upstream pulumi-aws v7 bridges).
`check_plan` lists every input not in that form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from components.capabilities import normalize_capabilities
from components.cpus import docker_cpus
from components.durations import go_duration, parse_go_duration, short_duration
from components.networks import gateway
from websys.plan.model import SECRET, UNKNOWN, Plan, PlannedResource

CONTAINER = "docker:index/container:Container"
SERVICE = "docker:index/service:Service"
NETWORK = "docker:index/network:Network"
BUCKET = "aws:s3/bucket:Bucket"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KMS_KEY = "aws:kms/key:Key"
IAM_USER = "aws:iam/user:User"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"

# What a rule returns: the value that would come back for the value sent.
Normalizer = Callable[[Any, PlannedResource], Any]


@dataclass(frozen=True)
class Rule:
    type: str
    path: str  # dotted input path; `[]` matches every element of a list
    normal_form: Normalizer
    source: str
    even_absent: bool = False  # the provider fills the input in when the program leaves it out


@dataclass(frozen=True)
class Finding:
    resource: str
    path: str
    sent: Any
    back: Any
    source: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.path}: sends {self.sent!r}, reads back {self.back!r} ({self.source})"


def _container_duration(value: Any, _: PlannedResource) -> Any:
    return go_duration(parse_go_duration(str(value)))


def _service_duration(value: Any, _: PlannedResource) -> Any:
    return short_duration(parse_go_duration(str(value)))


def _capabilities(value: Any, _: PlannedResource) -> Any:
    return normalize_capabilities(value)


def _cpus(value: Any, _: PlannedResource) -> Any:
    return docker_cpus(str(value))


def _security_opt(value: Any, _: PlannedResource) -> Any:
    key, sep, rest = str(value).partition(":")
    return f"{key}={rest}" if sep and "=" not in key else value


def _spread(value: Any, _: PlannedResource) -> Any:
    text = str(value)
    return text if re.match(r"(?i)(node|engine)\.labels\.", text) else text.removeprefix("spread=")


_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _service_image(value: Any, _: PlannedResource) -> Any:
    text = str(value)
    familiar = text.removeprefix("docker.io/").removeprefix("library/")
    if _DIGEST.search(familiar):
        return familiar
    return f"{familiar}@sha256:<the registry's digest>"


def _platforms_ignored(value: Any, resource: PlannedResource) -> Any:
    if "taskSpec.placement.platforms" in resource.options.ignore_changes:
        return value
    return "<the registry's platforms>"


def _overlay_options(value: Any, resource: PlannedResource) -> Any:
    if resource.inputs.get("driver") != "overlay" or "options" in resource.options.ignore_changes:
        return value
    return {**value, "com.docker.network.driver.overlay.vxlanid_list": "<allocated by the manager>"}


def _ipam_config(value: Any, _: PlannedResource) -> Any:
    if not isinstance(value, dict) or "subnet" not in value or value.get("gateway"):
        return value
    return {**value, "gateway": gateway(str(value["subnet"]))}


def _lifecycle_expiration(value: Any, _: PlannedResource) -> Any:
    """A delete-marker expiry alongside `days` or `date` is not sent at all: it reads back false."""
    if not isinstance(value, dict) or not value.get("expiredObjectDeleteMarker"):
        return value
    if value.get("days") or value.get("date"):
        return {**value, "expiredObjectDeleteMarker": False}
    return value


_AWS_TAG_PREFIX = "aws:"


def _tags(value: Any, _: PlannedResource) -> Any:
    """Tags read back without AWS's own (`aws:`-prefixed) keys."""
    if not isinstance(value, dict):
        return value
    return {key: item for key, item in value.items() if not str(key).startswith(_AWS_TAG_PREFIX)}


def _policy_document(value: Any, _: PlannedResource) -> Any:
    """Any spelling of a policy document reads back as the same one (equivalence, below); text that is
    not a JSON object has no such form: the provider refuses it, or diffs it on every run."""
    try:
        document = json.loads(str(value))
    except ValueError:
        return "<not a JSON policy document>"
    if not isinstance(document, dict) or "Statement" not in document:
        return "<not a JSON policy document>"
    return value


_PROVIDER = "kreuzwerker/terraform-provider-docker internal/provider/"
_AWS = "hashicorp/terraform-provider-aws internal/"
# pulumi-aws merges the provider's defaultTags into tagsAll itself (pulumi-aws provider/tags.go
# `applyTags`); on read, `tags` keeps a key equal to a default tag when the program sends it
# (internal/tags/key_value_tags.go `ResolveDuplicates`), so the stacks' duplicated
# websys:environment tag reads back as sent; only AWS's own keys are dropped
# (key_value_tags.go `IgnoreSystem` -> `IgnoreAWS`, called by the tags interceptor on every read).
_TAGS_SOURCE = _AWS + "tags/key_value_tags.go (IgnoreSystem, IgnoreAWS; ResolveDuplicates keeps default-tag duplicates)"
# S3 and IAM return a policy in their own spelling (compact, reordered; IAM URL-encoded); the
# provider stores the state's document when the two are equivalent (internal/verify/json.go
# `PolicyToSet`, `SecondJSONUnlessEquivalent`) and suppresses any diff between equivalent documents
# (`SuppressEquivalentPolicyDiffs`, hashicorp/awspolicyequivalence), with DiffSuppressOnRefresh:
# the program's indented, key-sorted JSON is no diff, and no rule rewrites it.
_POLICY_SOURCE = _AWS + "verify/json.go (SuppressEquivalentPolicyDiffs, PolicyToSet: equivalent policies suppressed)"
_CONTAINER_READ = _PROVIDER + "resource_docker_container_funcs.go (resourceDockerContainerRead)"
_SHORT_DUR = _PROVIDER + "resource_docker_service_structures.go (shortDur)"

RULES: tuple[Rule, ...] = (
    Rule(
        CONTAINER,
        "capabilities.adds",
        _capabilities,
        "moby v28.5.2 client/container_create.go (normalizeCapabilities); " + _CONTAINER_READ,
    ),
    Rule(
        CONTAINER,
        "capabilities.drops",
        _capabilities,
        "moby v28.5.2 client/container_create.go (normalizeCapabilities)",
    ),
    Rule(CONTAINER, "cpus", _cpus, _PROVIDER + "helpers.go (nanoInt64ToDecimalString)"),
    *(
        Rule(CONTAINER, f"healthcheck.{key}", _container_duration, _CONTAINER_READ + ": Duration.String()")
        for key in ("interval", "timeout", "startPeriod", "startInterval")
    ),
    Rule(
        CONTAINER,
        "securityOpts[]",
        _security_opt,
        "moby v28.5.2 daemon/daemon_unix.go (parseSecurityOpt: ':' deprecated)",
    ),
    *(
        Rule(SERVICE, path, _service_duration, _SHORT_DUR)
        for path in (
            "taskSpec.containerSpec.healthcheck.interval",
            "taskSpec.containerSpec.healthcheck.timeout",
            "taskSpec.containerSpec.healthcheck.startPeriod",
            "taskSpec.containerSpec.stopGracePeriod",
            "taskSpec.restartPolicy.delay",
            "taskSpec.restartPolicy.window",
            "updateConfig.delay",
            "updateConfig.monitor",
            "rollbackConfig.delay",
            "rollbackConfig.monitor",
        )
    ),
    Rule(
        SERVICE,
        "taskSpec.placement.prefs[]",
        _spread,
        "moby v28.5.2 vendor/github.com/moby/swarmkit/v2/manager/scheduler/nodeset.go (SpreadDescriptor)",
    ),
    Rule(
        SERVICE,
        "taskSpec.containerSpec.image",
        _service_image,
        "moby v28.5.2 client/service_create.go (imageWithDigestString, QueryRegistry)",
    ),
    Rule(
        SERVICE,
        "taskSpec.placement.platforms",
        _platforms_ignored,
        "moby v28.5.2 client/service_create.go (resolveContainerSpecImage); "
        + _PROVIDER
        + "resource_docker_service_funcs.go (QueryRegistry on create)",
        even_absent=True,
    ),
    Rule(NETWORK, "options", _overlay_options, "moby v28.5.2 libnetwork/drivers/overlay/ovmanager/ovmanager.go"),
    Rule(
        NETWORK, "ipamConfigs[]", _ipam_config, _PROVIDER + "resource_docker_network_funcs.go (flattenIpamConfigSpec)"
    ),
    # A lifecycle expiry is days, date, or the delete-marker flag: with days or date the provider
    # sends no ExpiredObjectDeleteMarker and reads it back false, a diff on every update
    # (bucket_lifecycle_configuration.go `lifecycleExpirationModel.Expand`).
    Rule(
        LIFECYCLE,
        "rules[].expiration",
        _lifecycle_expiration,
        _AWS + "service/s3/bucket_lifecycle_configuration.go (lifecycleExpirationModel.Expand)",
    ),
    *(Rule(token, "tags", _tags, _TAGS_SOURCE) for token in (BUCKET, KMS_KEY, IAM_USER)),
    Rule(BUCKET_POLICY, "policy", _policy_document, _POLICY_SOURCE + "; service/s3/bucket_policy.go"),
    Rule(IAM_USER_POLICY, "policy", _policy_document, _POLICY_SOURCE + "; service/iam/user_policy.go"),
)


_ABSENT = object()


def _values(value: Any, steps: list[str], concrete: str) -> Iterator[tuple[str, Any]]:
    if not steps:
        yield concrete, value
        return
    step, rest = steps[0], steps[1:]
    many = step.endswith("[]")
    key = step.removesuffix("[]")
    if not isinstance(value, dict) or key not in value:
        yield f"{concrete}.{key}".lstrip("."), _ABSENT
        return
    child = value[key]
    where = f"{concrete}.{key}".lstrip(".")
    if many and isinstance(child, list):
        for index, item in enumerate(child):
            yield from _values(item, rest, f"{where}[{index}]")
    else:
        yield from _values(child, rest, where)


def _unknowable(value: Any) -> bool:
    return value in (SECRET, UNKNOWN)


def check_resource(resource: PlannedResource, rules: tuple[Rule, ...] = RULES) -> Iterator[Finding]:
    for rule in rules:
        if rule.type != resource.type:
            continue
        for path, value in _values(resource.inputs, rule.path.split("."), ""):
            if value is _ABSENT and not rule.even_absent:
                continue
            if _unknowable(value):
                continue
            sent = None if value is _ABSENT else value
            back = rule.normal_form(sent, resource)
            if back != sent:
                yield Finding(resource.urn, path, sent, back, rule.source)


def check_plan(plan: Plan, rules: tuple[Rule, ...] = RULES) -> list[Finding]:
    """Every input of the plan that the provider would read back in another spelling."""
    return [finding for resource in plan.resources for finding in check_resource(resource, rules)]
