"""`python3 -m websys_backend`: migrate the schema, then serve on PORT with waitress."""

from __future__ import annotations

import sys
import time

import psycopg

from websys_backend.api import Backend
from websys_backend.config import Config, ConfigError
from websys_backend.store import Store


def migrate(store: Store, attempts: int = 30) -> None:
    """The schema, once PostgreSQL accepts connections (it may start after this container)."""
    for attempt in range(1, attempts + 1):
        try:
            store.migrate()
            return
        except psycopg.OperationalError as error:
            if attempt == attempts:
                raise
            print(f"websys-backend: PostgreSQL not ready ({type(error).__name__}); retrying", file=sys.stderr)
            time.sleep(1)


def main() -> int:
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"websys-backend: {error}", file=sys.stderr)
        return 2
    import waitress  # type: ignore[import-untyped]  # noqa: PLC0415 only the server needs it (no stubs)

    store = Store(config.database_url, config.redis_url, config.cache_seconds)
    migrate(store)
    app = Backend(store, config.jwt_secret)
    waitress.serve(app, host="0.0.0.0", port=config.port, threads=8, ident=None)  # noqa: S104 the container's interfaces
    return 0


if __name__ == "__main__":
    sys.exit(main())
