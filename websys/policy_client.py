"""Runs the policy pack on a recorded plan the way the Pulumi engine does, over the Analyzer protocol.

The pack is started as the engine starts it (`python -u -m pulumi.policy ENGINE PACK_DIR`; it prints
the port it serves on), configured with the stack's pack config, and fed every resource with its
options (Analyze) and then the whole stack with parents and dependencies (AnalyzeStack).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "disabled": analyzer_pb2.DISABLED,
    "remediate": analyzer_pb2.REMEDIATE,
}
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}
SEVERITY_NAMES = {0: "", 1: "low", 2: "medium", 3: "high", 4: "critical"}
START_TIMEOUT_SECONDS = 60.0
CALL_TIMEOUT_SECONDS = 60.0


class PolicyRunError(Exception):
    """The pack could not be started or answered badly; one line."""


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    severity: str
    urn: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "level": self.level,
            "severity": self.severity,
            "urn": self.urn,
            "message": self.message,
        }


def read_pack_config(path: Path) -> dict[str, Any]:
    """A `--policy-pack-config` file: {"all": LEVEL | {...}, "<policy>": LEVEL | {"enforcementLevel": ..., ...}}."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PolicyRunError(f"{path}: cannot read: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise PolicyRunError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") from None
    if not isinstance(document, dict):
        raise PolicyRunError(f"{path}: must be an object of policy names to settings")
    return document


def _policy_config(config: dict[str, Any], names: list[str], source: str) -> dict[str, analyzer_pb2.PolicyConfig]:
    """Expand "all" and per-policy entries into one PolicyConfig per policy, as the CLI does."""

    def split(key: str, entry: Any) -> tuple[str | None, dict[str, Any]]:
        if isinstance(entry, str):
            return entry, {}
        if isinstance(entry, dict):
            properties = {k: v for k, v in entry.items() if k != "enforcementLevel"}
            return entry.get("enforcementLevel"), properties
        raise PolicyRunError(f"{source}: {key}: expected an enforcement level or an object")

    unknown = sorted(set(config) - {"all", *names})
    if unknown:
        raise PolicyRunError(f"{source}: {unknown[0]}: no policy of that name in the pack")
    default_level, _ = split("all", config.get("all", {}))
    result = {}
    for name in names:
        level, properties = split(name, config.get(name, {}))
        chosen = level or default_level
        if chosen is not None and chosen not in LEVELS:
            raise PolicyRunError(f"{source}: {name}: unknown enforcement level {chosen!r}")
        policy_config = analyzer_pb2.PolicyConfig(properties=_struct(properties))
        if chosen is not None:
            policy_config.enforcementLevel = LEVELS[chosen]
        result[name] = policy_config
    return result


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    json_format.ParseDict(value, struct)
    return struct


def _options(resource: dict[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    options = resource.get("options", {})
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(options.get("protect")),
        ignoreChanges=options.get("ignoreChanges", []),
        deleteBeforeReplace=bool(options.get("deleteBeforeReplace")),
        deleteBeforeReplaceDefined=bool(options.get("deleteBeforeReplaceDefined", options.get("deleteBeforeReplace"))),
        additionalSecretOutputs=options.get("additionalSecretOutputs", []),
        parent=resource.get("parent", ""),
    )


def _provider(
    resource: dict[str, Any], by_urn: dict[str, dict[str, Any]]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    provider = by_urn.get(resource.get("provider", ""))
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider["type"],
        properties=_struct(provider.get("inputs", {})),
        urn=provider["urn"],
        name=provider["name"],
    )


def _start_pack(pack_dir: Path, project: str, stack: str) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "PULUMI_PROJECT": project, "PULUMI_STACK": stack, "PULUMI_DRY_RUN": "true"}
    # The engine address is only used for logging, which the pack does not do here.
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(pack_dir)],
        cwd=pack_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    ready = selector.select(timeout=START_TIMEOUT_SECONDS)
    selector.close()
    line = process.stdout.readline().decode().strip() if ready else ""
    if not line.isdigit():
        _stop(process)
        stderr = process.stderr.read().decode(errors="replace").strip().splitlines() if process.stderr else []
        reason = stderr[-1] if stderr else f"no port printed within {START_TIMEOUT_SECONDS:.0f}s"
        raise PolicyRunError(f"{pack_dir}: the policy pack did not start: {reason}")
    return process, int(line)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def run_pack(plan: dict[str, Any], pack_dir: Path, pack_config: dict[str, Any], config_source: str) -> list[Violation]:
    """Every violation the pack reports for `plan`, in the order Analyze then AnalyzeStack found them."""
    resources = [r for r in plan.get("resources", []) if r.get("type") != "pulumi:pulumi:Stack"]
    by_urn = {r["urn"]: r for r in resources}
    process, port = _start_pack(pack_dir, str(plan.get("project", "websys")), str(plan.get("stack", "")))
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        stub = analyzer_pb2_grpc.AnalyzerStub(channel)
        info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT_SECONDS)
        names = [policy.name for policy in info.policies]
        stub.Configure(
            analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=_policy_config(pack_config, names, config_source)),
            timeout=CALL_TIMEOUT_SECONDS,
        )
        # (diagnostic, URN of the analyzed resource): the engine attributes a resource rule's finding to it.
        diagnostics: list[tuple[Any, str]] = []
        for resource in resources:
            request = analyzer_pb2.AnalyzeRequest(
                type=resource["type"],
                properties=_struct(resource.get("inputs", {})),
                urn=resource["urn"],
                name=resource["name"],
                options=_options(resource),
                provider=_provider(resource, by_urn),
            )
            found = stub.Analyze(request, timeout=CALL_TIMEOUT_SECONDS).diagnostics
            diagnostics.extend((d, resource["urn"]) for d in found)
        stack_request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=r["type"],
                    properties=_struct(r.get("inputs", {})),
                    urn=r["urn"],
                    name=r["name"],
                    options=_options(r),
                    provider=_provider(r, by_urn),
                    parent=r.get("parent", ""),
                    dependencies=r.get("dependencies", []),
                )
                for r in resources
            ]
        )
        found = stub.AnalyzeStack(stack_request, timeout=CALL_TIMEOUT_SECONDS).diagnostics
        diagnostics.extend((d, "") for d in found)
    except grpc.RpcError as error:
        raise PolicyRunError(f"{pack_dir}: the policy pack failed: {error.details()}") from None
    finally:
        channel.close()
        _stop(process)
    return [
        Violation(
            policy=d.policyName,
            level=LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
            severity=SEVERITY_NAMES.get(d.severity, ""),
            urn=d.urn or resource_urn,
            # The SDK prefixes the policy's description; the line after it is the finding.
            message=d.message.split("\n", 1)[-1],
        )
        for d, resource_urn in diagnostics
    ]
