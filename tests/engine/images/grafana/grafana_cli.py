#!/usr/bin/env python3
"""STAND-IN for Grafana's `grafana cli` (not Grafana): only `admin reset-admin-password`.

Written here for the interface of Grafana's own command (read in grafana/grafana, no code copied):
pkg/cmd/grafana/main.go (the `grafana` binary, subcommand `cli`), pkg/cmd/grafana-cli/commands/
cli.go (`CLICommand`: global flags such as --homepath, --config, --configOverrides),
commands.go (`adminCommands`: `reset-admin-password` with `--password-from-stdin` and
`--user-id`, default 1) and reset_password_command.go (`resetPasswordCommand`):
- with --password-from-stdin it prints "New Password: " and reads the first line of standard input
  (without its line ending); no line at all: "can't read password from stdin";
- else the password is the first argument;
- 4 characters or fewer: "new password is too short" (pkg/services/user/model.go, IsWeak);
- the user must exist and be an admin; its password is replaced in the database;
- errors are printed as "Error: ✗ <reason>" and exit 1 (pkg/cmd/grafana/main.go).
The home path (--homepath, else the working directory) must hold conf/defaults.ini, or Grafana's
settings refuse to load, as the real CLI does.
"""

from __future__ import annotations

import os
import pathlib
import sys

import grafana_lookalike_db as database  # type: ignore[import-not-found]  # beside this file in the image

GLOBAL_STRING_FLAGS = {"--homepath", "--config", "--configOverrides", "--pluginsDir", "--repo", "--pluginUrl"}
GLOBAL_BOOL_FLAGS = {"--insecure", "--debug", "-d", "--version", "-v"}
MIN_LENGTH = 5


class CliError(Exception):
    pass


def _flags(argv: list[str], strings: set[str], bools: set[str]) -> tuple[dict[str, str], list[str]]:
    """urfave/cli's parsing: flags (`--name value`, `--name=value`) first, then the arguments."""
    found: dict[str, str] = {}
    rest = list(argv)
    while rest and rest[0].startswith("-") and rest[0] != "-":
        name, sep, value = rest.pop(0).partition("=")
        if name == "--":
            break
        if name in bools:
            found[name] = value if sep else "true"
        elif name in strings:
            if not sep:
                if not rest:
                    raise CliError(f"flag needs an argument: {name}")
                value = rest.pop(0)
            found[name] = value
        else:
            raise CliError(f"flag provided but not defined: {name}")
    return found, rest


def _read_stdin_line() -> str:
    data = sys.stdin.buffer.readline()
    if not data:
        raise CliError("can't read password from stdin")
    return data.decode().removesuffix("\n").removesuffix("\r")


def reset_admin_password(argv: list[str]) -> None:
    flags, args = _flags(argv, {"--user-id"}, {"--password-from-stdin"})
    user_id = int(flags.get("--user-id", "1"))
    if flags.get("--password-from-stdin", "false") == "true":
        print("New Password: ", end="", flush=True)
        password = _read_stdin_line()
    else:
        password = args[0] if args else ""
    if len(password) < MIN_LENGTH:
        raise CliError("new password is too short")
    user = database.user(user_id)
    if user is None:
        raise CliError("could not read user from database. Error: user not found")
    if not user["isAdmin"]:
        raise CliError("reset-admin-password can only be used to reset an admin user account")
    database.set_password(user_id, password)
    print("\nAdmin password changed successfully ✔")


def main(argv: list[str]) -> None:
    if not argv or argv[0] != "cli":
        command = argv[0] if argv else ""
        raise CliError(f"grafana: '{command}' is not a grafana command (this stand-in has only `cli`)")
    flags, rest = _flags(argv[1:], GLOBAL_STRING_FLAGS, GLOBAL_BOOL_FLAGS)
    home = pathlib.Path(flags.get("--homepath") or os.getcwd())
    if not (home / "conf" / "defaults.ini").is_file():
        raise CliError(
            "failed to initialize runner: could not find config defaults, make sure homepath command line "
            "parameter is set or working directory is homepath"
        )
    if rest[:2] != ["admin", "reset-admin-password"]:
        raise CliError(f"stand-in: only `cli admin reset-admin-password` is implemented, not {rest[:2]}")
    reset_admin_password(rest[2:])


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except CliError as error:
        print(f"Error: ✗ {error}")
        sys.exit(1)
