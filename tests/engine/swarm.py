"""The test applier's Swarm part: secrets, configs and services of a recorded plan, as the provider.

TEST CODE, NOT A DEPLOY PATH. It follows kreuzwerker/terraform-provider-docker (pulumi-docker's
upstream): internal/provider/resource_docker_secret.go and resource_docker_config.go (SecretCreate
and ConfigCreate with the name, labels and base64 data; both immutable: a change is a new object),
resource_docker_service_funcs.go `resourceDockerServiceCreate`/`Update` (ServiceCreate, or
ServiceUpdate at the service's version, then with `converge_config` a poll until every replica's
task runs, within its timeout) and resource_docker_service_structures.go `createServiceSpec`
(task template, container spec, resources, restart policy, placement, networks, log driver, mode,
update and rollback configs, endpoint spec).

Stand-in changes the applier makes, because this machine's kernel has no IPVS and no ESP (they
are the applier's, not the program's): every service's endpoint mode is `dnsrr` (no virtual IP),
ports are published in `host` mode (no routing mesh), and overlays are not encrypted.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from tests.engine.api import ApiError
from tests.engine.applier import (
    HANDLED,
    NETWORK,
    Applier,
    ApplyError,
    _labels,
    go_duration_ns,
)
from websys.plan import PlannedResource
from websys.plan.mocks import digest

SERVICE = "docker:index/service:Service"
SECRET = "docker:index/secret:Secret"
CONFIG = "docker:index/serviceConfig:ServiceConfig"
SWARM_HANDLED = (*HANDLED, SERVICE, SECRET, CONFIG)
_ID_FROM_NAME = (SECRET, CONFIG)


def mock_id(resource: PlannedResource, inputs: dict[str, Any]) -> str:
    """The id the plan's mocks gave a resource (websys/plan/mocks.py), which other inputs carry."""
    if resource.type in _ID_FROM_NAME:
        return digest(resource.type, resource.name, inputs.get("name"))
    return digest(resource.type, resource.name)


def _duration(value: str | None) -> int | None:
    return go_duration_ns(value) if value else None


def _mount(item: dict[str, Any], run_id: str) -> dict[str, Any]:
    mount: dict[str, Any] = {"Type": item["type"], "Target": item["target"], "Source": item.get("source", "")}
    if item.get("readOnly"):
        mount["ReadOnly"] = True
    if "volumeOptions" in item:
        options = item["volumeOptions"]
        mount["VolumeOptions"] = {
            "NoCopy": options.get("noCopy", False),
            "Labels": _labels(options.get("labels", []), run_id),
        }
    if "tmpfsOptions" in item:
        tmpfs = item["tmpfsOptions"]
        mount["TmpfsOptions"] = {
            k: v for k, v in (("SizeBytes", tmpfs.get("sizeBytes")), ("Mode", tmpfs.get("mode"))) if v
        }
    return mount


def _update_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if not config:
        return None
    return {
        "Parallelism": config.get("parallelism", 1),
        "Delay": _duration(config.get("delay")) or 0,
        "FailureAction": config.get("failureAction", "pause"),
        "Monitor": _duration(config.get("monitor")) or 0,
        "MaxFailureRatio": float(config.get("maxFailureRatio", "0")),
        "Order": config.get("order", "stop-first"),
    }


class SwarmApplier(Applier):
    """The applier, with Swarm's objects; ids of networks, secrets and configs map to the real ones."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.real_ids: dict[str, str] = {}  # the plan's mock id -> the engine's id
        self.services: dict[str, str] = {}  # service name -> id

    def selected(self, select: Any) -> list[PlannedResource]:
        return [r for r in self.plan.plan.resources if r.type in SWARM_HANDLED and select(r)]

    def create(self, resource: PlannedResource) -> None:
        inputs = self.plan.inputs[resource.urn]
        if resource.type in (SECRET, CONFIG):
            self.create_object(resource, inputs)
        elif resource.type == SERVICE:
            self.create_service(resource, inputs)
        elif resource.type == NETWORK:
            unencrypted = {
                **inputs,
                "options": {k: v for k, v in inputs.get("options", {}).items() if k != "encrypted"},
            }
            self.real_ids[mock_id(resource, inputs)] = self._network(unencrypted)
        else:
            super().create(resource)

    def create_object(self, resource: PlannedResource, inputs: dict[str, Any]) -> None:
        # A secret's `data` is given base64-encoded; a config's `data_raw` is encoded by the provider.
        data = inputs["data"] if resource.type == SECRET else base64.b64encode(inputs["dataRaw"].encode()).decode()
        body = {"Name": inputs["name"], "Labels": _labels(inputs.get("labels", []), self.run_id), "Data": data}
        path = "/secrets/create" if resource.type == SECRET else "/configs/create"
        created = self.api.call("POST", path, body)
        self.real_ids[mock_id(resource, inputs)] = created["ID"]
        self._record(resource.type, created["ID"])

    def service_spec(self, inputs: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0912 one branch per input
        task = inputs["taskSpec"]
        spec = task["containerSpec"]
        container: dict[str, Any] = {
            "Image": self.image_for(spec["image"]),
            "Labels": {item["label"]: item["value"] for item in spec.get("labels", [])},
        }
        for key, api_key in (
            ("commands", "Command"),
            ("args", "Args"),
            ("hostname", "Hostname"),
            ("dir", "Dir"),
            ("user", "User"),
            ("groups", "Groups"),
            ("readOnly", "ReadOnly"),
            ("stopSignal", "StopSignal"),
            ("capDrops", "CapabilityDrop"),
            ("capAdds", "CapabilityAdd"),
            ("sysctl", "Sysctls"),
        ):
            if spec.get(key):
                container[api_key] = spec[key]
        if spec.get("env"):
            container["Env"] = [f"{key}={value}" for key, value in sorted(spec["env"].items())]
        if spec.get("mounts"):
            container["Mounts"] = [_mount(item, self.run_id) for item in spec["mounts"]]
        if spec.get("stopGracePeriod"):
            container["StopGracePeriod"] = go_duration_ns(spec["stopGracePeriod"])
        if spec.get("healthcheck"):
            check = spec["healthcheck"]
            container["Healthcheck"] = {
                "Test": check.get("tests", []),
                "Interval": _duration(check.get("interval")) or 0,
                "Timeout": _duration(check.get("timeout")) or 0,
                "StartPeriod": _duration(check.get("startPeriod")) or 0,
                "Retries": check.get("retries", 0),
            }
        for key, api_key, id_key, name_key in (
            ("secrets", "Secrets", "secretId", "secretName"),
            ("configs", "Configs", "configId", "configName"),
        ):
            references = []
            for item in spec.get(key, []):
                references.append(
                    {
                        "File": {
                            "Name": item["fileName"],
                            "UID": item.get("fileUid", "0"),
                            "GID": item.get("fileGid", "0"),
                            "Mode": item.get("fileMode", 0o444),
                        },
                        api_key[:-1] + "ID": self.real_ids[item[id_key]],
                        api_key[:-1] + "Name": item[name_key],
                    }
                )
            if references:
                container[api_key] = references
        template: dict[str, Any] = {"ContainerSpec": container, "ForceUpdate": task.get("forceUpdate", 0)}
        resources = task.get("resources", {})
        if resources:
            template["Resources"] = {
                "Limits": {"NanoCPUs": resources.get("limits", {}).get("nanoCpus", 0),
                           "MemoryBytes": resources.get("limits", {}).get("memoryBytes", 0)},
                "Reservations": {"NanoCPUs": resources.get("reservation", {}).get("nanoCpus", 0),
                                 "MemoryBytes": resources.get("reservation", {}).get("memoryBytes", 0)},
            }  # fmt: skip
        if task.get("restartPolicy"):
            policy = task["restartPolicy"]
            template["RestartPolicy"] = {
                "Condition": policy.get("condition", "any"),
                "Delay": _duration(policy.get("delay")) or 0,
                "MaxAttempts": policy.get("maxAttempts", 0),
                "Window": _duration(policy.get("window")) or 0,
            }
        if task.get("placement"):
            placement = task["placement"]
            template["Placement"] = {
                "Constraints": placement.get("constraints", []),
                "Preferences": [
                    {"Spread": {"SpreadDescriptor": pref.removeprefix("spread=")}}
                    for pref in placement.get("prefs", [])
                ],
                "MaxReplicas": placement.get("maxReplicas", 0),
            }
        if task.get("networksAdvanceds"):
            template["Networks"] = [
                {"Target": self.real_ids[item["id"]], "Aliases": item.get("aliases", [])}
                for item in task["networksAdvanceds"]
            ]
        if task.get("logDriver"):
            template["LogDriver"] = {"Name": task["logDriver"]["name"], "Options": task["logDriver"].get("options", {})}
        body: dict[str, Any] = {
            "Name": inputs["name"],
            "Labels": _labels(inputs.get("labels", []), self.run_id),
            "TaskTemplate": template,
        }
        mode = inputs.get("mode", {})
        if mode.get("global"):
            body["Mode"] = {"Global": {}}
        else:
            body["Mode"] = {"Replicated": {"Replicas": mode.get("replicated", {}).get("replicas", 1)}}
        if inputs.get("updateConfig"):
            body["UpdateConfig"] = _update_config(inputs["updateConfig"])
        if inputs.get("rollbackConfig"):
            body["RollbackConfig"] = _update_config(inputs["rollbackConfig"])
        ports = inputs.get("endpointSpec", {}).get("ports", [])
        # Stand-in: dnsrr and host-mode publishing (no IPVS here); the plan's mode and ports otherwise.
        body["EndpointSpec"] = {
            "Mode": "dnsrr",
            "Ports": [
                {
                    "Name": port.get("name", ""),
                    "Protocol": port.get("protocol", "tcp"),
                    "TargetPort": port["targetPort"],
                    "PublishedPort": port.get("publishedPort", 0),
                    "PublishMode": "host",
                }
                for port in ports
            ],
        }
        return body

    def create_service(self, resource: PlannedResource, inputs: dict[str, Any]) -> None:
        created = self.api.call("POST", "/services/create", self.service_spec(inputs))
        self.services[inputs["name"]] = created["ID"]
        self._record(SERVICE, created["ID"])
        self.converge(inputs)

    def update_service(self, inputs: dict[str, Any]) -> None:
        """ServiceUpdate at the service's current version with the plan's new spec, then converge."""
        service = self.api.call("GET", f"/services/{inputs['name']}")
        version = service["Version"]["Index"]
        self.api.call(
            "POST", f"/services/{service['ID']}/update", self.service_spec(inputs), query={"version": str(version)}
        )
        self.converge(inputs)
        status = self.api.call("GET", f"/services/{service['ID']}").get("UpdateStatus", {})
        if status.get("State", "completed") != "completed":  # the provider fails an update Swarm undid
            raise ApplyError(f"service {inputs['name']}: update {status.get('State')}: {status.get('Message', '')}")

    def converge(self, inputs: dict[str, Any]) -> None:
        """As the provider's converge_config: every wanted replica has a running task of the current spec."""
        config = inputs.get("convergeConfig")
        if not config:
            return
        name = inputs["name"]
        wanted = inputs.get("mode", {}).get("replicated", {}).get("replicas", 1)
        deadline = time.monotonic() + go_duration_ns(config.get("timeout", "3m")) / 1e9
        time.sleep(go_duration_ns(config.get("delay", "7s")) / 1e9)
        while True:
            service = self.api.call("GET", f"/services/{name}")
            update = service.get("UpdateStatus", {}).get("State", "")
            tasks = self.api.call(
                "GET", "/tasks", query={"filters": f'{{"service":["{name}"],"desired-state":["running"]}}'}
            )
            running = [t for t in tasks if t["Status"]["State"] == "running"]
            if len(running) == wanted and update in ("", "completed", "rollback_completed"):
                return
            if time.monotonic() > deadline or self.stopping.is_set():
                states = sorted(f"{t['Status']['State']}: {t['Status'].get('Err', '')}" for t in tasks)
                raise ApplyError(f"service {name} did not converge ({update or 'creating'}; tasks {states})")
            time.sleep(1)

    def _delete(self, path: str) -> None:
        """Remove an object; one a test already removed (an old secret after a rotation) is fine."""
        try:
            self.api.call("DELETE", path)
        except ApiError as error:
            if error.status != 404:
                raise

    def destroy(self) -> None:
        for kind, identifier in reversed(self.created):
            if kind == SERVICE:
                self._delete(f"/services/{identifier}")
        # a service's containers go away asynchronously; networks and secrets in use wait for them
        deadline = time.monotonic() + 60
        while self.api.call("GET", "/containers/json", query={"filters": '{"label":["com.docker.swarm.service.id"]}'}):
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        for kind, identifier in reversed(self.created):
            path = {SECRET: "secrets", CONFIG: "configs"}.get(kind)
            if path:
                self._delete(f"/{path}/{identifier}")
        self.created = [
            (kind, identifier) for kind, identifier in self.created if kind not in (SERVICE, SECRET, CONFIG)
        ]
        super().destroy()
