"""The one error type of the backup commands: a one-line message and the exit code it means."""

from __future__ import annotations

EXIT_FAILED = 1  # the operation ran and failed: a dump, an upload, a restore, a verification
EXIT_BAD_INPUT = 2  # bad arguments, a missing backup, an unreachable database or bucket


class BackupError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code
