"""Adversarial cases for the workload rules (containers and Swarm task specs), each judged by the real
pack over the Analyzer protocol: exemptions that a change could forge, isolation from the host,
secrets in the environment by another name, and inputs of the wrong shape.

Every case is a copy of a recorded resource under its own URN, changed in one way; the test's own
pack config says what is exempt, so nothing here depends on the committed policy/config files.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.edge_support import make_certificate
from tests.planning import plan_for
from tests.policy_support import Case, PlanDoc, Resource, by_urn, copy_as, find, judge, run_policy
from websys.plan import Plan

BACKEND = "backend-blue-1"
SWARM_BACKEND = "swarm-backend-service"


def _set(key: str, value: Any) -> Callable[[Resource], None]:
    def mutate(r: Resource) -> None:
        r["inputs"][key] = value

    return mutate


def _drop(key: str) -> Callable[[Resource], None]:
    def mutate(r: Resource) -> None:
        r["inputs"].pop(key, None)

    return mutate


def _all(*changes: Callable[[Resource], None]) -> Callable[[Resource], None]:
    def mutate(r: Resource) -> None:
        for change in changes:
            change(r)

    return mutate


def _label(service: str) -> Callable[[Resource], None]:
    def mutate(r: Resource) -> None:
        r["inputs"]["labels"] = [
            {"label": "com.websys.service", "value": service},
            *[item for item in r["inputs"]["labels"] if item["label"] != "com.websys.service"],
        ]

    return mutate


def _env(entry: str) -> Callable[[Resource], None]:
    def mutate(r: Resource) -> None:
        r["inputs"]["envs"] = [*r["inputs"]["envs"], entry]

    return mutate


def _spec(key: str, value: Any) -> Callable[[Resource], None]:
    def mutate(r: Resource) -> None:
        r["inputs"]["taskSpec"]["containerSpec"][key] = value

    return mutate


def _nest(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"next": value}
    return value


# An exempt URN (the test's own config) and what its exemption allows.
EXEMPT = "exempt-proxy"
EXEMPT_EXPORTER = "exempt-exporter"

EXEMPTION_CASES = [
    Case("relabelled-as-nginx-runs-as-root", _all(_label("nginx"), _set("user", "0:0")), "container-non-root"),
    Case(
        "renamed-as-nginx-runs-as-root",
        _all(_set("name", "websys-production-nginx"), _drop("user")),
        "container-non-root",
    ),
    Case(
        "relabelled-as-nginx-publishes-443",
        _all(_label("nginx"), _set("ports", [{"internal": 443, "external": 443}])),
        "published-ports-nginx-only",
    ),
    Case(
        "relabelled-as-cadvisor-keeps-capability",
        _all(_label("cadvisor"), _set("capabilities", {"drops": ["ALL"], "adds": ["DAC_READ_SEARCH"]})),
        "container-capabilities-dropped",
    ),
    Case(
        "relabelled-as-exporter-no-healthcheck",
        _all(_label("nginx-exporter"), _drop("healthcheck")),
        "container-healthcheck",
    ),
    Case(
        "relabelled-as-node-exporter-host-pid",
        _all(_label("node-exporter"), _set("pidMode", "host")),
        "container-host-namespaces",
    ),
    Case(
        "relabelled-as-cadvisor-mounts-root",
        _all(_label("cadvisor"), _set("volumes", [{"hostPath": "/", "containerPath": "/rootfs"}])),
        "container-host-mounts",
    ),
]
# Cases on the exempt URNs themselves: the exemption covers its property and its allowed values only.
EXEMPT_URN_CASES = [
    (EXEMPT, Case("exempt-proxy-root-allowed", _drop("user"), None)),
    (
        EXEMPT,
        Case(
            "exempt-proxy-publishes-80-443",
            _set("ports", [{"internal": 80, "external": 80}, {"internal": 443, "external": 443}]),
            None,
        ),
    ),
    (
        EXEMPT,
        Case(
            "exempt-proxy-publishes-8080",
            _set("ports", [{"internal": 8080, "external": 8080}]),
            "published-ports-nginx-only",
        ),
    ),
    (EXEMPT, Case("exempt-proxy-privileged", _set("privileged", True), "container-not-privileged")),
    (EXEMPT, Case("exempt-proxy-swaps", _set("memorySwap", -1), "container-swap-bounded")),
    (
        EXEMPT_EXPORTER,
        Case(
            "exempt-exporter-allowed-capability",
            _set("capabilities", {"drops": ["ALL"], "adds": ["CAP_DAC_READ_SEARCH"]}),
            None,
        ),
    ),
    (
        EXEMPT_EXPORTER,
        Case(
            "exempt-exporter-other-capability",
            _set("capabilities", {"drops": ["ALL"], "adds": ["DAC_READ_SEARCH", "SYS_ADMIN"]}),
            "container-capabilities-dropped",
        ),
    ),
    (EXEMPT_EXPORTER, Case("exempt-exporter-allowed-pid", _set("pidMode", "host"), None)),
    (EXEMPT_EXPORTER, Case("exempt-exporter-host-network", _set("networkMode", "host"), "container-host-namespaces")),
    (
        EXEMPT_EXPORTER,
        Case(
            "exempt-exporter-allowed-root-mount",
            _set("volumes", [{"hostPath": "/", "containerPath": "/host", "readOnly": True}]),
            None,
        ),
    ),
    (
        EXEMPT_EXPORTER,
        Case(
            "exempt-exporter-docker-socket",
            _set("volumes", [{"hostPath": "/var/run/docker.sock", "containerPath": "/s"}]),
            "container-host-mounts",
        ),
    ),
]

CONTAINER_CASES = [
    Case("network-host", _set("networkMode", "host"), "container-host-namespaces"),
    Case("network-host-spelled", _set("networkMode", " HOST "), "container-host-namespaces"),
    Case("pid-host", _set("pidMode", "host"), "container-host-namespaces"),
    Case("ipc-host", _set("ipcMode", "host"), "container-host-namespaces"),
    Case("userns-host", _set("usernsMode", "host"), "container-host-namespaces"),
    Case(
        "docker-socket",
        _set("volumes", [{"hostPath": "/var/run/docker.sock", "containerPath": "/s"}]),
        "container-host-mounts",
    ),
    Case(
        "run-docker-socket",
        _set("volumes", [{"hostPath": "/run/docker.sock", "containerPath": "/s"}]),
        "container-host-mounts",
    ),
    Case(
        "socket-dotted",
        _set("volumes", [{"hostPath": "/var//run/./docker.sock", "containerPath": "/s"}]),
        "container-host-mounts",
    ),
    Case(
        "socket-dir-trailing-slash",
        _set("volumes", [{"hostPath": "/var/run/", "containerPath": "/s"}]),
        "container-host-mounts",
    ),
    Case("root-double-slash", _set("volumes", [{"hostPath": "//", "containerPath": "/h"}]), "container-host-mounts"),
    Case("root-dotdot", _set("volumes", [{"hostPath": "/etc/..", "containerPath": "/h"}]), "container-host-mounts"),
    Case("bind-mount-root", _set("mounts", [{"type": "bind", "source": "/", "target": "/h"}]), "container-host-mounts"),
    Case(
        "volume-mount-binding-socket",
        _set(
            "mounts",
            [
                {
                    "type": "volume",
                    "source": "v",
                    "target": "/h",
                    "volumeOptions": {"driverOptions": {"type": "none", "o": "bind", "device": "/run"}},
                }
            ],
        ),
        "container-host-mounts",
    ),
    Case("device", _set("devices", [{"hostPath": "/dev/mem"}]), "container-no-devices"),
    Case("device-cgroup-rule", _set("deviceCgroupRules", ["c 1:1 rwm"]), "container-no-devices"),
    Case("gpus", _set("gpus", "all"), "container-no-devices"),
    Case(
        "seccomp-unconfined",
        _set("securityOpts", ["no-new-privileges=true", "seccomp=unconfined"]),
        "container-security-profiles",
    ),
    Case(
        "seccomp-unconfined-legacy",
        _set("securityOpts", ["no-new-privileges:true", "seccomp:unconfined"]),
        "container-security-profiles",
    ),
    Case(
        "apparmor-unconfined",
        _set("securityOpts", ["no-new-privileges", "apparmor=unconfined"]),
        "container-security-profiles",
    ),
    Case("label-disable", _set("securityOpts", ["no-new-privileges", "label=disable"]), "container-security-profiles"),
    Case(
        "nnp-contradicted",
        _set("securityOpts", ["no-new-privileges:true", "no-new-privileges=false"]),
        "container-no-new-privileges",
    ),
    Case("nnp-false-only", _set("securityOpts", ["no-new-privileges:false"]), "container-no-new-privileges"),
    Case("nnp-removed", _drop("securityOpts"), "container-no-new-privileges"),
    Case("read-only-false", _set("readOnly", False), "container-read-only"),
    Case("read-only-removed", _drop("readOnly"), "container-read-only"),
    Case("user-0", _set("user", "0"), "container-non-root"),
    Case("user-00", _set("user", "00"), "container-non-root"),
    Case("user-0-0", _set("user", "0:0"), "container-non-root"),
    Case("user-root", _set("user", "root"), "container-non-root"),
    Case("user-spaced-root", _set("user", " 0 :0"), "container-non-root"),
    Case("user-0-1000", _set("user", "0:1000"), "container-non-root"),
    Case("user-name", _set("user", "toor:toor"), "container-non-root"),
    Case("user-removed", _drop("user"), "container-non-root"),
    Case("swap-unlimited", _set("memorySwap", -1), "container-swap-bounded"),
    Case("swap-removed", _drop("memorySwap"), "container-swap-bounded"),
    Case("swap-larger", _set("memorySwap", 1_000_000), "container-swap-bounded"),
    Case("log-driver-unbounded", _set("logDriver", "fluentd"), "container-log-rotation"),
    Case("log-size-unlimited", _set("logOpts", {"max-size": "-1", "max-file": "3"}), "container-log-rotation"),
    Case("log-files-zero", _set("logOpts", {"max-size": "10m", "max-file": "0"}), "container-log-rotation"),
    Case("log-huge", _set("logOpts", {"max-size": "100g", "max-file": "10"}), "container-log-rotation"),
    Case(
        "capability-cap-prefix",
        _set("capabilities", {"drops": ["ALL"], "adds": ["CAP_SYS_ADMIN"]}),
        "container-capabilities-dropped",
    ),
    Case(
        "capability-lower-case",
        _set("capabilities", {"drops": ["all"], "adds": ["cap_sys_ptrace"]}),
        "container-capabilities-dropped",
    ),
    Case("drops-not-all", _set("capabilities", {"drops": ["NET_RAW"]}), "container-capabilities-dropped"),
    Case("publish-all-ports", _set("publishAllPorts", True), "published-ports-nginx-only"),
    # What the program may send (CAP_ names, `=` options) is accepted.
    Case(
        "accepts-cap-prefixed-allowed",
        _set("capabilities", {"drops": ["ALL"], "adds": ["CAP_CHOWN", "cap_setuid"]}),
        None,
    ),
    Case("accepts-nnp-equals", _set("securityOpts", ["no-new-privileges=true"]), None),
    Case("accepts-nnp-bare", _set("securityOpts", ["no-new-privileges"]), None),
    Case("accepts-local-driver", _all(_set("logDriver", "local"), _set("logOpts", {})), None),
]

SECRET_CASES = [
    Case("dsn", _env("SENTRY_DSN=https://abc@o1.ingest.sentry.io/1"), "env-no-plaintext-secret"),
    Case("database-dsn", _env("DATABASE_DSN=host=db dbname=app"), "env-no-plaintext-secret"),
    Case("pgpassword", _env("PGPASSWORD=hunter2"), "env-no-plaintext-secret"),
    Case("pass", _env("SMTP_PASS=hunter2"), "env-no-plaintext-secret"),
    Case("passwd", _env("DB_PASSWD=hunter2"), "env-no-plaintext-secret"),
    Case("token", _env("GITHUB_TOKEN=ghp_x"), "env-no-plaintext-secret"),
    Case("token-lower-case", _env("api_token=x"), "env-no-plaintext-secret"),
    Case("api-key", _env("STRIPE_API_KEY=sk_live_x"), "env-no-plaintext-secret"),
    Case(
        "pem-block",
        _env("CERT_BUNDLE=-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"),
        "env-no-plaintext-secret",
    ),
    Case("url-with-password", _env("CALLBACK=https://user:hunter2@hooks.example.com/x"), "env-no-plaintext-secret"),
    Case("amqp-url", _env("BROKER=amqp://guest:guest@rabbit:5672/"), "env-no-plaintext-secret"),
    Case("file-that-is-a-value", _env("DB_PASSWORD_FILE=hunter2"), "env-no-plaintext-secret"),
    Case("accepts-secret-file-path", _env("DB_PASSWORD_FILE=/run/secrets/db"), None),
    Case("accepts-url-without-password", _env("API_URL=https://api.example.com/v1"), None),
    Case("accepts-key-id", _env("WEBSYS_BACKUP_KMS_KEY_ID=arn:aws:kms:x"), None),
]

MALFORMED_CASES = [
    Case("user-number", _set("user", 0), "container-non-root"),
    Case("user-null", _set("user", None), "container-non-root"),
    Case("user-list", _set("user", ["1000"]), "container-non-root"),
    Case("memory-text", _set("memory", "1024MB"), "container-memory-limit"),
    Case("memory-null", _set("memory", None), "container-memory-limit"),
    Case("capabilities-null", _set("capabilities", None), "container-capabilities-dropped"),
    Case("drops-string", _set("capabilities", {"drops": "ALL"}), "container-capabilities-dropped"),
    Case("security-opts-string", _set("securityOpts", "no-new-privileges:true"), "container-no-new-privileges"),
    Case("read-only-text", _set("readOnly", "yes"), "container-read-only"),
    Case("log-opts-null", _set("logOpts", None), "container-log-rotation"),
    Case("labels-nested", _set("labels", _nest(60)), "inputs-well-formed"),
    Case("env-huge", _env("NOTE=" + "x" * (2 * 1024 * 1024)), "inputs-well-formed"),
    Case("envs-many", _set("envs", [f"V{i}=x" for i in range(20_000)]), "inputs-well-formed"),
    Case("healthcheck-string", _set("healthcheck", "CMD true"), "container-healthcheck"),
]

SWARM_CASES = [
    Case(
        "host-network",
        lambda r: r["inputs"]["taskSpec"].update(networksAdvanced=[{"name": "host"}]),
        "container-host-namespaces",
    ),
    Case(
        "bind-docker-socket",
        _spec("mounts", [{"type": "bind", "source": "/var/run/docker.sock/", "target": "/s"}]),
        "container-host-mounts",
    ),
    Case("bind-root", _spec("mounts", [{"type": "bind", "source": "//", "target": "/h"}]), "container-host-mounts"),
    Case("user-zero", _spec("user", "00:00"), "container-non-root"),
    Case("capability", _spec("capAdds", ["CAP_SYS_ADMIN"]), "container-capabilities-dropped"),
    Case(
        "read-only-removed", lambda r: r["inputs"]["taskSpec"]["containerSpec"].pop("readOnly"), "container-read-only"
    ),
    Case("selinux-disabled", _spec("privileges", {"seLinuxContext": {"disable": True}}), "container-security-profiles"),
    Case(
        "env-url-password",
        lambda r: r["inputs"]["taskSpec"]["containerSpec"].setdefault("env", {}).update(REDIS="redis://:pw@redis:6379"),
        "env-no-plaintext-secret",
    ),
    Case(
        "log-unbounded",
        lambda r: r["inputs"]["taskSpec"].update(logDriver={"name": "json-file", "options": {}}),
        "container-log-rotation",
    ),
    Case("task-spec-malformed", lambda r: r["inputs"].update(taskSpec="broken"), "container-non-root"),
]


def _config(plan: PlanDoc, exempt: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A pack config that exempts, by URN, the cases in `exempt`: {case name: {rule: allow}}."""
    config: dict[str, Any] = {"all": "mandatory"}
    for name, rules in exempt.items():
        urn = next(r["urn"] for r in plan["resources"] if r["name"] == name)
        for rule, allow in rules.items():
            entry = {"reason": "reviewed exemption of the test's own config", "allow": allow}
            config.setdefault(rule, {"exemptions": {}})["exemptions"][urn] = entry
    return config


def _run_cases(
    plan: PlanDoc,
    base: Resource,
    cases: list[Case],
    tmp_path: Path,
    config: dict[str, Any] | None = None,
    already_in_plan: tuple[Case, ...] = (),
) -> tuple[int, int, list[str]]:
    """Judge each case on its own copy of `base` (named case-ID), in one run; `already_in_plan` are
    cases whose copies the caller has added."""
    plan = copy.deepcopy(plan)
    control = copy_as(base, "case-control")
    plan["resources"].append(control)
    for case in cases:
        twin = copy_as(base, f"case-{case.id}")
        case.mutate(twin)
        plan["resources"].append(twin)
    _, violations = run_policy(plan, tmp_path, config or {"all": "mandatory"})
    reported = by_urn(violations)
    assert reported.get(control["urn"], set()) == set(), "the unchanged copy must pass"
    prefix = control["urn"].rsplit("::", 1)[0]
    return judge([*cases, *already_in_plan], reported, lambda case: f"{prefix}::case-{case.id}")


COUNTS: dict[str, tuple[int, int]] = {}


def _report(name: str, result: tuple[int, int, list[str]]) -> None:
    caught, tried, misses = result
    COUNTS[name] = (caught, tried)
    print(f"\n{name}: caught {caught}/{tried}")
    assert misses == [], misses
    assert caught == tried


@pytest.fixture(scope="module")
def production(stack_plans: dict[str, Plan]) -> PlanDoc:
    return stack_plans["production"].to_json()


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> PlanDoc:
    crt, key = make_certificate(tmp_path_factory.mktemp("tls"))
    tls = [f"tlsCertificate={crt.read_text()}", f"tlsPrivateKey={key.read_text()}"]
    return plan_for("production", sets=["platform=swarm"], secrets=tls).to_json()


def test_exemptions_go_by_urn_and_cover_their_property_only(production: PlanDoc, tmp_path: Path) -> None:
    plan = copy.deepcopy(production)
    backend = find(plan, BACKEND)
    # The test's own exemptions, by URN, on copies of the backend: a proxy, and an exporter.
    grants: dict[str, dict[str, Any]] = {
        EXEMPT: {"container-non-root": [], "published-ports-nginx-only": [80, 443]},
        EXEMPT_EXPORTER: {
            "container-capabilities-dropped": ["DAC_READ_SEARCH"],
            "container-host-namespaces": ["pid"],
            "container-host-mounts": ["/"],
        },
    }
    exempt = {}
    for kind, case in EXEMPT_URN_CASES:
        twin = copy_as(backend, f"case-{case.id}")
        case.mutate(twin)
        plan["resources"].append(twin)
        exempt[twin["name"]] = grants[kind]
    # Relabelled and renamed copies: they say they are nginx or an exporter; their URNs are not listed.
    on_exempt_urns = tuple(case for _, case in EXEMPT_URN_CASES)
    config = _config(plan, exempt)
    # Entries keyed by what a resource says it is (the service label) exempt nothing.
    for rule in ("container-non-root", "published-ports-nginx-only", "container-capabilities-dropped"):
        for service in ("nginx", "cadvisor", "nginx-exporter", "node-exporter"):
            config[rule]["exemptions"][service] = {"reason": "keyed by a label, which the change sets", "allow": [443]}
    _report("exemptions", _run_cases(plan, backend, EXEMPTION_CASES, tmp_path, config, on_exempt_urns))


def test_container_settings_without_a_rule_before(production: PlanDoc, tmp_path: Path) -> None:
    _report("container settings", _run_cases(production, find(production, BACKEND), CONTAINER_CASES, tmp_path))


def test_a_volume_that_binds_a_host_path(production: PlanDoc, tmp_path: Path) -> None:
    plan = copy.deepcopy(production)
    volume = copy_as(find(plan, "redis-data"), "case-bound-volume")
    volume["inputs"]["driverOpts"] = {"type": "none", "o": "bind", "device": "/var/run"}
    plan["resources"].append(volume)
    _, violations = run_policy(plan, tmp_path, {"all": "mandatory"})
    assert "container-host-mounts" in by_urn(violations)[volume["urn"]]


def test_swarm_task_specs(swarm: PlanDoc, tmp_path: Path) -> None:
    _report("swarm task specs", _run_cases(swarm, find(swarm, SWARM_BACKEND), SWARM_CASES, tmp_path))


def test_secrets_in_env_by_another_name(production: PlanDoc, tmp_path: Path) -> None:
    _report("secrets in env", _run_cases(production, find(production, BACKEND), SECRET_CASES, tmp_path))


def test_malformed_inputs_are_violations(production: PlanDoc, tmp_path: Path) -> None:
    _report("malformed inputs", _run_cases(production, find(production, BACKEND), MALFORMED_CASES, tmp_path))


def test_no_secret_value_is_echoed(production: PlanDoc, tmp_path: Path) -> None:
    plan = copy.deepcopy(production)
    twin = copy_as(find(plan, BACKEND), "case-echo")
    twin["inputs"]["envs"] += ["PGPASSWORD=hunter2", "BROKER=amqp://guest:hunter2@rabbit/"]
    plan["resources"].append(twin)
    _, violations = run_policy(plan, tmp_path, {"all": "mandatory"})
    assert by_urn(violations)[twin["urn"]] == {"env-no-plaintext-secret"}
    assert "hunter2" not in str(violations)
