"""What the application containers are told: environment variables and healthcheck commands."""

from __future__ import annotations

from urllib.parse import quote

from websys import naming
from websys.settings import Settings


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


# The healthcheck contract of every WebSys application image (docs/reference-app.md): an executable
# `websys-healthcheck` on PATH that exits 0 when the URL it is given answers 2xx. The image chooses
# how (the reference app's is Python; a Node image can ship a script using fetch), so the program
# imposes no runtime and needs no curl or wget in the image.
HEALTHCHECK_PROGRAM = "websys-healthcheck"


def healthcheck_command(port: int, path: str) -> list[str]:
    """Docker's exec form: no shell is needed inside the image."""
    return ["CMD", HEALTHCHECK_PROGRAM, f"http://127.0.0.1:{port}{path}"]


def env_list(variables: dict[str, str]) -> list[str]:
    """Docker's KEY=value form, sorted so the plan is stable."""
    return [f"{key}={value}" for key, value in sorted(variables.items())]
