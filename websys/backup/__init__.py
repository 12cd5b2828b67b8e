"""PostgreSQL backups streamed to S3-compatible storage, verified restores and restore drills."""

from websys.backup.errors import EXIT_BAD_INPUT, EXIT_FAILED, BackupError

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "BackupError"]
