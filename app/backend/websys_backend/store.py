"""Notes in PostgreSQL, the list cached in Redis, active users in a Redis sorted set."""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import redis

ACTIVE_WINDOW_SECONDS = 300
_LIST_KEY = "websys:notes:latest"
_ACTIVE_KEY = "websys:active-users"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id bigserial PRIMARY KEY,
    author text NOT NULL,
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 1000),
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
_MIGRATION_LOCK = 0x5745_4253  # pg_advisory_lock key: replicas of both colors start at once


class Store:
    def __init__(self, database_url: str, redis_url: str, cache_seconds: int) -> None:
        self.database_url = database_url
        self.cache = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.cache_seconds = cache_seconds

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.database_url, connect_timeout=3, autocommit=True)

    def migrate(self) -> None:
        with self._connect() as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            try:
                connection.execute(_SCHEMA)
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))

    def check(self) -> dict[str, str]:
        """Each dependency's state: "ok", or the error's class (never its message: it may hold a URL)."""
        states: dict[str, str] = {}
        try:
            with self._connect() as connection:
                connection.execute("SELECT 1")
            states["postgres"] = "ok"
        except psycopg.Error as error:
            states["postgres"] = type(error).__name__
        try:
            self.cache.ping()
            states["redis"] = "ok"
        except redis.RedisError as error:
            states["redis"] = type(error).__name__
        return states

    def latest_notes(self, limit: int = 20) -> tuple[list[dict[str, Any]], bool]:
        """The newest notes and whether they came from the cache."""
        cached: bytes | None = self.cache.get(_LIST_KEY)  # type: ignore[assignment] # the sync client's value
        if cached is not None:
            return json.loads(cached), True
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT id, author, body, created_at FROM notes ORDER BY id DESC LIMIT %s", (limit,)
            ).fetchall()
        notes = [{"id": row[0], "author": row[1], "body": row[2], "createdAt": row[3].isoformat()} for row in rows]
        self.cache.set(_LIST_KEY, json.dumps(notes), ex=self.cache_seconds)
        return notes, False

    def add_note(self, author: str, body: str) -> dict[str, Any]:
        with self._connect() as connection:
            row = connection.execute(
                "INSERT INTO notes (author, body) VALUES (%s, %s) RETURNING id, created_at", (author, body)
            ).fetchone()
        assert row is not None
        self.cache.delete(_LIST_KEY)  # the next read sees the new note
        return {"id": row[0], "author": author, "body": body, "createdAt": row[1].isoformat()}

    def seen(self, user: str, now: float | None = None) -> None:
        self.cache.zadd(_ACTIVE_KEY, {user: time.time() if now is None else now})

    def active_users(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        self.cache.zremrangebyscore(_ACTIVE_KEY, "-inf", now - ACTIVE_WINDOW_SECONDS)
        count: int = self.cache.zcard(_ACTIVE_KEY)  # type: ignore[assignment] # the sync client's value
        return count
