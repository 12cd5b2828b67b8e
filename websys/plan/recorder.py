"""Runs the real program under Pulumi's mock runtime and keeps what the engine would be sent.

A `MockMonitor` subclass records every RegisterResourceRequest. Two things the mock monitor does
not do as the engine does are done here: outputs named in `additionalSecretOutputs` are returned
as secrets (pulumi-random's `result`, for one), and stack outputs are kept.

A value is secret if its key is, or if it was passed with `--secret`, even to a key the program
treats as plain text: every input or output string that contains such a value is marked secret
before it is kept, so a plan never shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import runpy
import sys
import threading
from pathlib import Path
from typing import Any

from google.protobuf import empty_pb2, struct_pb2
from pulumi import get_project, get_stack
from pulumi.runtime import configure, set_all_config
from pulumi.runtime.mocks import MockEngine, MockMonitor, MockSettings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key
from pulumi.runtime.stack import run_in_stack

from websys.plan.mocks import WebsysMocks
from websys.plan.model import SECRET, Plan, PlannedResource, plain_value
from websys.stackfile import StackConfig

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT = "websys"


class ProgramError(Exception):
    """The program failed for a reason other than bad settings."""


class _Diagnostics(logging.Handler):
    """Keeps what the program logs through the engine (warnings, deprecations)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((record.levelname.lower(), record.getMessage()))


class RecordingMonitor(MockMonitor):
    def __init__(self, secret_values: frozenset[str] = frozenset()) -> None:
        super().__init__(WebsysMocks())
        # Longest first, so that the longer of two overlapping secrets decides.
        self.secret_values = sorted(secret_values, key=len, reverse=True)
        self._lock = threading.Lock()
        self.requests: list[resource_pb2.RegisterResourceRequest] = []
        self.stack_outputs: struct_pb2.Struct | None = None
        self.stack_urn = ""
        # The mock monitor makes an event loop in each worker thread it runs on and never closes
        # them; they are closed after the run so none is left for the interpreter's shutdown.
        self.thread_loops: set[asyncio.AbstractEventLoop] = set()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The engine's URN: the parent's whole qualified type, except the root stack's, prefixes ours."""
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != "pulumi:pulumi:Stack":
                type_ = f"{parent_type}${type_}"
        return f"urn:pulumi:{get_stack()}::{get_project()}::{type_}::{name}"

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        _mark_containing(request.object, self.secret_values)
        kept = resource_pb2.RegisterResourceRequest()
        kept.CopyFrom(request)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        with self._lock:
            self.requests.append(kept)
            with contextlib.suppress(RuntimeError):
                self.thread_loops.add(asyncio.get_event_loop_policy().get_event_loop())
            if request.type == "pulumi:pulumi:Stack":
                self.stack_urn = response.urn
        for key in request.additionalSecretOutputs:
            if key in response.object.fields:
                _mark_secret(response.object, key)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        if request.urn == self.stack_urn:
            _mark_containing(request.outputs, self.secret_values)
            kept = struct_pb2.Struct()
            kept.CopyFrom(request.outputs)
            self.stack_outputs = kept
        return empty_pb2.Empty()


def _mark_secret(struct: struct_pb2.Struct, key: str) -> None:
    inner = struct_pb2.Value()
    inner.CopyFrom(struct.fields[key])
    wrapper = struct.fields[key].struct_value
    wrapper.Clear()
    wrapper.fields[_special_sig_key].string_value = _special_secret_sig
    wrapper.fields["value"].CopyFrom(inner)


def _mark_containing(struct: struct_pb2.Struct, secrets: list[str]) -> None:
    """Wrap as secret every string in `struct` (at any depth) that contains one of `secrets`."""
    if not secrets:
        return
    for key in list(struct.fields):
        value = struct.fields[key]
        kind = value.WhichOneof("kind")
        if kind == "string_value" and any(secret in value.string_value for secret in secrets):
            _mark_secret(struct, key)
        elif kind == "struct_value":
            if value.struct_value.fields.get(_special_sig_key, struct_pb2.Value()).string_value != _special_secret_sig:
                _mark_containing(value.struct_value, secrets)
        elif kind == "list_value":
            _mark_in_list(value.list_value, secrets)


def _mark_in_list(items: struct_pb2.ListValue, secrets: list[str]) -> None:
    for item in items.values:
        kind = item.WhichOneof("kind")
        if kind == "string_value" and any(secret in item.string_value for secret in secrets):
            inner = item.string_value
            item.struct_value.Clear()
            item.struct_value.fields[_special_sig_key].string_value = _special_secret_sig
            item.struct_value.fields["value"].string_value = inner
        elif kind == "struct_value":
            _mark_containing(item.struct_value, secrets)
        elif kind == "list_value":
            _mark_in_list(item.list_value, secrets)


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, SECRET)
    return text


def secret_leaves(config: StackConfig) -> frozenset[str]:
    """Every string a secret key holds, and every value passed with --secret (empty ones aside)."""
    found: set[str] = {value for value in config.secret_values if value}

    def walk(value: Any) -> None:
        if isinstance(value, str) and value:
            found.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for key in config.secret_keys:
        walk(config.values.get(key))
    return frozenset(found)


def _run_program(program: Path) -> None:
    """As the engine's Python host does: the program file, run as __main__."""
    runpy.run_path(str(program), run_name="__main__")


def record_plan(
    stack: str,
    config: StackConfig,
    program: Path = PROJECT_DIR / "__main__.py",
    monitor: RecordingMonitor | None = None,
) -> Plan:
    """Run `program` for `stack` with `config` and return what it registered.

    Runs in a fresh context so that repeated runs in one process share no Pulumi runtime state.
    A caller that needs the requests as sent, secrets included (the engine tests, which create the
    resources), passes its own `monitor` (made with `secret_leaves(config)`) and reads
    `monitor.requests`; the Plan is redacted as ever.
    """
    chosen = monitor or RecordingMonitor(secret_leaves(config))
    return contextvars.Context().run(_record, stack, config, program, chosen)


def _record(stack: str, config: StackConfig, program: Path, monitor: RecordingMonitor) -> Plan:
    diagnostics = _Diagnostics()
    logger = logging.getLogger(f"websys.plan.{id(monitor)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(diagnostics)
    set_all_config(config.engine_form(), sorted(config.secret_keys))
    configure(
        MockSettings(  # type: ignore[no-untyped-call]
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures),  # type: ignore[no-untyped-call]
            engine=MockEngine(logger),
            project=PROJECT,
            stack=stack,
            dry_run=False,
            organization="organization",
            callbacks=None,
        )
    )
    root = str(program.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(run_in_stack(lambda: _run_program(program)))
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        for thread_loop in monitor.thread_loops - {loop}:
            thread_loop.close()
        loop.close()
        asyncio.set_event_loop(None)
    resources = [PlannedResource.from_request(request, monitor.make_urn) for request in monitor.requests]
    outputs = plain_value(monitor.stack_outputs) if monitor.stack_outputs is not None else {}
    return Plan(
        project=PROJECT,
        stack=stack,
        resources=sorted(resources, key=lambda r: r.urn),
        outputs=outputs if isinstance(outputs, dict) else {},
        diagnostics=[(level, _redact(message, monitor.secret_values)) for level, message in diagnostics.messages],
    )
