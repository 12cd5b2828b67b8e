"""What a setting may contain, per language it is rendered into: the one place that decides.

Settings are rendered into nginx.conf, shell, healthcheck URLs, redis.conf, YAML (Prometheus,
Alertmanager, Grafana), Go templates (Alertmanager expands some fields), SQL and pg_hba.conf. Each
language has a check (used by the settings model to refuse, with the reason) and, where a renderer
needs one, a quoting function that refuses what the check refuses, so a value that reached a
renderer some other way still cannot change the meaning of the file.

Patterns are always applied with `fullmatch`: `re.match(r"...$")` accepts a trailing newline.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex


class UnsafeValueError(ValueError):
    """A value that cannot be rendered into the target language with its meaning intact."""


def fullmatch(pattern: re.Pattern[str], value: str) -> bool:
    return pattern.fullmatch(value) is not None


def _controls(value: str) -> bool:
    return any(not ch.isprintable() for ch in value)


# --- nginx -------------------------------------------------------------------------------------
# In a double-quoted nginx string, `"` ends it, `\` escapes, and `$name` is a variable expanded per
# request (in add_header, a request header copied into a response header). Control characters would
# split a header. nginx src/core/ngx_conf_file.c (ngx_conf_read_token) and ngx_http_script.c.
_NGINX_QUOTED_FORBIDDEN = frozenset('"\\$')


def nginx_string_problem(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if _controls(value):
        return "must be a single line of printable characters"
    bad = sorted(set(value) & _NGINX_QUOTED_FORBIDDEN)
    if bad:
        return f"must not contain {' '.join(bad)} (nginx would read {'it' if len(bad) == 1 else 'them'} as syntax)"
    return None


def header_value_problem(value: str) -> str | None:
    """A response header value nginx sends as written: a quoted nginx string of visible ASCII
    (RFC 9110 field-value), without the leading or trailing blanks HTTP would strip."""
    problem = nginx_string_problem(value)
    if problem is not None:
        return problem
    if not value.isascii():
        return "must be ASCII (HTTP header values are)"
    if value != value.strip():
        return "must not begin or end with a blank"
    return None


def nginx_quoted(value: str) -> str:
    """`value` as a double-quoted nginx string; UnsafeValueError if nginx would not read it literally."""
    problem = nginx_string_problem(value)
    if problem is not None:
        raise UnsafeValueError(problem)
    return f'"{value}"'


# A bare nginx token (server_name, location prefix): no whitespace, quote, `;`, braces, `#` or `$`.
_NGINX_TOKEN_RE = re.compile(r"[A-Za-z0-9._~:/@!&=+,%*-]+")


def nginx_token(value: str) -> str:
    if not fullmatch(_NGINX_TOKEN_RE, value):
        raise UnsafeValueError("not a plain nginx token")
    return value


# --- URL paths (nginx locations, healthcheck URLs run by wget or by `node -e`) --------------------
# RFC 3986 path characters without the sub-delimiters that are syntax in shell or JavaScript
# (quotes, `$`, parentheses, `*`, backslash, backtick); `%` only as a %XX escape; an optional query.
_PCHAR = r"(?:[A-Za-z0-9._~:@!&=+,;-]|%[0-9A-Fa-f]{2})"
_URL_PATH_RE = re.compile(rf"(?:/{_PCHAR}*)+(?:\?(?:{_PCHAR}|[/?])*)?")
# `.` and `..` segments are removed by every URL parser (RFC 3986 5.2.4): the probe would ask for
# another path than the one written.
_DOT_SEGMENT_RE = re.compile(r"/\.\.?(?=/|\?|\Z)")


def url_path_problem(value: str) -> str | None:
    if not fullmatch(_URL_PATH_RE, value):
        return "must be an absolute URL path such as '/health' (letters, digits, %XX and - . _ ~ : @ ! & = + , ; / ?)"
    path = value.split("?", 1)[0]
    if _DOT_SEGMENT_RE.search(path):
        return "must not have . or .. segments"
    return None


# --- shell ---------------------------------------------------------------------------------------
def sh_word(value: str) -> str:
    """One shell word, whatever it contains (POSIX single quotes)."""
    if "\x00" in value:
        raise UnsafeValueError("a shell word cannot contain NUL")
    return shlex.quote(value)


# --- redis.conf ----------------------------------------------------------------------------------
def redis_quoted(value: str) -> str:
    r"""A double-quoted redis.conf argument. redis reads its config line by line, then splits each
    line with sdssplitargs (redis src/sds.c), which inside double quotes knows \\, \" and \xHH: a
    raw newline would end the directive and start another."""
    out = []
    for ch in value:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# --- ssh(1) options of the Docker provider -----------------------------------------------------------
# pulumi-docker runs `ssh <sshOpts...> user@host docker system dial-stdio` on the deployer's machine.
# These ssh_config(5) options run a local command, or load a file that may: a stack file must not
# be able to make `pulumi up` execute something on the operator's workstation.
_SSH_COMMAND_OPTIONS = ("proxycommand", "localcommand", "permitlocalcommand", "knownhostscommand", "match", "include")


def ssh_option_problem(value: str) -> str | None:
    if not value or _controls(value):
        return "must be a non-empty single line of printable characters"
    lowered = value.lower().replace(" ", "")
    if any(name in lowered for name in _SSH_COMMAND_OPTIONS):
        return (
            "must not set an ssh option that runs a local command or loads a config (ProxyCommand, LocalCommand, ...)"
        )
    if lowered.startswith("-f"):
        return "must not load another ssh config file (-F)"
    return None


# --- secrets that are passwords or tokens ----------------------------------------------------------
def password_problem(value: str) -> str | None:
    """A password is read back from a file by shells (`$(cat file)` drops trailing newlines) and
    written into config files: one line of printable characters. Never quotes the value."""
    if not value:
        return "must not be empty"
    if _controls(value):
        return "must be printable characters only (no newline, tab or other control character)"
    return None


# --- YAML and Go templates -----------------------------------------------------------------------
# Rendered YAML is always produced by yaml.safe_dump, which quotes as needed; what remains is text
# that the reader then expands itself: Alertmanager runs Go templates over `to`, `from`, `headers`,
# Slack's `channel` and others (prometheus/alertmanager config/notifiers.go), so `{{` is syntax there.
def template_text_problem(value: str) -> str | None:
    if _controls(value):
        return "must be a single line of printable characters"
    if "{{" in value or "}}" in value:
        return "must not contain {{ or }} (Alertmanager would expand it as a template)"
    return None


# --- SQL and pg_hba.conf ---------------------------------------------------------------------------
_SQL_NAME_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# PostgreSQL 15's reserved key words (RESERVED_KEYWORD and TYPE_FUNC_NAME_KEYWORD of
# src/include/parser/kwlist.h, as pg_get_keywords() reports with catcode R and T): as a bare
# identifier in CREATE ROLE / CREATE DATABASE they are syntax errors.
SQL_RESERVED = frozenset(
    {
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "binary",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "group",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "intersect",
        "into",
        "is",
        "isnull",
        "join",
        "lateral",
        "leading",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "natural",
        "not",
        "notnull",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "outer",
        "overlaps",
        "placing",
        "primary",
        "references",
        "returning",
        "right",
        "select",
        "session_user",
        "similar",
        "some",
        "symmetric",
        "table",
        "tablesample",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
    }
)
# Words pg_hba.conf reads as keywords in its database and user columns (PostgreSQL docs, 21.1), and
# role names PostgreSQL reserves (CREATE ROLE refuses `public`, `none` and the pg_ prefix).
PG_HBA_KEYWORDS = frozenset({"all", "sameuser", "samerole", "samegroup", "replication"})
RESERVED_ROLES = frozenset({"public", "none"})


def sql_name_problem(value: str) -> str | None:
    """A database or role name rendered bare into SQL and pg_hba.conf."""
    if not fullmatch(_SQL_NAME_RE, value):
        return "must be a lowercase SQL name: a letter or _, then letters, digits or _ (at most 63)"
    if value in SQL_RESERVED:
        return f"{value!r} is a reserved SQL key word"
    if value in PG_HBA_KEYWORDS:
        return f"{value!r} is a keyword of pg_hba.conf"
    if value in RESERVED_ROLES or value.startswith("pg_"):
        return f"{value!r} is reserved by PostgreSQL"
    return None


# --- PromQL --------------------------------------------------------------------------------------
def promql_string(value: str) -> str:
    """A PromQL string literal (Go's double-quoted string syntax, which JSON's is a subset of)."""
    return json.dumps(value, ensure_ascii=True)


# --- one line for every other text field -----------------------------------------------------------
def single_line_problem(value: str) -> str | None:
    if not value or _controls(value):
        return "must be a non-empty single line of printable characters"
    return None


def sha256_hex(text: str) -> str:
    """The hex SHA-256 of a text: the digest that keys a rotation (kept secret where it is used)."""
    return hashlib.sha256(text.encode()).hexdigest()
