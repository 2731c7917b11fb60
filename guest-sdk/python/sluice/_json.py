"""A port of guest-sdk/rust/src/json.rs, so a Python module refuses exactly the
records the Rust SDK refuses, with the same `malformed JSON at byte N: ...`
text. `json.loads` does the work for valid records; this strict scanner
runs only when it fails or when the record might nest too deep, to find
the Rust scanner's offset and reason (or to refuse what `json.loads`
accepts and RFC 8259 does not: NaN, Infinity, over 128 levels)."""

import json
import re

MAX_DEPTH = 128

_WS = b" \t\n\r"
_DIGITS = b"0123456789"
_HEX = b"0123456789abcdefABCDEF"
# A string, kept (group 1), or a run of whitespace outside strings, removed.
_STRING_OR_WS = re.compile(r'("(?:[^"\\]|\\.)*")|[ \t\n\r]+', re.DOTALL)


class JsonError(Exception):
    def __init__(self, offset, reason):
        super().__init__(f"malformed JSON at byte {offset}: {reason}")


def _refuse_constant(name):
    raise ValueError(name)


def parse_object(text):
    """The record `text` parsed into a dict, or JsonError as Rust words it."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        value = None
    if isinstance(value, dict) and text.count("{") + text.count("[") <= MAX_DEPTH:
        return value
    _Scanner(text.encode()).object_line()
    # The strict scan passed where json.loads did not: trust the scan.
    return json.loads(text)


def compact(text):
    """`text` (valid JSON) without whitespace outside strings, as bytes."""
    if " " in text or "\t" in text or "\n" in text or "\r" in text:
        text = _STRING_OR_WS.sub(r"\1", text)
    return text.encode()


class _Scanner:
    def __init__(self, b):
        self.b, self.pos, self.depth = b, 0, 0

    def fail(self, reason):
        raise JsonError(self.pos, reason)

    def peek(self):
        return self.b[self.pos] if self.pos < len(self.b) else -1

    def ws(self):
        while self.pos < len(self.b) and self.b[self.pos] in _WS:
            self.pos += 1

    def object_line(self):
        self.ws()
        if self.peek() != ord("{"):
            self.fail("a record must be a JSON object")
        self.object()
        self.ws()
        if self.pos != len(self.b):
            self.fail("unexpected text after the object")

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail("nested more than 128 levels deep")
        self.pos += 1
        self.ws()

    def value(self):
        c = self.peek()
        if c == ord("{"):
            self.object()
        elif c == ord("["):
            self.array()
        elif c == ord('"'):
            self.string()
        elif c == ord("t"):
            self.literal(b"true")
        elif c == ord("f"):
            self.literal(b"false")
        elif c == ord("n"):
            self.literal(b"null")
        elif c == ord("-") or (c != -1 and c in _DIGITS):
            self.number()
        elif c == -1:
            self.fail("unexpected end of line, expected a value")
        else:
            self.fail("expected a value")

    def object(self):
        self.members(ord("}"), "expected ',' or '}' in the object", self.member)

    def array(self):
        self.members(ord("]"), "expected ',' or ']' in the array", self.value)

    def members(self, close, reason, item):
        self.enter()
        if self.peek() != close:
            while True:
                item()
                self.ws()
                c = self.peek()
                if c == ord(","):
                    self.pos += 1
                    self.ws()
                elif c == close:
                    break
                else:
                    self.fail(reason)
        self.pos += 1
        self.depth -= 1

    def member(self):
        if self.peek() != ord('"'):
            self.fail("expected a string key")
        self.string()
        self.ws()
        if self.peek() != ord(":"):
            self.fail("expected ':' after the key")
        self.pos += 1
        self.ws()
        self.value()

    def string(self):
        self.pos += 1
        while True:
            if self.pos >= len(self.b):
                self.fail("unterminated string")
            c = self.b[self.pos]
            if c == ord('"'):
                self.pos += 1
                return
            if c == ord("\\"):
                self.escape()
            elif c < 0x20:
                self.fail("control character in a string")
            else:
                self.pos += 1

    def escape(self):
        self.pos += 1
        c = self.peek()
        if c != -1 and c in b'"\\/bfnrt':
            self.pos += 1
        elif c == ord("u"):
            digits = self.b[self.pos + 1 : self.pos + 5]
            if len(digits) != 4 or any(d not in _HEX for d in digits):
                self.fail("\\u must be followed by four hex digits")
            self.pos += 5
        else:
            self.fail("invalid escape in a string")

    def literal(self, word):
        if not self.b.startswith(word, self.pos):
            self.fail("expected true, false or null")
        self.pos += len(word)

    def digits(self):
        start = self.pos
        while self.pos < len(self.b) and self.b[self.pos] in _DIGITS:
            self.pos += 1
        return self.pos - start

    def number(self):
        if self.peek() == ord("-"):
            self.pos += 1
        c = self.peek()
        if c == ord("0"):
            self.pos += 1
        elif c != -1 and c in b"123456789":
            self.digits()
        else:
            self.fail("expected a digit")
        if self.peek() == ord("."):
            self.pos += 1
            if self.digits() == 0:
                self.fail("expected a digit after '.'")
        if self.peek() in (ord("e"), ord("E")):
            self.pos += 1
            if self.peek() in (ord("+"), ord("-")):
                self.pos += 1
            if self.digits() == 0:
                self.fail("expected a digit in the exponent")
