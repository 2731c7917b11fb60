//! sluice.zig: write a Sluice transform in Zig.
//!
//! This module implements the ABI of guest-sdk/ABI.md (exports, buffers,
//! the config and batch encodings) and a strict JSON scanner that validates
//! each record (RFC 8259) and indexes its top-level members, exactly as the
//! Rust SDK does. The root file of the build declares two functions:
//!
//!     pub fn init(config: sluice.Config) sluice.Error!void
//!     pub fn process(record: sluice.Record) sluice.Error!void
//!
//! `init` returns `sluice.refuse(message)` (or a failing `Config` helper's
//! error) to stop the host with that message. `process` is called once per
//! valid JSON-object record; it calls `sluice.emit` for the message the
//! record becomes (none: the record is dropped), or returns
//! `sluice.fail(message)` to send it to the dead letters. A record that is
//! not a JSON object fails with "malformed JSON at byte N: <reason>" before
//! `process` sees it.
//!
//! Slices the SDK hands out point into the record, the config or SDK
//! scratch space; they stay valid until `process` returns (config slices
//! for the life of the module).

const std = @import("std");
const root = @import("root");

const abi_version: i32 = 2;
const max_depth = 128;

pub const Error = error{ Refused, Failed };

/// A Kafka message header; a null `value` is a null header value.
pub const Header = struct { name: []const u8, value: ?[]const u8 };

/// A message to emit. Defaults: no key, a null value (a tombstone), no
/// headers, the producer's timestamp.
pub const Message = struct {
    key: ?[]const u8 = null,
    value: ?[]const u8 = null,
    headers: []const Header = &.{},
    timestamp_ms: ?i64 = null,
    /// Null: the `--topic`.
    topic: ?[]const u8 = null,
    partition: ?i32 = null,
};

/// Log levels of `log`.
pub const Level = enum(i32) { err = 0, warn = 1, info = 2, debug = 3, trace = 4 };

const host = struct {
    extern "sluice" fn log(level: i32, ptr: [*]const u8, len: i32) void;
};

/// One line in the host's log, with the module's name (rate-limited).
pub fn log(level: Level, message: []const u8) void {
    host.log(@intFromEnum(level), message.ptr, @intCast(message.len));
}

// ---- memory ----

const gpa = std.heap.wasm_allocator;

/// A growable byte buffer that only grows.
const Vec = struct {
    buf: []u8 = &.{},
    len: usize = 0,

    fn reserve(v: *Vec, extra: usize) void {
        if (v.len + extra <= v.buf.len) return;
        var cap: usize = if (v.buf.len == 0) 4096 else v.buf.len * 2;
        while (cap < v.len + extra) cap *= 2;
        const next = gpa.alloc(u8, cap) catch @trap();
        @memcpy(next[0..v.len], v.buf[0..v.len]);
        if (v.buf.len != 0) gpa.free(v.buf);
        v.buf = next;
    }
    fn push(v: *Vec, b: u8) void {
        v.reserve(1);
        v.buf[v.len] = b;
        v.len += 1;
    }
    fn extend(v: *Vec, bytes: []const u8) void {
        v.reserve(bytes.len);
        @memcpy(v.buf[v.len..][0..bytes.len], bytes);
        v.len += bytes.len;
    }
    fn putU32(v: *Vec, x: u32) void {
        var b: [4]u8 = undefined;
        std.mem.writeInt(u32, &b, x, .little);
        v.extend(&b);
    }
    fn putBytes(v: *Vec, bytes: []const u8) void {
        v.putU32(@intCast(bytes.len));
        v.extend(bytes);
    }
    fn items(v: *const Vec) []u8 {
        return v.buf[0..v.len];
    }
};

var input: Vec = .{};
var output: Vec = .{};
var scratch: Vec = .{};
var refusal: Vec = .{};
var members: std.ArrayListUnmanaged(Member) = .empty;
var emitted: u32 = 0;
var record_mark: usize = 0;
var configured = false;

fn region(v: *const Vec) i64 {
    const ptr: u64 = @intFromPtr(v.buf.ptr);
    return @bitCast(ptr << 32 | v.len);
}

fn readU32(b: []const u8) u32 {
    return std.mem.readInt(u32, b[0..4], .little);
}

// ---- JSON: a port of guest-sdk/rust/src/json.rs ----

const Member = struct { key: []const u8, value: []const u8 };

const Scanner = struct {
    b: []const u8,
    pos: usize = 0,
    depth: u32 = 0,
    compact: bool = true,
    reason: []const u8 = "",

    fn peek(s: *const Scanner) ?u8 {
        return if (s.pos < s.b.len) s.b[s.pos] else null;
    }
    fn fail(s: *Scanner, reason: []const u8) error{Json} {
        s.reason = reason;
        return error.Json;
    }
    fn ws(s: *Scanner) void {
        const start = s.pos;
        while (s.peek()) |c| : (s.pos += 1) if (!isWs(c)) break;
        if (s.pos != start) s.compact = false;
    }
    fn enter(s: *Scanner) !void {
        s.depth += 1;
        if (s.depth > max_depth) return s.fail("nested more than 128 levels deep");
        s.pos += 1;
        s.ws();
    }
    fn value(s: *Scanner) error{Json}!void {
        const c = s.peek() orelse return s.fail("unexpected end of line, expected a value");
        switch (c) {
            '{' => try s.object(null),
            '[' => try s.array(),
            '"' => _ = try s.string(),
            't' => try s.literal("true"),
            'f' => try s.literal("false"),
            'n' => try s.literal("null"),
            '-', '0'...'9' => try s.number(),
            else => return s.fail("expected a value"),
        }
    }
    fn object(s: *Scanner, list: ?*std.ArrayListUnmanaged(Member)) error{Json}!void {
        try s.enter();
        if (s.peek() == '}') {
            s.pos += 1;
            s.depth -= 1;
            return;
        }
        while (true) {
            if (s.peek() != '"') return s.fail("expected a string key");
            const key = try s.string();
            s.ws();
            if (s.peek() != ':') return s.fail("expected ':' after the key");
            s.pos += 1;
            s.ws();
            const start = s.pos;
            try s.value();
            if (list) |l| l.append(gpa, .{ .key = key, .value = s.b[start..s.pos] }) catch @trap();
            s.ws();
            const c = s.peek();
            if (c == ',') {
                s.pos += 1;
                s.ws();
            } else if (c == '}') {
                break;
            } else return s.fail("expected ',' or '}' in the object");
        }
        s.pos += 1;
        s.depth -= 1;
    }
    fn array(s: *Scanner) error{Json}!void {
        try s.enter();
        if (s.peek() == ']') {
            s.pos += 1;
            s.depth -= 1;
            return;
        }
        while (true) {
            try s.value();
            s.ws();
            const c = s.peek();
            if (c == ',') {
                s.pos += 1;
                s.ws();
            } else if (c == ']') {
                break;
            } else return s.fail("expected ',' or ']' in the array");
        }
        s.pos += 1;
        s.depth -= 1;
    }
    /// Scans a string from its opening quote; returns its inner bytes.
    fn string(s: *Scanner) ![]const u8 {
        s.pos += 1;
        const start = s.pos;
        while (true) {
            while (s.pos < s.b.len and s.b[s.pos] >= 0x20 and s.b[s.pos] != '"' and s.b[s.pos] != '\\') s.pos += 1;
            if (s.pos >= s.b.len) return s.fail("unterminated string");
            switch (s.b[s.pos]) {
                '"' => {
                    s.pos += 1;
                    return s.b[start .. s.pos - 1];
                },
                '\\' => try s.escape(),
                else => return s.fail("control character in a string"),
            }
        }
    }
    fn escape(s: *Scanner) !void {
        s.pos += 1;
        const c = s.peek() orelse return s.fail("invalid escape in a string");
        switch (c) {
            '"', '\\', '/', 'b', 'f', 'n', 'r', 't' => s.pos += 1,
            'u' => {
                if (s.pos + 5 > s.b.len) return s.fail("\\u must be followed by four hex digits");
                for (s.b[s.pos + 1 .. s.pos + 5]) |h| {
                    if (!std.ascii.isHex(h)) return s.fail("\\u must be followed by four hex digits");
                }
                s.pos += 5;
            },
            else => return s.fail("invalid escape in a string"),
        }
    }
    fn literal(s: *Scanner, word: []const u8) !void {
        if (!std.mem.startsWith(u8, s.b[s.pos..], word)) return s.fail("expected true, false or null");
        s.pos += word.len;
    }
    fn digits(s: *Scanner) usize {
        const start = s.pos;
        while (s.peek()) |c| : (s.pos += 1) if (!std.ascii.isDigit(c)) break;
        return s.pos - start;
    }
    fn number(s: *Scanner) !void {
        if (s.peek() == '-') s.pos += 1;
        const c = s.peek() orelse 0;
        if (c == '0') {
            s.pos += 1;
        } else if (c >= '1' and c <= '9') {
            _ = s.digits();
        } else return s.fail("expected a digit");
        if (s.peek() == '.') {
            s.pos += 1;
            if (s.digits() == 0) return s.fail("expected a digit after '.'");
        }
        if (s.peek() == 'e' or s.peek() == 'E') {
            s.pos += 1;
            if (s.peek() == '+' or s.peek() == '-') s.pos += 1;
            if (s.digits() == 0) return s.fail("expected a digit in the exponent");
        }
    }
};

fn isWs(c: u8) bool {
    return c == ' ' or c == '\t' or c == '\n' or c == '\r';
}

/// Appends valid JSON `text` with the whitespace outside strings removed.
fn writeCompact(out: *Vec, text: []const u8) void {
    out.reserve(text.len);
    var in_string = false;
    var escaped = false;
    for (text) |c| {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') in_string = false;
        } else if (isWs(c)) {
            continue;
        } else if (c == '"') in_string = true;
        out.buf[out.len] = c;
        out.len += 1;
    }
}

fn pushUtf8(out: *Vec, c: u21) void {
    var b: [4]u8 = undefined;
    const n = std.unicode.utf8Encode(c, &b) catch std.unicode.utf8Encode(0xFFFD, &b) catch unreachable;
    out.extend(b[0..n]);
}

fn hex4(b: []const u8) u21 {
    return std.fmt.parseInt(u16, b[0..4], 16) catch 0xFFFD;
}

/// Appends the unescaped content of a validated string body.
fn unescape(out: *Vec, p: []const u8) void {
    var i: usize = 0;
    while (i < p.len) {
        if (p[i] != '\\') {
            out.push(p[i]);
            i += 1;
            continue;
        }
        const e = p[i + 1];
        i += 2;
        switch (e) {
            'b' => out.push(8),
            'f' => out.push(12),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                const first = hex4(p[i..]);
                i += 4;
                if (first >= 0xD800 and first < 0xDC00 and i + 6 <= p.len and p[i] == '\\' and p[i + 1] == 'u') {
                    const second = hex4(p[i + 2 ..]);
                    if (second >= 0xDC00 and second < 0xE000) {
                        pushUtf8(out, 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00));
                        i += 6;
                        continue;
                    }
                }
                pushUtf8(out, if (first >= 0xD800 and first < 0xE000) 0xFFFD else first);
            },
            else => out.push(e),
        }
    }
}

fn keyMatches(key: []const u8, name: []const u8) bool {
    if (std.mem.indexOfScalar(u8, key, '\\') == null) return std.mem.eql(u8, key, name);
    const mark = scratch.len;
    defer scratch.len = mark;
    unescape(&scratch, key);
    return std.mem.eql(u8, scratch.items()[mark..], name);
}

fn skipWs(b: []const u8, start: usize) usize {
    var pos = start;
    while (pos < b.len and isWs(b[pos])) pos += 1;
    return pos;
}

fn skipString(b: []const u8, start: usize) usize {
    var pos = start + 1;
    while (pos < b.len) {
        if (b[pos] == '"') return pos + 1;
        pos += if (b[pos] == '\\') 2 else 1;
    }
    return b.len;
}

fn skipValue(b: []const u8, start: usize) usize {
    var pos = start;
    var depth: usize = 0;
    while (pos < b.len) {
        const c = b[pos];
        if (c == '"') {
            pos = skipString(b, pos);
            if (depth == 0) return pos;
            continue;
        }
        if (c == '{' or c == '[') {
            depth += 1;
        } else if ((c == '}' or c == ']') and depth == 0) {
            return pos;
        } else if (c == '}' or c == ']') {
            depth -= 1;
            if (depth == 0) return pos + 1;
        } else if ((c == ',' or isWs(c)) and depth == 0) return pos;
        pos += 1;
    }
    return pos;
}

// ---- config ----

/// The operator's `--transform-config KEY=VALUE` pairs, in order.
pub const Config = struct {
    keys: []const []const u8,
    values: []const []const u8,

    /// The value of `key`; when it is given more than once, the last wins.
    pub fn get(c: Config, key: []const u8) ?[]const u8 {
        var i = c.keys.len;
        while (i > 0) {
            i -= 1;
            if (std.mem.eql(u8, c.keys[i], key)) return c.values[i];
        }
        return null;
    }

    /// The value of `key`, or a refusal that names it.
    pub fn require(c: Config, key: []const u8) Error![]const u8 {
        return c.get(key) orelse refuseParts(&.{ "missing required config `", key, "`" });
    }

    /// Refuses any key not in `known`, so a typo fails at start-up.
    pub fn allowOnly(c: Config, known: []const []const u8) Error!void {
        outer: for (c.keys) |key| {
            for (known) |k| if (std.mem.eql(u8, k, key)) continue :outer;
            refusal.len = 0;
            for ([_][]const u8{ "unknown config `", key, "`; this transform accepts: " }) |p| refusal.extend(p);
            for (known, 0..) |k, i| {
                if (i > 0) refusal.extend(", ");
                refusal.extend(k);
            }
            return error.Refused;
        }
    }
};

/// Refuses the config with `message`.
pub fn refuse(message: []const u8) Error {
    return refuseParts(&.{message});
}

fn refuseParts(parts: []const []const u8) Error {
    setRefusal(parts);
    return error.Refused;
}

fn setRefusal(parts: []const []const u8) void {
    refusal.len = 0;
    for (parts) |p| refusal.extend(p);
}

// ---- records and values ----

/// The JSON type of a `Value`.
pub const Kind = enum { null, bool, number, string, array, object };

/// The raw JSON text of one value inside a record.
pub const Value = struct {
    raw: []const u8,

    pub fn kind(v: Value) Kind {
        if (v.raw.len == 0) return .null;
        return switch (v.raw[0]) {
            '"' => .string,
            '{' => .object,
            '[' => .array,
            't', 'f' => .bool,
            'n' => .null,
            else => .number,
        };
    }

    /// Member `name` of this value, if it is an object that has one.
    pub fn member(v: Value, name: []const u8) ?Value {
        const b = v.raw;
        var found: ?Value = null;
        var pos = skipWs(b, 0);
        if (pos >= b.len or b[pos] != '{') return null;
        pos = skipWs(b, pos + 1);
        while (pos < b.len and b[pos] == '"') {
            const key_end = skipString(b, pos);
            const value_start = skipWs(b, skipWs(b, key_end) + 1);
            const value_end = skipValue(b, value_start);
            if (keyMatches(b[pos + 1 .. key_end - 1], name)) found = .{ .raw = b[value_start..value_end] };
            pos = skipWs(b, value_end);
            if (pos >= b.len or b[pos] != ',') break;
            pos = skipWs(b, pos + 1);
        }
        return found;
    }

    /// The string's content, unescaped, if this is a string.
    pub fn str(v: Value) ?[]const u8 {
        if (v.kind() != .string) return null;
        const body = v.raw[1 .. v.raw.len - 1];
        if (std.mem.indexOfScalar(u8, body, '\\') == null) return body;
        const mark = scratch.len;
        unescape(&scratch, body);
        return scratch.items()[mark..];
    }

    /// The value as Kafka key or header bytes: a string's unescaped
    /// content, any other value's compact JSON text.
    pub fn bytes(v: Value) []const u8 {
        if (v.str()) |s| return s;
        const mark = scratch.len;
        writeCompact(&scratch, v.raw);
        return scratch.items()[mark..];
    }
};

/// One input record: a line of JSON, already validated.
pub const Record = struct {
    raw: []const u8,
    compact_text: bool,
    members: []const Member,

    /// The top-level member called exactly `name`; the last duplicate wins.
    pub fn member(r: Record, name: []const u8) ?Value {
        var i = r.members.len;
        while (i > 0) {
            i -= 1;
            if (keyMatches(r.members[i].key, name)) return .{ .raw = r.members[i].value };
        }
        return null;
    }

    /// The field at a dot-separated `path` (`DeliveryAddress.City`).
    pub fn field(r: Record, path: []const u8) ?Value {
        var steps = std.mem.splitScalar(u8, path, '.');
        var v = r.member(steps.first()) orelse return null;
        while (steps.next()) |step| v = v.member(step) orelse return null;
        return v;
    }

    /// The record as compact JSON: no whitespace outside strings, members
    /// in their original order, numbers exactly as written.
    pub fn compact(r: Record) []const u8 {
        if (r.compact_text) return r.raw;
        const mark = scratch.len;
        writeCompact(&scratch, r.raw);
        return scratch.items()[mark..];
    }
};

// ---- outcomes ----

/// Messages are written after a 5-byte gap (tag, u32 count); one message
/// becomes an emit outcome (tag 1), several an emit-many (tag 3).
const gap = 5;

/// Emits `m` for the current record; call it several times for several
/// messages (ABI version 2's emit-many).
pub fn emit(m: Message) Error!void {
    if (emitted == 0) {
        output.len = record_mark;
        output.reserve(gap);
        output.len += gap;
    }
    emitted += 1;
    var flags: u8 = 0;
    if (m.key != null) flags |= 1;
    if (m.value != null) flags |= 2;
    if (m.timestamp_ms != null) flags |= 4;
    if (m.topic != null) flags |= 8;
    if (m.partition != null) flags |= 16;
    output.push(flags);
    if (m.key) |k| output.putBytes(k);
    if (m.value) |v| output.putBytes(v);
    output.putU32(@intCast(m.headers.len));
    for (m.headers) |h| {
        output.putBytes(h.name);
        if (h.value) |v| output.putBytes(v) else output.putU32(0xFFFF_FFFF);
    }
    if (m.timestamp_ms) |t| {
        var b: [8]u8 = undefined;
        std.mem.writeInt(i64, &b, t, .little);
        output.extend(&b);
    }
    if (m.topic) |t| output.putBytes(t);
    if (m.partition) |p| output.putU32(@bitCast(p));
}

fn finishEmits() void {
    const at = output.buf[record_mark..output.len];
    if (emitted == 1) {
        at[0] = 1;
        std.mem.copyForwards(u8, at[1 .. at.len - gap + 1], at[gap..]);
        output.len -= gap - 1;
    } else {
        at[0] = 3;
        std.mem.writeInt(u32, at[1..5], emitted, .little);
    }
}

/// Fails the current record with `message`; return it from `process`.
pub fn fail(message: []const u8) Error {
    return failParts(&.{message});
}

fn failParts(parts: []const []const u8) Error {
    writeFailure(parts);
    return error.Failed;
}

fn writeFailure(parts: []const []const u8) void {
    output.len = record_mark;
    output.push(2);
    const len_at = output.len;
    output.putU32(0);
    for (parts) |p| output.extend(p);
    std.mem.writeInt(u32, output.buf[len_at..][0..4], @intCast(output.len - len_at - 4), .little);
}

fn processRecord(raw: []const u8) void {
    record_mark = output.len;
    emitted = 0;
    scratch.len = 0;
    members.clearRetainingCapacity();
    var s = Scanner{ .b = raw };
    scan(&s) catch {
        var number: [12]u8 = undefined;
        const at = std.fmt.bufPrint(&number, "{d}", .{s.pos}) catch unreachable;
        writeFailure(&.{ "malformed JSON at byte ", at, ": ", s.reason });
        return;
    };
    const record = Record{ .raw = raw, .compact_text = s.compact, .members = members.items };
    root.process(record) catch |e| switch (e) {
        error.Failed => return,
        error.Refused => {
            writeFailure(&.{"refuse is for init; use fail in process"});
            return;
        },
    };
    if (emitted == 0) output.push(0) else finishEmits();
}

fn scan(s: *Scanner) error{Json}!void {
    s.ws();
    if (s.peek() != '{') return s.fail("a record must be a JSON object");
    try s.object(&members);
    s.ws();
    if (s.pos != s.b.len) return s.fail("unexpected text after the object");
}

// ---- exports ----

/// The ABI's exports; reference it once from the root file:
/// `comptime { _ = sluice.exports; }`.
pub const exports = struct {
    comptime {
        @export(&sluice_abi_version, .{ .name = "sluice_abi_version" });
        @export(&sluice_buffer, .{ .name = "sluice_buffer" });
        @export(&sluice_init, .{ .name = "sluice_init" });
        @export(&sluice_process, .{ .name = "sluice_process" });
    }
};

fn sluice_abi_version() callconv(.c) i32 {
    return abi_version;
}

fn sluice_buffer(capacity: i32) callconv(.c) i32 {
    const cap: usize = @intCast(@max(capacity, 1));
    if (cap > input.buf.len) {
        input.len = 0;
        input.reserve(cap);
    }
    return @intCast(@intFromPtr(input.buf.ptr));
}

fn sluice_init(len: i32) callconv(.c) i64 {
    output.len = 0;
    refusal.len = 0;
    const ok = if (decodeConfig(input.buf[0..@intCast(@max(len, 0))])) |config|
        if (root.init(config)) true else |err| refuseError(err)
    else |_| refuseOk("malformed config from the host");
    configured = ok;
    if (ok) {
        output.push(0);
    } else {
        if (refusal.len == 0) setRefusal(&.{"init failed without a reason; return sluice.refuse(\"why\") to say why"});
        output.push(1);
        output.putBytes(refusal.items());
    }
    return region(&output);
}

/// An error `init` returned without a refusal of its own is named.
fn refuseError(err: anyerror) bool {
    if (refusal.len == 0) setRefusal(&.{ "init failed with error.", @errorName(err) });
    return false;
}

fn refuseOk(message: []const u8) bool {
    setRefusal(&.{message});
    return false;
}

fn decodeConfig(b: []const u8) !Config {
    if (b.len < 4) return error.Malformed;
    const count = readU32(b);
    const keys = try gpa.alloc([]const u8, count);
    const values = try gpa.alloc([]const u8, count);
    var pos: usize = 4;
    for (0..2 * count) |i| {
        if (b.len - pos < 4 or b.len - pos - 4 < readU32(b[pos..])) return error.Malformed;
        const n = readU32(b[pos..]);
        // Copied: `input` moves when the host asks for a bigger buffer.
        const copy = try gpa.dupe(u8, b[pos + 4 ..][0..n]);
        if (i % 2 == 0) keys[i / 2] = copy else values[i / 2] = copy;
        pos += 4 + n;
    }
    return .{ .keys = keys, .values = values };
}

fn sluice_process(count: i32, len: i32) callconv(.c) i64 {
    const batch = input.buf[0..@intCast(@max(len, 0))];
    var pos: usize = 0;
    output.len = 0;
    var i: i32 = 0;
    while (i < count) : (i += 1) {
        if (!configured) {
            record_mark = output.len;
            writeFailure(&.{"sluice_init was not called"});
            continue;
        }
        if (batch.len - pos < 4 or batch.len - pos - 4 < readU32(batch[pos..])) @trap();
        const n = readU32(batch[pos..]);
        processRecord(batch[pos + 4 ..][0..n]);
        pos += 4 + n;
    }
    return region(&output);
}
