// A port of guest-sdk/rust/src/json.rs, so a JavaScript module refuses exactly
// the records the Rust SDK refuses, with the same `malformed JSON at byte
// N: ...` text. JSON.parse does the work for valid records; this strict
// scanner runs only when it fails or when the record might nest too deep,
// to find the Rust scanner's offset (in UTF-8 bytes) and reason.

const MAX_DEPTH = 128;

export class JsonError extends Error {
  constructor(offset, reason) {
    super(`malformed JSON at byte ${offset}: ${reason}`);
  }
}

// The record `text` parsed into an object, or a JsonError as Rust words it.
export function parseObject(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (isObject(value) && !mightNestTooDeep(text)) return value;
  new Scanner(new TextEncoder().encode(text)).objectLine();
  return JSON.parse(text); // the strict scan passed: trust it
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function mightNestTooDeep(text) {
  let open = 0;
  for (let i = text.indexOf("{"); i !== -1; i = text.indexOf("{", i + 1)) open++;
  for (let i = text.indexOf("["); i !== -1; i = text.indexOf("[", i + 1)) open++;
  return open > MAX_DEPTH;
}

// A string, kept ($1), or a run of whitespace outside strings, removed.
const STRING_OR_WS = /("(?:[^"\\]|\\.)*")|[ \t\n\r]+/gs;

// `text` (valid JSON) without whitespace outside strings.
export function compact(text) {
  return /[ \t\n\r]/.test(text) ? text.replace(STRING_OR_WS, "$1") : text;
}

const c = (s) => s.charCodeAt(0);
const isWS = (b) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
const isDigit = (b) => b >= 0x30 && b <= 0x39;
const isHex = (b) => isDigit(b) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46);

class Scanner {
  constructor(b) {
    this.b = b;
    this.pos = 0;
    this.depth = 0;
  }
  fail(reason) {
    throw new JsonError(this.pos, reason);
  }
  peek() {
    return this.pos < this.b.length ? this.b[this.pos] : -1;
  }
  ws() {
    while (isWS(this.peek())) this.pos++;
  }
  objectLine() {
    this.ws();
    if (this.peek() !== c("{")) this.fail("a record must be a JSON object");
    this.members(c("}"), "expected ',' or '}' in the object", () => this.member());
    this.ws();
    if (this.pos !== this.b.length) this.fail("unexpected text after the object");
  }
  value() {
    const ch = this.peek();
    if (ch === c("{")) this.members(c("}"), "expected ',' or '}' in the object", () => this.member());
    else if (ch === c("[")) this.members(c("]"), "expected ',' or ']' in the array", () => this.value());
    else if (ch === c('"')) this.string();
    else if (ch === c("t")) this.literal("true");
    else if (ch === c("f")) this.literal("false");
    else if (ch === c("n")) this.literal("null");
    else if (ch === c("-") || isDigit(ch)) this.number();
    else if (ch === -1) this.fail("unexpected end of line, expected a value");
    else this.fail("expected a value");
  }
  members(close, reason, item) {
    this.depth++;
    if (this.depth > MAX_DEPTH) this.fail("nested more than 128 levels deep");
    this.pos++;
    this.ws();
    if (this.peek() !== close) {
      for (;;) {
        item();
        this.ws();
        const ch = this.peek();
        if (ch === c(",")) {
          this.pos++;
          this.ws();
        } else if (ch === close) break;
        else this.fail(reason);
      }
    }
    this.pos++;
    this.depth--;
  }
  member() {
    if (this.peek() !== c('"')) this.fail("expected a string key");
    this.string();
    this.ws();
    if (this.peek() !== c(":")) this.fail("expected ':' after the key");
    this.pos++;
    this.ws();
    this.value();
  }
  string() {
    this.pos++;
    for (;;) {
      if (this.pos >= this.b.length) this.fail("unterminated string");
      const ch = this.b[this.pos];
      if (ch === c('"')) {
        this.pos++;
        return;
      }
      if (ch === c("\\")) this.escape();
      else if (ch < 0x20) this.fail("control character in a string");
      else this.pos++;
    }
  }
  escape() {
    this.pos++;
    const ch = this.peek();
    if (ch !== -1 && '"\\/bfnrt'.includes(String.fromCharCode(ch))) this.pos++;
    else if (ch === c("u")) {
      const digits = this.b.subarray(this.pos + 1, this.pos + 5);
      if (digits.length !== 4 || !digits.every(isHex)) this.fail("\\u must be followed by four hex digits");
      this.pos += 5;
    } else this.fail("invalid escape in a string");
  }
  literal(word) {
    for (let i = 0; i < word.length; i++) {
      if (this.b[this.pos + i] !== word.charCodeAt(i)) this.fail("expected true, false or null");
    }
    this.pos += word.length;
  }
  digits() {
    const start = this.pos;
    while (isDigit(this.peek())) this.pos++;
    return this.pos - start;
  }
  number() {
    if (this.peek() === c("-")) this.pos++;
    const ch = this.peek();
    if (ch === c("0")) this.pos++;
    else if (ch >= c("1") && ch <= c("9")) this.digits();
    else this.fail("expected a digit");
    if (this.peek() === c(".")) {
      this.pos++;
      if (this.digits() === 0) this.fail("expected a digit after '.'");
    }
    if (this.peek() === c("e") || this.peek() === c("E")) {
      this.pos++;
      if (this.peek() === c("+") || this.peek() === c("-")) this.pos++;
      if (this.digits() === 0) this.fail("expected a digit in the exponent");
    }
  }
}
