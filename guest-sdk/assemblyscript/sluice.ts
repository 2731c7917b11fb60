// sluice.ts: write a Sluice transform in AssemblyScript.
//
// It implements the ABI of guest-sdk/ABI.md (the exports, the buffers, the
// config and batch encodings) and a strict JSON scanner that validates each
// record (RFC 8259) and indexes its top-level members, exactly as the Rust
// SDK does. Build with `--runtime stub` (nothing is ever freed), so the
// per-record API allocates nothing: byte strings are `Slice`s, a `u64`
// packing `(ptr << 32) | len` into module memory, and `NONE` means absent.
// They stay valid until the record's callback returns.
//
// The entry file registers two callbacks and re-exports the ABI:
//
//   sluice.register(init, process);
//   export { sluice_abi_version, sluice_buffer, sluice_init, sluice_process,
//            sluice_panic_message } from "<path>/guest-sdk/assemblyscript/sluice";
//
// `init(config)` returns null to accept the config or a refusal message.
// `process(record)` is called once per valid JSON-object record: it calls
// `emit` once for each message the record becomes (none: the record is
// dropped; several: ABI version 2's emit-many), each with its own topic and
// partition if it names them, or `fail` to send it to the dead letters. A
// record that is not a JSON object fails with "malformed JSON at byte N:
// <reason>" first. `log(level, message)` writes a line to the host's log.

// The panic message lives in a static segment: abort may run before any
// global is initialized.
const PANIC_CAP: u32 = 1024;
const PANIC_BUF = memory.data(PANIC_CAP);
let panicLen: u32 = 0;

export function sluice_panic_message(): i64 {
  return <i64>(((<u64>PANIC_BUF) << 32) | <u64>panicLen);
}

function panicAppend(text: string): void {
  const buf = String.UTF8.encode(text);
  const n = min(<u32>buf.byteLength, PANIC_CAP - panicLen);
  memory.copy(PANIC_BUF + panicLen, changetype<usize>(buf), n);
  panicLen += n;
}

/** The module's `abort` (build with `--use abort=<path>/sluice/abort`): keeps
 *  the message for `sluice_panic_message`, then traps. */
export function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  panicLen = 0;
  panicAppend(message != null ? message : "abort");
  if (fileName != null) panicAppend(" at " + fileName + ":" + line.toString() + ":" + column.toString());
  unreachable();
}

export type Slice = u64;
export const NONE: Slice = 0xFFFF_FFFF_FFFF_FFFF;

// @ts-ignore: decorator
@inline export function slice(ptr: usize, len: u32): Slice {
  return ((<u64>ptr) << 32) | <u64>len;
}
// @ts-ignore: decorator
@inline export function slicePtr(s: Slice): usize {
  return <usize>(s >>> 32);
}
// @ts-ignore: decorator
@inline export function sliceLen(s: Slice): u32 {
  return <u32>s;
}

/** A string's UTF-8 bytes as a Slice that lives forever: make names once. */
export function name(text: string): Slice {
  const buf = String.UTF8.encode(text);
  return slice(changetype<usize>(buf), <u32>buf.byteLength);
}

/** The Slice's bytes as a string (allocates: for init and errors). */
export function text(s: Slice): string {
  return String.UTF8.decodeUnsafe(slicePtr(s), sliceLen(s));
}

export function equals(a: Slice, b: Slice): bool {
  const n = sliceLen(a);
  if (n != sliceLen(b)) return false;
  return memory.compare(slicePtr(a), slicePtr(b), n) == 0;
}

// ---- memory: buffers that only grow ----

class Vec {
  ptr: usize = 0;
  len: u32 = 0;
  cap: u32 = 0;

  reserve(extra: u32): void {
    if (this.len + extra <= this.cap) return;
    let cap: u32 = this.cap ? this.cap * 2 : 4096;
    while (cap < this.len + extra) cap *= 2;
    const p = heap.alloc(cap);
    if (this.len) memory.copy(p, this.ptr, this.len);
    this.ptr = p;
    this.cap = cap;
  }
  push(b: u8): void {
    this.reserve(1);
    store<u8>(this.ptr + this.len, b);
    this.len++;
  }
  extend(p: usize, n: u32): void {
    this.reserve(n);
    memory.copy(this.ptr + this.len, p, n);
    this.len += n;
  }
  extendSlice(s: Slice): void {
    this.extend(slicePtr(s), sliceLen(s));
  }
  extendString(s: string): void {
    this.extendSlice(name(s));
  }
  u32(x: u32): void {
    this.reserve(4);
    store<u32>(this.ptr + this.len, x);
    this.len += 4;
  }
  bytes(s: Slice): void {
    this.u32(sliceLen(s));
    this.extendSlice(s);
  }
  from(mark: u32): Slice {
    return slice(this.ptr + mark, this.len - mark);
  }
}

const input = new Vec();
const output = new Vec();
const scratch = new Vec();
const members = new Vec(); // 4 u32 per member: key start, key end, value start, value end

// ---- JSON: a port of guest-sdk/rust/src/json.rs ----

const MAX_DEPTH: u32 = 128;
let sb: usize = 0; // the text being scanned
let slen: u32 = 0;
let spos: u32 = 0;
let sdepth: u32 = 0;
let scompact = true;
let sreason = "";

function peek(): i32 {
  return spos < slen ? <i32>load<u8>(sb + spos) : -1;
}
function fail_(reason: string): bool {
  sreason = reason;
  return false;
}
function isWs(c: i32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d;
}
function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}
function isHex(c: i32): bool {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}
function ws(): void {
  const start = spos;
  while (isWs(peek())) spos++;
  if (spos != start) scompact = false;
}
function enter(): bool {
  if (++sdepth > MAX_DEPTH) return fail_("nested more than 128 levels deep");
  spos++;
  ws();
  return true;
}
let strStart: u32 = 0;
function scanString(): bool {
  spos++;
  strStart = spos;
  while (true) {
    while (spos < slen) {
      const c = load<u8>(sb + spos);
      if (c < 0x20 || c == 0x22 || c == 0x5c) break;
      spos++;
    }
    if (spos >= slen) return fail_("unterminated string");
    const c = load<u8>(sb + spos);
    if (c == 0x22) {
      spos++;
      return true;
    }
    if (c != 0x5c) return fail_("control character in a string");
    spos++;
    const e = peek();
    if (e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74) {
      spos++;
    } else if (e == 0x75) {
      if (spos + 5 > slen) return fail_("\\u must be followed by four hex digits");
      for (let i: u32 = 1; i <= 4; i++) {
        if (!isHex(load<u8>(sb + spos + i))) return fail_("\\u must be followed by four hex digits");
      }
      spos += 5;
    } else {
      return fail_("invalid escape in a string");
    }
  }
  return false; // not reached
}
function literal(word: string): bool {
  const n = <u32>word.length;
  if (slen - spos < n) return fail_("expected true, false or null");
  for (let i: u32 = 0; i < n; i++) {
    if (<i32>load<u8>(sb + spos + i) != word.charCodeAt(i)) return fail_("expected true, false or null");
  }
  spos += n;
  return true;
}
function digits(): u32 {
  const start = spos;
  while (isDigit(peek())) spos++;
  return spos - start;
}
function scanNumber(): bool {
  if (peek() == 0x2d) spos++;
  const c = peek();
  if (c == 0x30) spos++;
  else if (c >= 0x31 && c <= 0x39) digits();
  else return fail_("expected a digit");
  if (peek() == 0x2e) {
    spos++;
    if (digits() == 0) return fail_("expected a digit after '.'");
  }
  if (peek() == 0x65 || peek() == 0x45) {
    spos++;
    if (peek() == 0x2b || peek() == 0x2d) spos++;
    if (digits() == 0) return fail_("expected a digit in the exponent");
  }
  return true;
}
function scanArray(): bool {
  if (!enter()) return false;
  if (peek() == 0x5d) {
    spos++;
    sdepth--;
    return true;
  }
  while (true) {
    if (!scanValue()) return false;
    ws();
    const c = peek();
    if (c == 0x2c) {
      spos++;
      ws();
    } else if (c == 0x5d) {
      break;
    } else {
      return fail_("expected ',' or ']' in the array");
    }
  }
  spos++;
  sdepth--;
  return true;
}
function scanObject(keep: bool): bool {
  if (!enter()) return false;
  if (peek() == 0x7d) {
    spos++;
    sdepth--;
    return true;
  }
  while (true) {
    if (peek() != 0x22) return fail_("expected a string key");
    if (!scanString()) return false;
    const keyStart = strStart;
    const keyEnd = spos - 1;
    ws();
    if (peek() != 0x3a) return fail_("expected ':' after the key");
    spos++;
    ws();
    const valueStart = spos;
    if (!scanValue()) return false;
    if (keep) {
      members.u32(keyStart);
      members.u32(keyEnd);
      members.u32(valueStart);
      members.u32(spos);
    }
    ws();
    const c = peek();
    if (c == 0x2c) {
      spos++;
      ws();
    } else if (c == 0x7d) {
      break;
    } else {
      return fail_("expected ',' or '}' in the object");
    }
  }
  spos++;
  sdepth--;
  return true;
}
function scanValue(): bool {
  const c = peek();
  if (c == 0x7b) return scanObject(false);
  if (c == 0x5b) return scanArray();
  if (c == 0x22) return scanString();
  if (c == 0x74) return literal("true");
  if (c == 0x66) return literal("false");
  if (c == 0x6e) return literal("null");
  if (c == 0x2d || isDigit(c)) return scanNumber();
  if (c == -1) return fail_("unexpected end of line, expected a value");
  return fail_("expected a value");
}

/** Appends valid JSON text with the whitespace outside strings removed. */
function writeCompact(out: Vec, p: usize, n: u32): void {
  let inString = false;
  let escaped = false;
  out.reserve(n);
  for (let i: u32 = 0; i < n; i++) {
    const c = load<u8>(p + i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c == 0x5c) escaped = true;
      else if (c == 0x22) inString = false;
    } else if (isWs(c)) {
      continue;
    } else if (c == 0x22) {
      inString = true;
    }
    store<u8>(out.ptr + out.len, c);
    out.len++;
  }
}

function pushUtf8(out: Vec, c: u32): void {
  if (c < 0x80) {
    out.push(<u8>c);
  } else if (c < 0x800) {
    out.push(<u8>(0xc0 | (c >> 6)));
    out.push(<u8>(0x80 | (c & 0x3f)));
  } else if (c < 0x10000) {
    out.push(<u8>(0xe0 | (c >> 12)));
    out.push(<u8>(0x80 | ((c >> 6) & 0x3f)));
    out.push(<u8>(0x80 | (c & 0x3f)));
  } else {
    out.push(<u8>(0xf0 | (c >> 18)));
    out.push(<u8>(0x80 | ((c >> 12) & 0x3f)));
    out.push(<u8>(0x80 | ((c >> 6) & 0x3f)));
    out.push(<u8>(0x80 | (c & 0x3f)));
  }
}

function hex4(p: usize): u32 {
  let x: u32 = 0;
  for (let i = 0; i < 4; i++) {
    const c = <u32>load<u8>(p + i);
    x = (x << 4) | (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10);
  }
  return x;
}

/** Appends the content of a validated string body, unescaped. */
function unescape(out: Vec, p: usize, n: u32): void {
  let i: u32 = 0;
  while (i < n) {
    const c = load<u8>(p + i);
    if (c != 0x5c) {
      out.push(c);
      i++;
      continue;
    }
    const e = load<u8>(p + i + 1);
    i += 2;
    if (e == 0x62) out.push(8);
    else if (e == 0x66) out.push(12);
    else if (e == 0x6e) out.push(0x0a);
    else if (e == 0x72) out.push(0x0d);
    else if (e == 0x74) out.push(0x09);
    else if (e == 0x75) {
      const first = hex4(p + i);
      i += 4;
      if (first >= 0xd800 && first < 0xdc00 && i + 6 <= n && load<u8>(p + i) == 0x5c && load<u8>(p + i + 1) == 0x75) {
        const second = hex4(p + i + 2);
        if (second >= 0xdc00 && second < 0xe000) {
          pushUtf8(out, 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00));
          i += 6;
          continue;
        }
      }
      pushUtf8(out, first >= 0xd800 && first < 0xe000 ? 0xfffd : first);
    } else out.push(e);
  }
}

function hasBackslash(p: usize, n: u32): bool {
  for (let i: u32 = 0; i < n; i++) if (load<u8>(p + i) == 0x5c) return true;
  return false;
}

function keyMatches(p: usize, n: u32, wanted: Slice): bool {
  if (!hasBackslash(p, n)) return equals(slice(p, n), wanted);
  const mark = scratch.len;
  unescape(scratch, p, n);
  const eq = equals(scratch.from(mark), wanted);
  scratch.len = mark;
  return eq;
}

function skipWs(p: usize, n: u32, pos: u32): u32 {
  while (pos < n && isWs(load<u8>(p + pos))) pos++;
  return pos;
}
function skipString(p: usize, n: u32, pos: u32): u32 {
  pos++;
  while (pos < n) {
    const c = load<u8>(p + pos);
    if (c == 0x22) return pos + 1;
    pos += c == 0x5c ? 2 : 1;
  }
  return n;
}
function skipValue(p: usize, n: u32, pos: u32): u32 {
  let depth: u32 = 0;
  while (pos < n) {
    const c = load<u8>(p + pos);
    if (c == 0x22) {
      pos = skipString(p, n, pos);
      if (depth == 0) return pos;
      continue;
    }
    if (c == 0x7b || c == 0x5b) depth++;
    else if ((c == 0x7d || c == 0x5d) && depth == 0) return pos;
    else if (c == 0x7d || c == 0x5d) {
      if (--depth == 0) return pos + 1;
    } else if ((c == 0x2c || isWs(c)) && depth == 0) return pos;
    pos++;
  }
  return pos;
}

// ---- config ----

/** The operator's --transform-config KEY=VALUE pairs, in order. */
export class Config {
  keys: string[] = [];
  values: string[] = [];

  /** The value of `key`; when it is given more than once, the last wins. */
  get(key: string): string | null {
    for (let i = this.keys.length - 1; i >= 0; i--) if (this.keys[i] == key) return this.values[i];
    return null;
  }

  /** Refuses any key not in `known`: returns the refusal, or null. */
  allowOnly(known: string[]): string | null {
    for (let i = 0; i < this.keys.length; i++) {
      if (!known.includes(this.keys[i])) {
        return "unknown config `" + this.keys[i] + "`; this transform accepts: " + known.join(", ");
      }
    }
    return null;
  }

  /** The refusal for a missing required `key`. */
  static missing(key: string): string {
    return "missing required config `" + key + "`";
  }
}

// ---- the record ----

let recordPtr: usize = 0;
let recordLen: u32 = 0;
let recordCompact = true;

/** The record exactly as read. */
export function raw(): Slice {
  return slice(recordPtr, recordLen);
}

/** The top-level member called exactly `wanted` (last duplicate wins), or NONE. */
export function member(wanted: Slice): Slice {
  for (let i = <i32>(members.len / 16) - 1; i >= 0; i--) {
    const m = members.ptr + <usize>i * 16;
    const ks = load<u32>(m);
    if (keyMatches(recordPtr + ks, load<u32>(m + 4) - ks, wanted)) {
      const vs = load<u32>(m + 8);
      return slice(recordPtr + vs, load<u32>(m + 12) - vs);
    }
  }
  return NONE;
}

/** Member `wanted` of an object value, or NONE. */
export function valueMember(value: Slice, wanted: Slice): Slice {
  if (value == NONE) return NONE;
  const p = slicePtr(value);
  const n = sliceLen(value);
  let found = NONE;
  let pos = skipWs(p, n, 0);
  if (pos >= n || load<u8>(p + pos) != 0x7b) return NONE;
  pos = skipWs(p, n, pos + 1);
  while (pos < n && load<u8>(p + pos) == 0x22) {
    const keyEnd = skipString(p, n, pos);
    const valueStart = skipWs(p, n, skipWs(p, n, keyEnd) + 1);
    const valueEnd = skipValue(p, n, valueStart);
    if (keyMatches(p + pos + 1, keyEnd - pos - 2, wanted)) found = slice(p + valueStart, valueEnd - valueStart);
    pos = skipWs(p, n, valueEnd);
    if (pos >= n || load<u8>(p + pos) != 0x2c) break;
    pos = skipWs(p, n, pos + 1);
  }
  return found;
}

/** The field at `path`, a list of names made with `name()`, or NONE. */
export function field(path: Slice[]): Slice {
  let v = member(path[0]);
  for (let i = 1; i < path.length && v != NONE; i++) v = valueMember(v, path[i]);
  return v;
}

export enum Kind { Null, Bool, Number, String, Array, Object }

export function kind(value: Slice): Kind {
  if (value == NONE || sliceLen(value) == 0) return Kind.Null;
  const c = load<u8>(slicePtr(value));
  if (c == 0x22) return Kind.String;
  if (c == 0x7b) return Kind.Object;
  if (c == 0x5b) return Kind.Array;
  if (c == 0x74 || c == 0x66) return Kind.Bool;
  if (c == 0x6e) return Kind.Null;
  return Kind.Number;
}

/** A string value's content, unescaped; NONE if it is not a string. */
export function str(value: Slice): Slice {
  if (kind(value) != Kind.String) return NONE;
  const p = slicePtr(value) + 1;
  const n = sliceLen(value) - 2;
  if (!hasBackslash(p, n)) return slice(p, n);
  const mark = scratch.len;
  unescape(scratch, p, n);
  return scratch.from(mark);
}

/** The value as Kafka key or header bytes: a string's unescaped content,
 *  any other value's compact JSON text. */
export function bytes(value: Slice): Slice {
  const s = str(value);
  if (s != NONE || value == NONE) return s;
  const mark = scratch.len;
  writeCompact(scratch, slicePtr(value), sliceLen(value));
  return scratch.from(mark);
}

/** The record as compact JSON: no whitespace outside strings, members in
 *  their original order, numbers exactly as written. */
export function compact(): Slice {
  if (recordCompact) return raw();
  const mark = scratch.len;
  writeCompact(scratch, recordPtr, recordLen);
  return scratch.from(mark);
}

// ---- the host's log (ABI version 2) ----

// @ts-ignore: decorator
@external("sluice", "log")
declare function sluice_log(level: i32, ptr: usize, len: usize): void;

/** Log levels of `log`. */
export enum Level { Error = 0, Warn = 1, Info = 2, Debug = 3, Trace = 4 }

/** Writes `message` as one line of the host's log, tagged with the module's
 *  name (rate-limited by the host). A module that never calls it imports
 *  nothing. */
export function log(level: Level, message: string): void {
  const buf = String.UTF8.encode(message);
  sluice_log(<i32>level, changetype<usize>(buf), <usize>buf.byteLength);
}

// ---- outcomes ----

let emitted: u32 = 0;
let failed = false;
let recordMark: u32 = 0;

/** A Kafka message header; a NONE value is null. */
export class Header {
  constructor(public name: Slice, public value: Slice) {}
}

/** Emits one message for the current record; call it again for more (the
 *  record becomes several messages). Key and value may be NONE (no key; a
 *  null value), `timestampMs` is used when `hasTimestamp`. `topic` (NONE:
 *  the operator's --topic) and `partition` (-1: the partitioner's choice by
 *  key) route the message; a topic that does not exist or a partition it
 *  does not have sends the record to the dead letters with that reason. */
export function emit(
  key: Slice,
  value: Slice,
  headers: Header[] | null = null,
  timestampMs: i64 = 0,
  hasTimestamp: bool = false,
  topic: Slice = NONE,
  partition: i32 = -1,
): void {
  if (failed) return;
  if (emitted++ == 0) {
    // The tag and a message count, fixed when the record is done.
    output.len = recordMark;
    output.push(3);
    output.u32(0);
  }
  output.push(<u8>((key != NONE ? 1 : 0) | (value != NONE ? 2 : 0) | (hasTimestamp ? 4 : 0) | (topic != NONE ? 8 : 0) | (partition >= 0 ? 16 : 0)));
  if (key != NONE) output.bytes(key);
  if (value != NONE) output.bytes(value);
  if (headers == null) {
    output.u32(0);
  } else {
    output.u32(<u32>headers.length);
    for (let i = 0; i < headers.length; i++) {
      output.bytes(headers[i].name);
      if (headers[i].value == NONE) output.u32(0xffffffff);
      else output.bytes(headers[i].value);
    }
  }
  if (hasTimestamp) {
    output.reserve(8);
    store<i64>(output.ptr + output.len, timestampMs);
    output.len += 8;
  }
  if (topic != NONE) output.bytes(topic);
  if (partition >= 0) output.u32(<u32>partition);
}

/** Writes the current record's outcome tag: an emit for one message (the
 *  count taken out), an emit-many with its count for several. */
function finishEmits(): void {
  if (emitted == 1) {
    store<u8>(output.ptr + recordMark, 1);
    memory.copy(output.ptr + recordMark + 1, output.ptr + recordMark + 5, output.len - recordMark - 5);
    output.len -= 4;
  } else {
    store<u32>(output.ptr + recordMark + 1, emitted);
  }
}

/** Fails the current record with `message` (it goes to the dead letters). */
export function fail(message: string): void {
  failBytes(name(message));
}

function failBytes(message: Slice): void {
  failed = true;
  output.len = recordMark;
  output.push(2);
  output.bytes(message);
}

// ---- registration and exports ----

let onInit: ((config: Config) => string | null) | null = null;
let onProcess: (() => void) | null = null;
let configured = false;

/** Registers the transform: `init` returns null or a refusal; `process`
 *  reads the current record through the functions above. */
export function register(init: (config: Config) => string | null, process: () => void): void {
  onInit = init;
  onProcess = process;
}

export function sluice_abi_version(): i32 {
  return 2;
}

export function sluice_buffer(capacity: i32): i32 {
  if (capacity > 0 && <u32>capacity > input.cap) {
    input.len = 0;
    input.reserve(<u32>capacity);
  }
  if (input.ptr == 0) input.reserve(1);
  return <i32>input.ptr;
}

function region(v: Vec): i64 {
  return <i64>(((<u64>v.ptr) << 32) | <u64>v.len);
}

export function sluice_init(len: i32): i64 {
  output.len = 0;
  const config = new Config();
  const p = input.ptr;
  const n = <u32>max(len, 0);
  let refusal: string | null = null;
  if (n < 4) refusal = "malformed config from the host";
  const count = n >= 4 ? load<u32>(p) : 0;
  let pos: u32 = 4;
  for (let i: u32 = 0; i < 2 * count && refusal == null; i++) {
    const l = n - pos >= 4 ? load<u32>(p + pos) : 0xffffffff;
    if (n - pos < 4 || n - pos - 4 < l) {
      refusal = "malformed config from the host";
      break;
    }
    const s = String.UTF8.decodeUnsafe(p + pos + 4, l);
    if (i % 2 == 0) config.keys.push(s);
    else config.values.push(s);
    pos += 4 + l;
  }
  if (refusal == null) refusal = onInit != null ? onInit!(config) : "no transform registered: call sluice.register";
  configured = refusal == null;
  if (refusal == null) {
    output.push(0);
  } else {
    output.push(1);
    output.bytes(name(<string>refusal));
  }
  return region(output);
}

function decimal(out: Vec, x: u32): void {
  const start = out.len;
  do {
    out.push(<u8>(0x30 + (x % 10)));
    x /= 10;
  } while (x != 0);
  for (let a = start, b = out.len - 1; a < b; a++, b--) {
    const t = load<u8>(out.ptr + a);
    store<u8>(out.ptr + a, load<u8>(out.ptr + b));
    store<u8>(out.ptr + b, t);
  }
}

function processRecord(p: usize, n: u32): void {
  recordMark = output.len;
  emitted = 0;
  failed = false;
  scratch.len = 0;
  members.len = 0;
  sb = p;
  slen = n;
  spos = 0;
  sdepth = 0;
  scompact = true;
  ws();
  let ok = peek() == 0x7b ? scanObject(true) : fail_("a record must be a JSON object");
  if (ok) {
    ws();
    if (spos != n) ok = fail_("unexpected text after the object");
  }
  if (!ok) {
    const mark = scratch.len;
    scratch.extendString("malformed JSON at byte ");
    decimal(scratch, spos);
    scratch.extendString(": ");
    scratch.extendString(sreason);
    failBytes(scratch.from(mark));
    return;
  }
  recordPtr = p;
  recordLen = n;
  recordCompact = scompact;
  onProcess!();
  if (failed) return;
  if (emitted == 0) output.push(0);
  else finishEmits();
}

export function sluice_process(count: i32, len: i32): i64 {
  const p = input.ptr;
  const n = <u32>max(len, 0);
  let pos: u32 = 0;
  output.len = 0;
  for (let i = 0; i < count; i++) {
    if (!configured) {
      recordMark = output.len;
      fail("sluice_init was not called");
      continue;
    }
    const l = n - pos >= 4 ? load<u32>(p + pos) : 0xffffffff;
    if (n - pos < 4 || n - pos - 4 < l) unreachable();
    processRecord(p + pos + 4, l);
    pos += 4 + l;
  }
  return region(output);
}

