"""Names of Swarm configs that change with their content.

Swarm refuses to change a config in place. With the content's hash in the name, a new content is
a new object: the service's spec then names the new one, which is an update that rolls task by
task, and the old object is removed after the update. Same content, same name: no change.
(Secrets are named by a random version instead: see components/swarm/secrets.py.)
"""

from __future__ import annotations

import hashlib

HASH_LENGTH = 12  # hex characters: 48 bits, far beyond any accidental collision
MAX_NAME_LENGTH = 64  # Docker's limit on secret and config names


def config_name(base: str, content: str) -> str:
    """`base-<sha256 prefix>` of a config's (non-secret) content."""
    name = f"{base}-{hashlib.sha256(content.encode()).hexdigest()[:HASH_LENGTH]}"
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{name!r} is longer than Docker's {MAX_NAME_LENGTH} characters")
    return name
