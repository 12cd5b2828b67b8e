"""The edge as registered with the engine: nginx, its certificate, and the checked config push."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.edge_support import make_certificate
from tests.planning import CONTAINER, containers, plan_for, run_websys, stack_config, stack_file, stack_settings
from websys.plan import SECRET, Plan, PlannedResource
from websys.plan.mocks import digest
from websys.render.nginx import CONFIG_PATH, render_nginx, render_nginx_bootstrap
from websys.settings import SettingsError, parse_settings

COMMAND = "command:local:Command"
TLS_KEY = "tls:index/privateKey:PrivateKey"
TLS_CERT = "tls:index/selfSignedCert:SelfSignedCert"
# Resources whose change would interrupt service or lose data.
STATEFUL = {
    CONTAINER,
    "docker:index/volume:Volume",
    "docker:index/network:Network",
    "docker:index/remoteImage:RemoteImage",
    "random:index/randomPassword:RandomPassword",
    TLS_KEY,
    TLS_CERT,
    "aws:s3/bucket:Bucket",
}
STACKS = ["development", "staging", "production"]


def nginx_container(plan: Plan) -> PlannedResource:
    return plan.by_name("proxy-nginx")


def config_push(plan: Plan) -> PlannedResource:
    return plan.by_name("proxy-config")


def changed(before: Plan, after: Plan) -> tuple[list[PlannedResource], list[str], list[str]]:
    """Resources present in both whose registration differs; URNs added; URNs removed."""
    old = {r.urn: r for r in before.resources}
    new = {r.urn: r for r in after.resources}
    differing = [
        new[urn]
        for urn in old.keys() & new.keys()
        if old[urn].to_json() != new[urn].to_json() and new[urn].type != "pulumi:pulumi:Stack"
    ]
    return differing, sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())


@pytest.mark.parametrize("stack", STACKS)
def test_only_nginx_publishes_host_ports_and_only_80_and_443(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    publishing = [c for c in plan.of_type(CONTAINER) if c.inputs.get("ports")]
    # Development's S3 emulator is reachable from this machine only (127.0.0.1): the AWS provider of
    # `pulumi up` and the developer's `websys backup` talk to it from the host.
    emulator = [c for c in publishing if c.name == "s3-emulator"]
    assert emulator == [] or (
        stack == "development" and all(p["ip"] == "127.0.0.1" for p in emulator[0].inputs["ports"])
    )
    assert [c.name for c in publishing if c.name != "s3-emulator"] == ["proxy-nginx"]
    ports = nginx_container(plan).inputs["ports"]
    assert sorted((p["internal"], p["external"]) for p in ports) == [(80, 80), (443, 443)]
    assert nginx_container(plan).inputs["name"] == f"websys-{stack}-nginx"


@pytest.mark.parametrize("stack", STACKS)
def test_nginx_container_is_pinned_hardened_and_starts_from_the_bootstrap(
    stack_plans: dict[str, Plan], stack: str
) -> None:
    plan = stack_plans[stack]
    inputs = nginx_container(plan).inputs
    image = plan.by_name("proxy-image")
    assert image.inputs["name"] == "nginx:1.28.0-alpine"
    assert inputs["image"].startswith("sha256:")
    assert image.urn in nginx_container(plan).dependencies
    assert inputs["capabilities"]["drops"] == ["ALL"]
    assert "SYS_ADMIN" not in inputs["capabilities"]["adds"]
    assert "no-new-privileges=true" in inputs["securityOpts"]
    assert inputs["restart"] == "unless-stopped"
    assert inputs["logDriver"] == "json-file"
    assert inputs["wait"] is True
    assert [n["name"] for n in inputs["networksAdvanced"]] == [f"websys-{stack}-edge"]
    assert inputs["uploads"] == [{"content": render_nginx_bootstrap(stack_settings(stack)), "file": CONFIG_PATH}]
    assert "http://127.0.0.1:8081/health" in inputs["healthcheck"]["tests"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_push_carries_the_rendered_config_and_waits_for_what_it_routes_to(
    stack_plans: dict[str, Plan], stack: str
) -> None:
    plan = stack_plans[stack]
    push = config_push(plan)
    environment = push.inputs["environment"]
    assert environment["WEBSYS_NGINX_CONFIG"] == render_nginx(stack_settings(stack))
    assert environment["WEBSYS_EXEC"] == f"docker exec -i websys-{stack}-nginx"
    assert environment["WEBSYS_FILES"].splitlines() == [
        "WEBSYS_NGINX_CONFIG 644 /etc/nginx/nginx.conf",
        "WEBSYS_TLS_CERTIFICATE 644 /etc/nginx/tls/websys.crt",
        "WEBSYS_TLS_PRIVATE_KEY 600 /etc/nginx/tls/websys.key",
    ]
    assert environment["DOCKER_HOST"] == plan.of_type("pulumi:providers:docker")[0].inputs["host"]
    assert environment["WEBSYS_TLS_PRIVATE_KEY"] == (SECRET if stack == "development" else "")
    assert push.inputs["interpreter"] == ["/bin/sh", "-c"]
    assert "nginx-apply.sh" in environment["WEBSYS_APPLY"]
    assert "push-config.sh" in push.inputs["create"]
    # A new nginx container gets the files again.
    assert push.inputs["triggers"] == [digest(CONTAINER, "proxy-nginx")]  # the container's id
    assert "triggers[*]" in push.options.replace_on_changes
    needed = {nginx_container(plan).urn, *(c.urn for c in containers(plan, color="blue"))}
    assert needed <= set(push.dependencies)
    assert not {c.urn for c in containers(plan, color="green")} & set(push.dependencies)


def test_switching_color_changes_no_container_and_no_stateful_resource() -> None:
    ready = ["backend.green.replicas=3", "frontend.green.replicas=2"]
    before = plan_for("production", sets=ready)
    after = plan_for("production", sets=[*ready, "deploy.activeColor=green"])
    differing, added, removed = changed(before, after)
    assert not added
    assert not removed
    assert "proxy-config" in [r.name for r in differing]
    assert not [r.name for r in differing if r.type in STATEFUL]
    config = config_push(after).inputs["environment"]["WEBSYS_NGINX_CONFIG"]
    assert "websys-production-backend-green-3:8000" in config
    assert "-blue-" not in config
    assert nginx_container(before).to_json() == nginx_container(after).to_json()
    green = {c.urn for c in containers(after, color="green")}
    assert green <= set(config_push(after).dependencies)


def test_changing_a_replica_count_adds_replicas_and_only_updates_the_push(stack_plans: dict[str, Plan]) -> None:
    before = stack_plans["production"]
    after = plan_for("production", sets=["backend.blue.replicas=5"])
    differing, added, removed = changed(before, after)
    assert [u.rsplit("::", 1)[1] for u in added] == ["backend-blue-4", "backend-blue-5"]
    assert not removed
    assert "proxy-config" in [r.name for r in differing]
    assert not [r.name for r in differing if r.type in STATEFUL]
    assert nginx_container(before).to_json() == nginx_container(after).to_json()
    assert "websys-production-backend-blue-5:8000" in config_push(after).inputs["environment"]["WEBSYS_NGINX_CONFIG"]


def test_a_switch_to_a_color_without_replicas_is_refused() -> None:
    result = run_websys(
        "plan",
        "production",
        "--stack-file",
        str(stack_file("production")),
        "--set",
        "frontend.green.replicas=0",
        "--set",
        "deploy.activeColor=green",
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "--set deploy.activeColor=green: websys:deploy.activeColor: 'green' has no frontend replicas; "
        "set frontend.green.replicas to at least 1 before switching traffic to it"
    )


def test_development_generates_a_self_signed_certificate_with_a_secret_key(stack_plans: dict[str, Plan]) -> None:
    plan = stack_plans["development"]
    key = plan.by_name("proxy-tls-key")
    cert = plan.by_name("proxy-tls-certificate")
    assert (key.inputs["algorithm"], key.inputs["ecdsaCurve"]) == ("ECDSA", "P256")
    assert "privateKeyPem" in key.options.additional_secret_outputs
    assert cert.inputs["privateKeyPem"] == SECRET
    assert cert.inputs["dnsNames"] == ["localhost"]
    assert "server_auth" in cert.inputs["allowedUses"]
    assert key.urn in cert.dependencies
    environment = config_push(plan).inputs["environment"]
    assert environment["WEBSYS_TLS_CERTIFICATE"].startswith("-----BEGIN CERTIFICATE-----")
    assert environment["WEBSYS_TLS_PRIVATE_KEY"] == SECRET
    assert plan.outputs["tlsCertificate"] == "self-signed"
    assert plan.outputs["nginxStatusUrl"] == "http://websys-development-nginx:8081/stub_status"


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_staging_and_production_never_get_a_self_signed_certificate(stack_plans: dict[str, Plan], stack: str) -> None:
    """Without tlsCertificate/tlsPrivateKey the stack still plans, but the push refuses to run:
    `pulumi up` fails with how to set them, and nginx never serves a certificate nobody chose."""
    plan = stack_plans[stack]
    assert not plan.of_type(TLS_KEY)
    assert not plan.of_type(TLS_CERT)
    assert plan.outputs["tlsCertificate"] == "missing"
    missing = config_push(plan).inputs["environment"]["WEBSYS_REFUSE"]
    assert f"pulumi config set --secret websys:tlsCertificate --stack {stack}" in missing
    assert "WEBSYS_REFUSE" in config_push(plan).inputs["create"]
    assert "WEBSYS_REFUSE" not in config_push(stack_plans["development"]).inputs["environment"]


def test_production_takes_certificate_and_key_from_secret_config(tmp_path: Path) -> None:
    crt, key = make_certificate(tmp_path)
    certificate, private_key = crt.read_text(), key.read_text()
    out = tmp_path / "plan.json"
    result = run_websys(
        "plan",
        "production",
        "--stack-file",
        str(stack_file("production")),
        "--json",
        "--out",
        str(out),
        "--secret",
        f"tlsCertificate={certificate}",
        "--secret",
        f"tlsPrivateKey={private_key}",
    )
    assert result.returncode == 0, result.stderr
    body = private_key.splitlines()[1]
    for text in (result.stdout, result.stderr, out.read_text()):
        assert body not in text, "the private key leaked into the plan"
    plan = json.loads(result.stdout)
    types = {r["type"] for r in plan["resources"]}
    assert TLS_KEY not in types
    assert TLS_CERT not in types
    push = next(r for r in plan["resources"] if r["name"] == "proxy-config")
    assert push["inputs"]["environment"]["WEBSYS_TLS_CERTIFICATE"] == SECRET
    assert push["inputs"]["environment"]["WEBSYS_TLS_PRIVATE_KEY"] == SECRET
    assert "WEBSYS_REFUSE" not in push["inputs"]["environment"]
    assert plan["outputs"]["tlsCertificate"] == "config"


def _settings_with_secrets(**secrets: str) -> None:
    config = stack_config("production", secrets=[f"{key}={value}" for key, value in secrets.items()])
    parse_settings("production", config.engine_form(), sorted(config.secret_keys))


def test_certificate_and_key_come_together_and_are_checked_without_echo(tmp_path: Path) -> None:
    crt, key = make_certificate(tmp_path)
    with pytest.raises(SettingsError) as caught:
        _settings_with_secrets(tlsCertificate=crt.read_text())
    assert str(caught.value) == (
        "Pulumi.production.yaml: websys:tlsPrivateKey: tlsCertificate and tlsPrivateKey are set together, or neither"
    )
    with pytest.raises(SettingsError) as caught:
        _settings_with_secrets(tlsCertificate=crt.read_text(), tlsPrivateKey="hunter2-not-a-key")
    assert "websys:tlsPrivateKey: is not an unencrypted PEM private key" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        _settings_with_secrets(tlsCertificate=key.read_text(), tlsPrivateKey=key.read_text())
    assert "websys:tlsCertificate: is not a PEM certificate" in str(caught.value)
    assert "PRIVATE" not in str(caught.value)


def test_a_plaintext_private_key_in_a_stack_file_is_refused(tmp_path: Path) -> None:
    edited = tmp_path / "Pulumi.production.yaml"
    edited.write_text(stack_file("production").read_text() + "  websys:tlsPrivateKey: not-a-real-key\n")
    result = run_websys("plan", "production", "--stack-file", str(edited))
    assert result.returncode == 2
    assert "websys:tlsPrivateKey: a secret must not be stored in plaintext" in result.stderr
    assert "not-a-real-key" not in result.stderr


def test_the_documented_switch_command_works_as_pulumi_stores_it(tmp_path: Path) -> None:
    """`pulumi config set websys:deploy.activeColor green` (no --path) stores a dotted key, and
    without --path every value is a string: both mean what they say."""
    edited = tmp_path / "Pulumi.production.yaml"
    edited.write_text(
        stack_file("production").read_text()
        + '  websys:backend.green.replicas: "3"\n'
        + '  websys:frontend.green.replicas: "2"\n'
        + "  websys:deploy.activeColor: green\n"
    )
    result = run_websys("plan", "production", "--json", "--stack-file", str(edited))
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["outputs"]["activeColor"] == "green"
    assert len(plan["outputs"]["backendContainers"]["green"]) == 3
    push = next(r for r in plan["resources"] if r["name"] == "proxy-config")
    assert "websys-production-backend-green-3:8000" in push["inputs"]["environment"]["WEBSYS_NGINX_CONFIG"]
