"""Names of Swarm secrets and configs that change with their content.

Swarm refuses to change a secret or config in place. With the content's hash in the name, a new
content is a new object: the service's spec then names the new one, which is an update that rolls
task by task, and the old object is removed after the update. Same content, same name: no change.
"""

from __future__ import annotations

import hashlib
import hmac

HASH_LENGTH = 12  # hex characters: 48 bits, far beyond any accidental collision
MAX_NAME_LENGTH = 64  # Docker's limit on secret and config names


def config_name(base: str, content: str) -> str:
    """`base-<sha256 prefix>` of a config's (non-secret) content."""
    return _checked(f"{base}-{hashlib.sha256(content.encode()).hexdigest()[:HASH_LENGTH]}")


def secret_name(base: str, key: str, content: str) -> str:
    """`base-<HMAC-SHA256 prefix>`: keyed by a generated stack secret, so a name (which is not
    secret) gives no way to test guesses of the content."""
    mac = hmac.new(key.encode(), content.encode(), hashlib.sha256).hexdigest()
    return _checked(f"{base}-{mac[:HASH_LENGTH]}")


def _checked(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{name!r} is longer than Docker's {MAX_NAME_LENGTH} characters")
    return name
