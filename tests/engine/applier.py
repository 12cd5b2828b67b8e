"""The test applier: creates a recorded plan's Docker resources on a real engine, as the provider does.

TEST CODE, NOT A DEPLOY PATH: `pulumi up` stays the only way to deploy. This stands in for the
Pulumi engine and its docker and command providers, which cannot run here, so that the containers
the program describes run for real. It follows the providers' create path:

- pulumi-docker 5.x is the Terraform provider kreuzwerker/terraform-provider-docker, bridged
  (github:pulumi/pulumi-docker, `upstream` submodule; its schema names the inputs used here).
- Networks: internal/provider/resource_docker_network_funcs.go `resourceDockerNetworkCreate`:
  one NetworkCreate with labels, driver, options, internal, attachable, ipv6 and the IPAM configs.
- Volumes: internal/provider/resource_docker_volume.go `resourceDockerVolumeCreate`: VolumeCreate.
- Containers: internal/provider/resource_docker_container_funcs.go `resourceDockerContainerCreate`:
  ContainerCreate with the Config and HostConfig built as there (memory in MB, cpus as NanoCPUs,
  healthcheck durations, tmpfs, capabilities, security options, log config, restart policy, port
  bindings, volumes as binds); then, with `networks_advanced`, NetworkDisconnect from "bridge" and
  NetworkConnect to each network with its aliases; then each upload as its own one-file tar
  (mode from `permissions`, else 0744 when executable, else 0644; owner and group as numeric
  ids, pulumi-docker 5.2's `owner`/`group`) by CopyToContainer at "/"; then ContainerStart; then,
  with `wait`, ContainerInspect each second until Health.Status is healthy, failing after
  `wait_timeout` seconds (here also, to fail early, once the container has restarted twice).
- pulumi-command `command:local:Command` (github:pulumi/pulumi-command, provider/pkg/provider/
  local): runs `create` with the interpreter (default /bin/sh -c) and the process environment
  plus `environment`.
- RemoteImage: not pulled (no registry here): the look-alike standing for the image is used,
  unless the plan built that tag.
- `docker-build:index:Image` (the project's own images, built in development): given a `builder`
  (tests/engine/build.py, the stand-in for pulumi-docker-build), built from the repository's
  Dockerfiles, and the RemoteImage naming one of its tags reads the built image's id, as
  components/images.py has it; without a builder, not built, and that RemoteImage gets the
  look-alike too.

Resources are created as the engine schedules them: each as soon as everything it depends on is
created, independent ones in parallel. Stand-in changes, and only these: images not built by the
plan are look-alikes;
every object gets the label com.websys.test-run=<run id>, so a shared daemon can be cleaned up.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from tests.engine.api import ApiError, DockerApi
from tests.engine.daemon import RUN_LABEL, Engine
from tests.engine.plans import EnginePlan
from websys.plan import PROJECT_DIR, PlannedResource

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
LOCAL_COMMAND = "command:local:Command"
BUILD = "docker-build:index:Image"
HANDLED = (CONTAINER, NETWORK, VOLUME, REMOTE_IMAGE, LOCAL_COMMAND)
COMMAND_TIMEOUT = 180.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


class ApplyError(Exception):
    """A resource could not be created as the plan says."""


def go_duration_ns(text: str) -> int:
    """Go's time.ParseDuration for the forms the plans use ("30s", "1m30s", "500ms")."""
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ApplyError(f"not a Go duration: {text!r}")
    return int(sum(float(number) * _UNIT_NS[unit] for number, unit in parts))


def parse_cpus(text: str) -> int:
    """docker/cli opts.ParseCPUs: decimal CPUs to NanoCPUs."""
    return round(float(text) * 10**9)


def _labels(items: Iterable[dict[str, str]], run_id: str) -> dict[str, str]:
    return {**{item["label"]: item["value"] for item in items}, RUN_LABEL: run_id}


def container_config(inputs: dict[str, Any], image: str, run_id: str) -> dict[str, Any]:  # noqa: PLR0912 one branch per input, as the provider
    """ContainerCreate's body (Config, HostConfig) from the container's inputs, as the provider builds it."""
    config: dict[str, Any] = {
        "Image": image,
        "Hostname": inputs.get("hostname", ""),
        "Domainname": inputs.get("domainname", ""),
        "Tty": inputs.get("tty", False),
        "OpenStdin": inputs.get("stdinOpen", False),
        "StopSignal": inputs.get("stopSignal", ""),
        "Labels": _labels(inputs.get("labels", []), run_id),
    }
    if "stopTimeout" in inputs:
        config["StopTimeout"] = inputs["stopTimeout"]
    if inputs.get("envs"):
        config["Env"] = sorted(set(inputs["envs"]))  # a set in the provider's schema
    if inputs.get("command"):
        config["Cmd"] = inputs["command"]
    if inputs.get("entrypoints"):
        config["Entrypoint"] = inputs["entrypoints"]
    if inputs.get("user"):
        config["User"] = inputs["user"]
    if inputs.get("workingDir"):
        config["WorkingDir"] = inputs["workingDir"]
    host: dict[str, Any] = {
        "Privileged": inputs.get("privileged", False),
        "PublishAllPorts": inputs.get("publishAllPorts", False),
        "RestartPolicy": {"Name": inputs.get("restart", "no"), "MaximumRetryCount": inputs.get("maxRetryCount", 0)},
        "AutoRemove": inputs.get("rm", False),
        "ReadonlyRootfs": inputs.get("readOnly", False),
        "LogConfig": {"Type": inputs.get("logDriver", "json-file"), "Config": inputs.get("logOpts", {})},
        "Init": inputs.get("init", False),
    }
    ports = inputs.get("ports", [])
    if ports:
        exposed: dict[str, dict[str, str]] = {}
        bindings: dict[str, list[dict[str, str]]] = {}
        for port in ports:
            key = f"{port['internal']}/{port.get('protocol', 'tcp')}"
            exposed[key] = {}
            if "external" in port:
                bindings.setdefault(key, []).append(
                    {"HostIp": port.get("ip", "0.0.0.0"), "HostPort": str(port["external"])}  # noqa: S104 the provider's default
                )
        config["ExposedPorts"] = exposed
        host["PortBindings"] = bindings
    binds: list[str] = []
    volumes: dict[str, dict[str, str]] = {}
    for volume in inputs.get("volumes", []):
        source = volume.get("hostPath") or volume.get("volumeName")
        if source:
            binds.append(f"{source}:{volume['containerPath']}" + (":ro" if volume.get("readOnly") else ""))
        else:
            volumes[volume["containerPath"]] = {}
    if volumes:
        config["Volumes"] = volumes
    if binds:
        host["Binds"] = binds
    if inputs.get("tmpfs"):
        host["Tmpfs"] = inputs["tmpfs"]
    if inputs.get("hosts"):
        host["ExtraHosts"] = [f"{item['host']}:{item['ip']}" for item in inputs["hosts"]]
    capabilities = inputs.get("capabilities")
    if capabilities:
        host["CapAdd"] = capabilities.get("adds", [])
        host["CapDrop"] = capabilities.get("drops", [])
    if inputs.get("securityOpts"):
        host["SecurityOpt"] = inputs["securityOpts"]
    if inputs.get("memory"):
        host["Memory"] = inputs["memory"] * 1024 * 1024
    if inputs.get("memoryReservation"):
        host["MemoryReservation"] = inputs["memoryReservation"] * 1024 * 1024
    if inputs.get("memorySwap"):
        swap = inputs["memorySwap"]
        host["MemorySwap"] = swap * 1024 * 1024 if swap > 0 else swap
    if inputs.get("shmSize"):
        host["ShmSize"] = inputs["shmSize"] * 1024 * 1024
    if inputs.get("cpus"):
        host["NanoCpus"] = parse_cpus(inputs["cpus"])
    if inputs.get("cpuShares"):
        host["CpuShares"] = inputs["cpuShares"]
    for key, api_key in (("networkMode", "NetworkMode"), ("pidMode", "PidMode"), ("ipcMode", "IpcMode")):
        if inputs.get(key):
            host[api_key] = inputs[key]
    if inputs.get("sysctls"):
        host["Sysctls"] = inputs["sysctls"]
    if inputs.get("groupAdds"):
        host["GroupAdd"] = inputs["groupAdds"]
    if inputs.get("ulimits"):
        host["Ulimits"] = [{"Name": u["name"], "Soft": u["soft"], "Hard": u["hard"]} for u in inputs["ulimits"]]
    healthcheck = inputs.get("healthcheck")
    if healthcheck:
        config["Healthcheck"] = {
            "Test": healthcheck.get("tests", []),
            "Interval": go_duration_ns(healthcheck.get("interval", "0s")),
            "Timeout": go_duration_ns(healthcheck.get("timeout", "0s")),
            "StartPeriod": go_duration_ns(healthcheck.get("startPeriod", "0s")),
            "Retries": healthcheck.get("retries", 0),
        }
    return {**config, "HostConfig": host, "NetworkingConfig": {}}


def upload_tar(upload: dict[str, Any]) -> bytes:
    """One upload as the provider sends it: a tar of one file named by its absolute path."""
    if "contentBase64" in upload:
        import base64  # noqa: PLC0415 only this rare form needs it

        content = base64.b64decode(upload["contentBase64"])
    else:
        content = str(upload.get("content", "")).encode()
    executable_mode = 0o744 if upload.get("executable") else 0o644
    mode = int(upload["permissions"], 8) if upload.get("permissions") else executable_mode
    info = tarfile.TarInfo(upload["file"])
    info.mode = mode
    info.size = len(content)
    info.mtime = int(time.time())
    info.uid = int(upload.get("owner") or 0)
    info.gid = int(upload.get("group") or 0)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@dataclass
class Applier:
    engine: Engine
    plan: EnginePlan
    image_for: Callable[[str], str]  # the image a RemoteImage names -> the local tag standing for it
    builder: Callable[[dict[str, Any]], str] | None = None  # a plan's Image's inputs -> the built id
    created: list[tuple[str, str]] = field(default_factory=list)  # (type, id), in creation order
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Set when an apply fails or is interrupted: the other resources' waits stop at once.
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.api = DockerApi(self.engine.host)
        self.images: dict[str, str] = {}
        self.built: dict[str, str] = {}  # a tag the plan built -> the image id

    def selected(self, select: Callable[[PlannedResource], bool]) -> list[PlannedResource]:
        handled = (*HANDLED, BUILD) if self.builder is not None else HANDLED
        return [r for r in self.plan.plan.resources if r.type in handled and select(r)]

    def apply(self, select: Callable[[PlannedResource], bool] = lambda _: True, parallel: int = 16) -> None:
        """Create the selected resources, each once all its selected dependencies are created."""
        todo = {r.urn: r for r in self.selected(select)}
        done: set[str] = set()
        running: dict[Future[None], str] = {}
        pool = ThreadPoolExecutor(max_workers=parallel)
        try:
            while todo or running:
                for urn, resource in list(todo.items()):
                    if all(d in done or (d not in todo and d not in running.values()) for d in resource.dependencies):
                        running[pool.submit(self.create, resource)] = urn
                        del todo[urn]
                if not running:
                    raise ApplyError(f"dependency cycle among {sorted(todo)}")
                finished, _ = wait(list(running), return_when=FIRST_EXCEPTION)
                for future in finished:
                    urn = running.pop(future)
                    future.result()  # the first failure stops the apply, as the engine's does
                    done.add(urn)
        except BaseException:
            self.stopping.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.stopping.clear()

    def create(self, resource: PlannedResource) -> None:
        inputs = self.plan.inputs[resource.urn]
        if resource.type == BUILD and self.builder is not None:
            image_id = self.builder(inputs)
            with self._lock:
                self.built.update(dict.fromkeys(inputs["tags"], image_id))
        elif resource.type == REMOTE_IMAGE:
            self.images[resource.urn] = self.built.get(inputs["name"]) or self.image_for(inputs["name"])
        elif resource.type == NETWORK:
            self._network(inputs)
        elif resource.type == VOLUME:
            body = {"Name": inputs.get("name", resource.name), "Driver": inputs.get("driver", "local")}
            body |= {
                "DriverOpts": inputs.get("driverOpts", {}),
                "Labels": _labels(inputs.get("labels", []), self.run_id),
            }
            self.api.call("POST", "/volumes/create", body)
            self._record(VOLUME, body["Name"])
        elif resource.type == CONTAINER:
            self._container(resource, inputs)
        elif resource.type == LOCAL_COMMAND:
            self.run_command(resource.name, inputs)

    @property
    def run_id(self) -> str:
        return self.engine.run_id

    def _record(self, kind: str, identifier: str) -> None:
        with self._lock:
            self.created.append((kind, identifier))

    def _network(self, inputs: dict[str, Any]) -> str:
        body: dict[str, Any] = {
            "Name": inputs["name"],
            "CheckDuplicate": True,
            "Driver": inputs.get("driver", "bridge"),
            "Internal": inputs.get("internal", False),
            "Attachable": inputs.get("attachable", False),
            "Ingress": inputs.get("ingress", False),
            "EnableIPv6": inputs.get("ipv6", False),
            "Options": inputs.get("options", {}),
            "Labels": _labels(inputs.get("labels", []), self.run_id),
        }
        if inputs.get("ipamConfigs") or inputs.get("ipamDriver"):
            configs = [
                {key.capitalize() if key != "ipRange" else "IPRange": value for key, value in item.items()}
                for item in inputs.get("ipamConfigs", [])
            ]
            body["IPAM"] = {"Driver": inputs.get("ipamDriver", "default"), "Config": configs}
        created = self.api.call("POST", "/networks/create", body)
        self._record(NETWORK, created["Id"])
        return str(created["Id"])

    def image_of(self, resource: PlannedResource) -> str:
        images = [self.images[d] for d in resource.dependencies if d in self.images]
        if len(images) != 1:
            raise ApplyError(f"{resource.name}: depends on {len(images)} images, expected one")
        return images[0]

    def _container(self, resource: PlannedResource, inputs: dict[str, Any]) -> None:
        body = container_config(inputs, self.image_of(resource), self.run_id)
        created = self.api.call("POST", "/containers/create", body, query={"name": inputs["name"]})
        identifier = created["Id"]
        self._record(CONTAINER, identifier)
        if inputs.get("networksAdvanced"):
            try:
                self.api.call("POST", "/networks/bridge/disconnect", {"Container": identifier, "Force": False})
            except ApiError as error:
                if "is not connected to the network bridge" not in str(error):
                    raise
            for network in inputs["networksAdvanced"]:
                endpoint: dict[str, Any] = {"Aliases": network.get("aliases", [])}
                if network.get("ipv4Address"):
                    endpoint["IPAMConfig"] = {"IPv4Address": network["ipv4Address"]}
                self.api.call(
                    "POST",
                    f"/networks/{network['name']}/connect",
                    {"Container": identifier, "EndpointConfig": endpoint},
                )
        for upload in inputs.get("uploads", []):
            self.api.call(
                "PUT",
                f"/containers/{identifier}/archive",
                query={"path": "/"},
                raw=upload_tar(upload),
                content_type="application/x-tar",
            )
        if inputs.get("start", True):
            self.api.call("POST", f"/containers/{identifier}/start")
            if inputs.get("wait"):
                self.wait_healthy(inputs["name"], float(inputs.get("waitTimeout", 60)))

    def wait_healthy(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            state = self.api.call("GET", f"/containers/{name}/json")
            health = (state.get("State") or {}).get("Health")
            if health is None:
                raise ApplyError(f"{name}: 'wait' is set but the container has no healthcheck")
            if health["Status"] == "healthy":
                return
            if time.monotonic() > deadline or state.get("RestartCount", 0) >= 2 or self.stopping.is_set():
                probes = [entry.get("Output", "").strip()[-300:] for entry in health.get("Log", [])[-2:]]
                logs = self.engine.docker("logs", "--tail", "15", name, check=False)
                raise ApplyError(
                    f"{name}: container failed to be in healthy state in time ({health['Status']}, "
                    f"restarts {state.get('RestartCount', 0)}); probes: {probes}; logs: "
                    f"{(logs.stdout + logs.stderr)[-1200:]}"
                )
            time.sleep(1)

    def run_command(self, name: str, inputs: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        interpreter = inputs.get("interpreter") or ["/bin/sh", "-c"]
        result = subprocess.run(
            [*interpreter, inputs["create"]],
            env={**self.engine.env(), **inputs.get("environment", {})},
            cwd=inputs.get("dir") or PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise ApplyError(f"{name}: exit {result.returncode}: {result.stderr.strip()[-1500:]}")
        return result

    def destroy(self) -> None:
        """Remove what this applier created, newest first (also after a failed apply)."""
        for kind, identifier in reversed(self.created):
            path = {CONTAINER: "containers", NETWORK: "networks", VOLUME: "volumes"}[kind]
            query = {"force": "1", "v": "1"} if kind == CONTAINER else None
            deadline = time.monotonic() + 60
            while True:
                try:
                    self.api.call("DELETE", f"/{path}/{identifier}", query=query)
                    break
                except ApiError as error:
                    if error.status == 404:
                        break
                    # a network a removed service's task still holds is freed a moment later
                    if "in use" not in str(error) or time.monotonic() > deadline:
                        raise
                    time.sleep(1)
        self.created.clear()
