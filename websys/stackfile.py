"""Reads a Pulumi stack file and applies `--set`/`--secret` overrides, giving config in engine form.

Encrypted values (`secure: v1:...`) cannot be read without the stack's passphrase; a recorded plan
only needs to know that they are set and secret, so they become a fixed placeholder marked secret.
The file is read by the strict, bounded reader of websys.settings.yamlread, and a `secure:` value
must have the form Pulumi writes, so a hand-edited or truncated one is refused here, not at deploy.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websys.settings.loader import NAMESPACE
from websys.settings.model import SECRET_KEYS
from websys.settings.yamlread import MAX_VALUE_BYTES, YamlInputError, load_yaml_text, read_yaml_file

# The top-level keys of a Pulumi stack file (pulumi sdk/go/common/workspace/project.go, ProjectStack).
STACK_FILE_KEYS = frozenset({"config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"})
# Namespaces a stack of this project may hold besides its own: the providers' and the engine's.
# Any other is most likely a misspelt `websys`, whose keys would otherwise be silently ignored.
KNOWN_NAMESPACES = frozenset({NAMESPACE, "aws", "docker", "random", "tls", "pulumi"})
# pulumi sdk/go/common/resource/config/crypt.go, symmetricCrypter.EncryptValue (passphrase and
# cloud KMS secrets providers): "v1:" + base64(12-byte nonce) + ":" + base64(AES-256-GCM sealed).
_CIPHERTEXT_RE = re.compile(r"v1:([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})")
_GCM_NONCE_BYTES, _GCM_TAG_BYTES = 12, 16

SECURE_PLACEHOLDER = "encrypted-in-stack-file"


class StackFileError(Exception):
    """One line naming the file (or flag), the key and the reason."""


@dataclass
class StackConfig:
    source: str  # the name used in error messages, e.g. Pulumi.production.yaml
    values: dict[str, Any] = field(default_factory=dict)  # full key ("websys:backend") -> value
    secret_keys: set[str] = field(default_factory=set)
    # (flag, dotted key path under the namespace, what an error names): errors about a key set on the
    # command line name the option, not the file.
    overrides: list[tuple[str, str, str]] = field(default_factory=list)
    # Values passed with --secret: never printed, wherever they end up.
    secret_values: list[str] = field(default_factory=list)

    def source_for(self, key_path: str) -> str:
        """What an error about `key_path` (dotted, in the websys namespace) names as its source."""
        for _flag, path, shown in reversed(self.overrides):
            if key_path == path or key_path.startswith(f"{path}.") or path.startswith(f"{key_path}."):
                return shown
        return self.source

    def engine_form(self) -> dict[str, str]:
        """What the Pulumi engine hands a program: strings, with structured values as JSON."""
        return {key: _engine_value(value) for key, value in sorted(self.values.items())}


def _engine_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) or value is None:
        return json.dumps(value)
    return json.dumps(value, sort_keys=True)


def read_stack_file(path: Path) -> StackConfig:
    name = path.name or str(path)
    try:
        document = read_yaml_file(path)
    except YamlInputError as error:
        where = f":{error.line}" if error.line is not None else ""  # FILE:LINE, as compilers say
        raise StackFileError(f"{name}{where}: {error.reason}") from None
    document = document or {}
    if not isinstance(document, dict):
        raise StackFileError(f"{name}: the stack file must be a mapping with a 'config' key")
    for key in document:
        if key not in STACK_FILE_KEYS:
            close = difflib.get_close_matches(str(key), sorted(STACK_FILE_KEYS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise StackFileError(f"{name}: {key}: unknown key of a stack file{hint}")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{name}: config: must be a mapping of keys to values")
    stack = StackConfig(source=name)
    for key, value in config.items():
        full_key = str(key)
        namespace, colon, _ = full_key.partition(":")
        if not colon:
            raise StackFileError(f"{name}: {full_key}: config keys need a namespace, e.g. {NAMESPACE}:{full_key}")
        if namespace not in KNOWN_NAMESPACES:
            close = difflib.get_close_matches(namespace, sorted(KNOWN_NAMESPACES), n=1)
            hint = f"; did you mean {close[0]}:{full_key[len(namespace) + 1 :]}?" if close else ""
            raise StackFileError(f"{name}: {full_key}: unknown namespace {namespace!r}{hint}")
        stack.values[full_key], secret = _strip_secure(value, f"{name}: {full_key}")
        if secret:
            stack.secret_keys.add(full_key)
    return stack


def _strip_secure(value: Any, where: str) -> tuple[Any, bool]:
    """Replace every `{secure: ...}` by the placeholder; report whether any was found."""
    if isinstance(value, dict):
        if "secure" in value:
            if len(value) != 1:
                raise StackFileError(f"{where}: a secure value is a mapping with the one key 'secure'")
            _check_ciphertext(value["secure"], where)
            return SECURE_PLACEHOLDER, True
        found = False
        result: dict[str, Any] = {}
        for key, item in value.items():
            result[str(key)], secret = _strip_secure(item, f"{where}.{key}")
            found = found or secret
        return result, found
    if isinstance(value, list):
        items = [_strip_secure(item, f"{where}[{index}]") for index, item in enumerate(value)]
        return [item for item, _ in items], any(secret for _, secret in items)
    return value, False


def _check_ciphertext(ciphertext: Any, where: str) -> None:
    """The value must be what `pulumi config set --secret` writes; the reason never quotes it."""
    reason = (
        "secure: is not a Pulumi ciphertext (expected v1:<nonce>:<ciphertext> as `pulumi config set --secret` writes)"
    )
    if not isinstance(ciphertext, str):
        raise StackFileError(f"{where}: {reason}")
    match = _CIPHERTEXT_RE.fullmatch(ciphertext)
    if match is None:
        raise StackFileError(f"{where}: {reason}")
    try:
        nonce = base64.b64decode(match.group(1), validate=True)
        sealed = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise StackFileError(f"{where}: {reason}") from None
    if len(nonce) != _GCM_NONCE_BYTES or len(sealed) < _GCM_TAG_BYTES:
        raise StackFileError(f"{where}: {reason}")


def apply_override(stack: StackConfig, assignment: str, *, secret: bool, flag: str) -> None:
    """Apply `K=V` (K a dotted path in the websys namespace unless it names one; V parsed as YAML)."""
    key_path, sep, raw_value = assignment.partition("=")
    if not sep or not key_path:
        # `--secret hunter2` (no key) would echo the secret: the flag alone is named.
        shown = flag if secret else _shown(flag, assignment, None)
        raise StackFileError(f"{shown}: expected KEY=VALUE, e.g. backend.blue.replicas=3")
    namespace, colon, path = key_path.partition(":")
    if not colon:
        namespace, path = NAMESPACE, key_path
    # The value of a secret key is never shown, even when it was (wrongly) passed with --set.
    hidden = secret or path.split(".")[0] in SECRET_KEYS
    shown = _shown(flag, key_path, None if hidden else raw_value)
    if namespace != NAMESPACE:
        raise StackFileError(f"{shown}: only keys of the {NAMESPACE} namespace can be set")
    value = _override_value(raw_value, secret=secret, shown=shown)
    if secret:
        stack.secret_values.append(raw_value)
    parts = path.split(".")
    if not all(parts):
        raise StackFileError(f"{shown}: empty segment in the key path")
    stack.overrides.append((flag, path, shown))
    top = f"{namespace}:{parts[0]}"
    if len(parts) == 1:
        stack.values[top] = value
    else:
        container = stack.values.setdefault(top, {})
        for depth, part in enumerate(parts[1:-1], start=1):
            if not isinstance(container, dict):
                raise StackFileError(f"{shown}: {'.'.join(parts[:depth])} is not a mapping")
            container = container.setdefault(part, {})
        if not isinstance(container, dict):
            raise StackFileError(f"{shown}: {'.'.join(parts[:-1])} is not a mapping")
        container[parts[-1]] = value
    if secret:
        stack.secret_keys.add(top)


def _override_value(raw_value: str, *, secret: bool, shown: str) -> Any:
    """A secret is the string given (never parsed, never echoed); any other value is YAML."""
    if len(raw_value.encode("utf-8", errors="surrogatepass")) > MAX_VALUE_BYTES:
        raise StackFileError(f"{shown}: the value is larger than {MAX_VALUE_BYTES // 1024} KiB")
    if secret:
        return raw_value
    try:
        return load_yaml_text(raw_value)
    except YamlInputError as error:
        raise StackFileError(f"{shown}: {error.reason}") from None


def _shown(flag: str, key_path: str, value: str | None) -> str:
    """How an error names an option: with its value when that is short, printable and not secret."""
    if not key_path.isprintable() or len(key_path) > 200:
        key_path = f"{key_path[:40]!r}..."
    if value is None:
        return f"{flag} {key_path}"
    if not value.isprintable() or len(value) > 80:
        return f"{flag} {key_path}=..."
    return f"{flag} {key_path}={value}"
