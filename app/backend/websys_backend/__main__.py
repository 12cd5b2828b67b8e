"""`python3 -m websys_backend`: migrate the schema, then serve on PORT with waitress."""

from __future__ import annotations

import sys

from websys_backend.api import Backend
from websys_backend.config import Config, ConfigError
from websys_backend.store import Store


def main() -> int:
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"websys-backend: {error}", file=sys.stderr)
        return 2
    import waitress  # type: ignore[import-untyped]  # noqa: PLC0415 only the server needs it (no stubs)

    store = Store(config.database_url, config.redis_url, config.cache_seconds)
    store.migrate()
    app = Backend(store, config.jwt_secret)
    waitress.serve(app, host="0.0.0.0", port=config.port, threads=8, ident=None)  # noqa: S104 the container's interfaces
    return 0


if __name__ == "__main__":
    sys.exit(main())
