"""Sluice transforms in Python, built into a WebAssembly component with
componentize-py against guest-sdk/wit/sluice.wit (see README.md here).

A transform is a class: `__init__(self, config)` reads its configuration
(raise `Error` to refuse it) and `process(self, record)` returns what
becomes of one record: `None` (dropped), a `Message`, or a list of them
(none, one or several messages); raising `Error` (or any exception) fails
the record, which goes to the dead letters with the message. The module
ends with `WitWorld = sluice.export(MyTransform)`.
"""

import io
import sys

from componentize_py_types import Err
from wit_world.imports import host, types

from ._json import JsonError, compact, parse_object

__all__ = ["Config", "Error", "JsonError", "Message", "Record", "export", "log"]


class Error(Exception):
    """A transform's error: its text is the operator's message."""


class Config:
    """The operator's `--transform-config KEY=VALUE` pairs, in order."""

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def get(self, key):
        """The value of `key` (the last one when given more than once), or None."""
        for k, v in reversed(self.pairs):
            if k == key:
                return v
        return None

    def require(self, key):
        """The value of `key`, or an `Error` that names it."""
        value = self.get(key)
        if value is None:
            raise Error(f"missing required config `{key}`")
        return value

    def allow_only(self, *known):
        """Refuses any key not in `known`, so a typo fails at start-up."""
        for key, _ in self.pairs:
            if key not in known:
                raise Error(f"unknown config `{key}`; this transform accepts: {', '.join(known)}")


class Record:
    """One JSON-lines record: its text, parsed on arrival (a record that is
    not a strict RFC 8259 JSON object fails before `process` sees it)."""

    __slots__ = ("text", "_json")

    def __init__(self, text):
        self.text = text
        self._json = parse_object(text)

    def json(self):
        """The record as a dict."""
        return self._json

    def field(self, path):
        """The value at a dot-separated `path` (`DeliveryAddress.City`), or None."""
        value = self._json
        for step in path.split("."):
            if not isinstance(value, dict) or step not in value:
                return None
            value = value[step]
        return value

    def compact(self):
        """The record as compact JSON bytes: whitespace outside strings
        removed, members in their order, numbers exactly as written."""
        return compact(self.text)


def _bytes(value):
    return value.encode() if isinstance(value, str) else value


class Message:
    """One Kafka message. `key`, `value` and header values are bytes or str
    (sent as UTF-8); None is a null key or value. `timestamp_ms` None lets
    the producer stamp it, `topic` None is `--topic`, `partition` None lets
    the partitioner choose."""

    __slots__ = ("key", "value", "headers", "timestamp_ms", "topic", "partition")

    def __init__(self, key=None, value=None, headers=(), timestamp_ms=None, topic=None, partition=None):
        self.key, self.value, self.headers = key, value, headers
        self.timestamp_ms, self.topic, self.partition = timestamp_ms, topic, partition

    def _wit(self):
        headers = [(name, _bytes(value)) for name, value in self.headers]
        return types.Message(
            _bytes(self.key), _bytes(self.value), headers, self.timestamp_ms, self.topic, self.partition
        )


_LEVELS = {level.name.lower(): level for level in host.Level}


def log(level, message):
    """Writes `message` to the host's log at `level` ("error", "warn",
    "info", "debug" or "trace"), tagged with the module's name."""
    host.log(_LEVELS[level], message)


class _LogStream(io.TextIOBase):
    """sys.stdout and sys.stderr: each line written becomes a log line (the
    component has no WASI, so nothing else could take them)."""

    def __init__(self, level):
        self.level, self.pending = level, ""

    def writable(self):
        return True

    def write(self, text):
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            host.log(self.level, line)
        return len(text)


sys.stdout = _LogStream(host.Level.INFO)
sys.stderr = _LogStream(host.Level.WARN)


def _describe(error):
    if isinstance(error, (Error, JsonError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


_DROP = types.Outcome_Drop()


def _outcome(transform, text):
    try:
        result = transform.process(Record(text))
    except Exception as error:  # every failure of one record is that record's error
        return types.Outcome_Error(_describe(error))
    if result is None:
        return _DROP
    if isinstance(result, Message):
        return types.Outcome_Emit([result._wit()])
    return types.Outcome_Emit([m._wit() for m in result])


def export(transform_class):
    """The `WitWorld` class componentize-py exports, running `transform_class`."""
    state = {}

    class WitWorld:
        def init(self, config):
            try:
                state["transform"] = transform_class(Config(config))
            except Exception as error:
                raise Err(_describe(error))

        def process(self, records):
            transform = state.get("transform")
            if transform is None:
                return [types.Outcome_Error("init was not called")] * len(records)
            return [_outcome(transform, text) for text in records]

    return WitWorld
