"""What the application containers are told: environment variables and healthcheck commands."""

from __future__ import annotations

from urllib.parse import quote

from websys import naming
from websys.settings import Settings
from websys.settings.text import js_string


def database_url(settings: Settings, password: str) -> str:
    db = settings.database
    return (
        f"postgresql://{quote(db.user, safe='')}:{quote(password, safe='')}"
        f"@{naming.POSTGRES_PRIMARY_HOST}:{db.port}/{db.name}"
    )


def redis_url(password: str) -> str:
    return f"redis://:{quote(password, safe='')}@{naming.REDIS_HOST}:{naming.REDIS_PORT}/0"


def backend_plain_environment(settings: Settings) -> dict[str, str]:
    """The backend's non-secret variables; DATABASE_URL, REDIS_URL and JWT_SECRET come as secrets."""
    return {"NODE_ENV": settings.node_env, "PORT": str(settings.backend.port)}


def frontend_environment(settings: Settings) -> dict[str, str]:
    """Everything the frontend gets. Nothing secret: its bundle is served to every browser."""
    return {
        "NODE_ENV": settings.node_env,
        "PORT": str(settings.frontend.port),
        "VITE_API_BASE_URL": settings.api_base_url,
    }


def healthcheck_command(port: int, path: str) -> list[str]:
    """An HTTP probe run by Node itself (Node 18+ has fetch), so the image needs no curl or wget."""
    # The URL is a JavaScript string literal made by the one quoting function, whatever the path holds.
    url = js_string(f"http://127.0.0.1:{port}{path}")
    script = f"fetch({url}).then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
    return ["CMD", "node", "-e", script]


def env_list(variables: dict[str, str]) -> list[str]:
    """Docker's KEY=value form, sorted so the plan is stable."""
    return [f"{key}={value}" for key, value in sorted(variables.items())]
