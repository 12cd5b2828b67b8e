"""Strict, bounded YAML for stack files and `--set` values: one reader, one kind of error.

PyYAML's `safe_load` accepts things a configuration file must not have: a key written twice (the
last one silently wins), anchors and aliases (a few hundred bytes of "billion laughs" expand to
gigabytes before any check runs), nesting deep enough to exhaust the recursive composer, and
timestamps, sets and binary blobs that are not configuration values. This reader refuses all of
them while the document is composed, before anything large is constructed, and reads only a
bounded number of bytes from a regular file, decoded as strict UTF-8.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import MappingNode, Node
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import Resolver
from yaml.scanner import Scanner

# A stack file holds settings and a few encrypted secrets (a certificate chain is ~10 KiB encrypted).
MAX_FILE_BYTES = 1024 * 1024
# One `--set` value.
MAX_VALUE_BYTES = 64 * 1024
# The deepest setting is five levels below `config:`; anything far deeper is not a stack file.
MAX_DEPTH = 32


class YamlInputError(Exception):
    """The reason (without the file's name, which the caller knows), and the line when known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason, self.line = reason, line
        super().__init__(reason if line is None else f"line {line}: {reason}")


class _StrictComposer(Composer):
    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[attr-defined]  # the Parser's, mixed in below
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, AliasEvent):
            raise YamlInputError(f"aliases (*{event.anchor}) are not allowed in configuration", line)
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise YamlInputError(f"anchors (&{event.anchor}) are not allowed in configuration", line)
        if isinstance(event, CollectionStartEvent):
            if self._depth >= MAX_DEPTH:
                raise YamlInputError(f"nested more than {MAX_DEPTH} levels deep", line)
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)


class _StrictConstructor(SafeConstructor):
    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    raise YamlInputError("a key must be a plain scalar", key_node.start_mark.line + 1)
                if key in seen:
                    raise YamlInputError(f"duplicate key {key!r}", key_node.start_mark.line + 1)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]

    def _refuse(self, node: Node) -> Any:
        raise YamlInputError(f"the YAML tag {node.tag} is not a configuration value", node.start_mark.line + 1)

    def _as_text(self, node: Node) -> Any:
        # A date in a config value is text to the program (the engine passes strings).
        return self.construct_scalar(node)  # type: ignore[arg-type]


for _tag in ("binary", "set", "omap", "pairs"):
    _StrictConstructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _StrictConstructor._refuse)  # type: ignore[type-var]
_StrictConstructor.add_constructor("tag:yaml.org,2002:timestamp", _StrictConstructor._as_text)  # type: ignore[type-var]
_StrictConstructor.add_constructor(None, _StrictConstructor._refuse)  # type: ignore[type-var]  # unknown tags (!foo)


class _StrictLoader(Reader, Scanner, Parser, _StrictComposer, _StrictConstructor, Resolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _StrictComposer.__init__(self)
        _StrictConstructor.__init__(self)
        Resolver.__init__(self)


def load_yaml_text(text: str) -> Any:
    """Parse one YAML document under the rules above; YamlInputError on anything else."""
    loader: _StrictLoader | None = None
    try:
        loader = _StrictLoader(text)  # the reader refuses control characters here already
        return loader.get_single_data()
    except YamlInputError:
        raise
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "syntax error"
        raise YamlInputError(f"not valid YAML: {problem}", mark.line + 1 if mark else None) from None
    except ReaderError as error:
        line = text[: error.position].count("\n") + 1
        character = error.character if isinstance(error.character, int) else ord(str(error.character)[:1] or "?")
        raise YamlInputError(f"not valid YAML: the character #x{character:04x} is not allowed", line) from None
    except yaml.YAMLError as error:
        raise YamlInputError(f"not valid YAML: {' '.join(str(error).split())}") from None
    except RecursionError:  # unreachable with MAX_DEPTH, but never a traceback
        raise YamlInputError(f"nested more than {MAX_DEPTH} levels deep") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml_file(path: Path) -> Any:
    """A regular file of at most MAX_FILE_BYTES, strict UTF-8, parsed by load_yaml_text."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before the type check below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise YamlInputError(f"cannot read: {error.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise YamlInputError("not a regular file")
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as error:
        raise YamlInputError(f"cannot read: {error.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise YamlInputError(f"larger than {MAX_FILE_BYTES // 1024} KiB; not a stack file")
    return load_yaml_text(decode_utf8(data))


def decode_utf8(data: bytes) -> str:
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise YamlInputError(f"not UTF-8 (byte 0x{data[error.start]:02x})", line) from None
    return text.removeprefix("\ufeff")
