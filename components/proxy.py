"""The edge: one nginx container, the only one that publishes host ports (80 and 443).

The container is created once with a bootstrap configuration that never changes. Everything a
deploy changes (the rendered nginx.conf with the active color's replicas, the certificate and
key) reaches the running nginx through a pulumi-command `local.Command` that runs
`websys/push/push-config.sh` with `nginx-apply.sh`: stage the files, `nginx -t`, reload. A switch of color or a
change of replica count therefore updates that command, never the container, and a config that
nginx refuses fails `pulumi up` with nginx's message while the old one keeps serving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_docker as docker
import pulumi_tls as tls
from pydantic import SecretStr

from components.cpus import docker_cpus
from components.hardening import hardened
from websys import naming
from websys.push import NGINX_APPLY_SCRIPT, PUSH_SCRIPT, PushedFile, push_environment, script_text
from websys.render.nginx import CERTIFICATE_PATH, CONFIG_PATH, HEALTH_PATH, PRIVATE_KEY_PATH, STATUS_PATH
from websys.settings.app import LoggingSettings
from websys.settings.services import ProxySettings
from websys.settings.text import sh_word

HTTP_PORT = 80
HTTPS_PORT = 443
# The master binds 80/443 and hands workers to the `nginx` user; nothing else is needed.
CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "NET_BIND_SERVICE", "SETGID", "SETUID"]


@dataclass(frozen=True)
class TlsSource:
    """A certificate and key from secret config; when both are None, a self-signed one for
    `dns_names` if `self_signed` (development), else none: the push then refuses to run."""

    certificate: SecretStr | None
    private_key: SecretStr | None
    dns_names: Sequence[str]
    self_signed: bool
    stack: str  # for the message that says how to set them
    validity_days: int = 365


@dataclass(frozen=True)
class ReverseProxyArgs:
    environment: str
    proxy: ProxySettings
    logging: LoggingSettings
    docker_host: str  # where `docker exec` reaches the container: the stack's Docker host
    network: pulumi.Input[str]  # the edge network, shared with the app replicas
    config: str  # the rendered nginx.conf (websys.render.nginx.render_nginx)
    bootstrap_config: str  # what the container starts with (render_nginx_bootstrap)
    tls: TlsSource
    # The replicas the config routes to: the push waits for them (nginx -t resolves their names).
    upstream_containers: Sequence[pulumi.Resource] = field(default_factory=list)
    labels: Mapping[str, str] = field(default_factory=dict)


class ReverseProxy(pulumi.ComponentResource):
    container_name: str
    status_url: str
    certificate_source: str

    def __init__(self, name: str, args: ReverseProxyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:proxy:ReverseProxy", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.container_name = naming.nginx(args.environment)
        self.status_url = f"http://{self.container_name}:{args.proxy.status_port}{STATUS_PATH}"

        certificate, private_key, missing = self._tls(name, args.tls)
        if args.tls.certificate is not None:
            self.certificate_source = "config"
        else:
            self.certificate_source = "self-signed" if args.tls.self_signed else "missing"

        image = docker.RemoteImage(f"{name}-image", name=args.proxy.image, keep_locally=True, opts=child)
        labels = {**args.labels, "com.websys.environment": args.environment, "com.websys.service": "nginx"}
        self.container = docker.Container(
            f"{name}-nginx",
            name=self.container_name,
            hostname=self.container_name,
            image=image.image_id,  # not .name: a name input recreates the container on every run
            ports=[
                docker.ContainerPortArgs(internal=HTTP_PORT, external=HTTP_PORT),
                docker.ContainerPortArgs(internal=HTTPS_PORT, external=HTTPS_PORT),
            ],
            # Only this never-changing bootstrap is uploaded: uploads are create-time inputs, and
            # a changed upload would replace (stop, then recreate) the serving container.
            uploads=[docker.ContainerUploadArgs(file=CONFIG_PATH, content=args.bootstrap_config)],
            **hardened(
                memory_mb=args.proxy.memory_mb, logging=args.logging, labels=labels, capability_adds=CAPABILITIES
            ),
            cpus=docker_cpus(args.proxy.cpus),
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=[
                    "CMD",
                    "wget",
                    "-q",
                    "-O",
                    "/dev/null",
                    f"http://127.0.0.1:{args.proxy.status_port}{HEALTH_PATH}",
                ],
                interval="10s",
                timeout="5s",
                retries=3,
                start_period="5s",
            ),
            wait=True,
            wait_timeout=60,
            destroy_grace_seconds=30,  # SIGQUIT lets in-flight requests finish (the image's stop signal)
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=args.network, aliases=[self.container_name, "nginx"])
            ],
            opts=child,
        )

        environment: dict[str, pulumi.Input[str]] = {
            "DOCKER_HOST": args.docker_host,
            **push_environment(
                "nginx",
                f"docker exec -i {sh_word(self.container_name)}",
                NGINX_APPLY_SCRIPT,
                [
                    PushedFile("WEBSYS_NGINX_CONFIG", CONFIG_PATH, args.config),
                    PushedFile("WEBSYS_TLS_CERTIFICATE", CERTIFICATE_PATH, certificate),
                    PushedFile("WEBSYS_TLS_PRIVATE_KEY", PRIVATE_KEY_PATH, private_key, mode="600"),
                ],
                refuse=missing,
            ),
        }
        # Runs again whenever its environment changes (a new config, certificate or key), and is
        # replaced (so runs again) when the container is: a new container needs the files too.
        self.config_push = command.local.Command(
            f"{name}-config",
            create=script_text(PUSH_SCRIPT),
            interpreter=["/bin/sh", "-c"],
            environment=environment,
            triggers=[self.container.id],
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container, *args.upstream_containers]),
        )
        self.register_outputs(
            {
                "container_name": self.container_name,
                "status_url": self.status_url,
                "certificate_source": self.certificate_source,
            }
        )

    def _tls(self, name: str, source: TlsSource) -> tuple[pulumi.Input[str], pulumi.Input[str], str]:
        """Certificate and key, and (when there are none) why the push must refuse to run."""
        if source.certificate is not None and source.private_key is not None:
            return (
                pulumi.Output.secret(source.certificate.get_secret_value()),
                pulumi.Output.secret(source.private_key.get_secret_value()),
                "",
            )
        if not source.self_signed:
            # Never a self-signed certificate outside development: nginx keeps its bootstrap
            # configuration (no public listener) and `pulumi up` fails with this message.
            missing = (
                f"no TLS certificate for {source.stack}: run `pulumi config set --secret websys:tlsCertificate "
                f"--stack {source.stack} < fullchain.pem` and `pulumi config set --secret websys:tlsPrivateKey "
                f"--stack {source.stack} < privkey.pem`, then `pulumi up` again"
            )
            return "", "", missing
        key = tls.PrivateKey(
            f"{name}-tls-key",
            algorithm="ECDSA",
            ecdsa_curve="P256",
            opts=pulumi.ResourceOptions(parent=self),  # the provider marks private_key_pem secret
        )
        certificate = tls.SelfSignedCert(
            f"{name}-tls-certificate",
            private_key_pem=key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=source.dns_names[0], organization="WebSys"),
            dns_names=list(source.dns_names),
            validity_period_hours=source.validity_days * 24,
            early_renewal_hours=30 * 24,  # `pulumi up` in the last 30 days renews it
            allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return certificate.cert_pem, pulumi.Output.secret(key.private_key_pem), ""
