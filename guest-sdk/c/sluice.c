/*
 * sluice.c: the module side of the Sluice ABI (guest-sdk/ABI.md) for C.
 * Freestanding: no libc, no imports. Memory comes from memory.grow in a
 * bump arena; buffers only grow, so a steady stream allocates nothing.
 */
#include "sluice.h"

#define SLUICE_ABI_VERSION 2
#define MAX_DEPTH 128

#define EXPORT(name) __attribute__((export_name(name)))

/* ---- memory ---- */

extern unsigned char __heap_base;
static uintptr_t heap_next;
static uintptr_t heap_end;

static void *arena_alloc(uint32_t size) {
    if (heap_next == 0) heap_next = heap_end = (uintptr_t)&__heap_base;
    uintptr_t start = (heap_next + 15) & ~(uintptr_t)15;
    if (start + size > heap_end) {
        uintptr_t pages = (start + size - heap_end + 65535) / 65536;
        if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) __builtin_trap();
        heap_end += pages * 65536;
    }
    heap_next = start + size;
    return (void *)start;
}

void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    uint8_t *d = dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}

static size_t cstrlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

/* A growable byte buffer. */
typedef struct {
    uint8_t *ptr;
    uint32_t len, cap;
} vec;

static void vec_reserve(vec *v, uint32_t extra) {
    if (v->len + extra <= v->cap) return;
    uint32_t cap = v->cap ? v->cap * 2 : 4096;
    while (cap < v->len + extra) cap *= 2;
    uint8_t *p = arena_alloc(cap);
    if (v->len) memcpy(p, v->ptr, v->len);
    v->ptr = p;
    v->cap = cap;
}

static void vec_push(vec *v, uint8_t b) {
    vec_reserve(v, 1);
    v->ptr[v->len++] = b;
}

static void vec_extend(vec *v, const uint8_t *p, uint32_t n) {
    vec_reserve(v, n);
    memcpy(v->ptr + v->len, p, n);
    v->len += n;
}

static void vec_str(vec *v, const char *s) { vec_extend(v, (const uint8_t *)s, (uint32_t)cstrlen(s)); }

static void vec_u32(vec *v, uint32_t x) {
    uint8_t b[4] = {(uint8_t)x, (uint8_t)(x >> 8), (uint8_t)(x >> 16), (uint8_t)(x >> 24)};
    vec_extend(v, b, 4);
}

static void vec_bytes(vec *v, const uint8_t *p, uint32_t n) {
    vec_u32(v, n);
    vec_extend(v, p, n);
}

static uint32_t read_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int64_t region(const vec *v) { return (int64_t)((uint64_t)(uintptr_t)v->ptr << 32 | v->len); }

/* ---- JSON: a port of guest-sdk/rust/src/json.rs ---- */

typedef struct {
    uint32_t key_start, key_end, value_start, value_end;
} member;

typedef struct {
    const uint8_t *b;
    uint32_t len, pos, depth;
    int compact;
    const char *reason;
} scanner;

static int peek(const scanner *s) { return s->pos < s->len ? s->b[s->pos] : -1; }

static int fail(scanner *s, const char *reason) {
    s->reason = reason;
    return 0;
}

static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_hex(int c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static void ws(scanner *s) {
    uint32_t start = s->pos;
    while (is_ws(peek(s))) s->pos++;
    if (s->pos != start) s->compact = 0;
}

static int scan_value(scanner *s);
static int scan_object(scanner *s, vec *members);

static int enter(scanner *s) {
    if (++s->depth > MAX_DEPTH) return fail(s, "nested more than 128 levels deep");
    s->pos++;
    ws(s);
    return 1;
}

static int scan_string(scanner *s, uint32_t *start, uint32_t *end) {
    s->pos++;
    *start = s->pos;
    for (;;) {
        while (s->pos < s->len && s->b[s->pos] >= 0x20 && s->b[s->pos] != '"' && s->b[s->pos] != '\\') s->pos++;
        if (s->pos >= s->len) return fail(s, "unterminated string");
        uint8_t c = s->b[s->pos];
        if (c == '"') {
            *end = s->pos++;
            return 1;
        }
        if (c != '\\') return fail(s, "control character in a string");
        s->pos++;
        int e = peek(s);
        if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
            s->pos++;
        } else if (e == 'u') {
            if (s->pos + 5 > s->len) return fail(s, "\\u must be followed by four hex digits");
            for (uint32_t i = 1; i <= 4; i++)
                if (!is_hex(s->b[s->pos + i])) return fail(s, "\\u must be followed by four hex digits");
            s->pos += 5;
        } else {
            return fail(s, "invalid escape in a string");
        }
    }
}

static int literal(scanner *s, const char *word) {
    uint32_t n = (uint32_t)cstrlen(word);
    if (s->len - s->pos < n) return fail(s, "expected true, false or null");
    for (uint32_t i = 0; i < n; i++)
        if (s->b[s->pos + i] != (uint8_t)word[i]) return fail(s, "expected true, false or null");
    s->pos += n;
    return 1;
}

static uint32_t digits(scanner *s) {
    uint32_t start = s->pos;
    while (is_digit(peek(s))) s->pos++;
    return s->pos - start;
}

static int scan_number(scanner *s) {
    if (peek(s) == '-') s->pos++;
    int c = peek(s);
    if (c == '0') s->pos++;
    else if (c >= '1' && c <= '9') digits(s);
    else return fail(s, "expected a digit");
    if (peek(s) == '.') {
        s->pos++;
        if (digits(s) == 0) return fail(s, "expected a digit after '.'");
    }
    if (peek(s) == 'e' || peek(s) == 'E') {
        s->pos++;
        if (peek(s) == '+' || peek(s) == '-') s->pos++;
        if (digits(s) == 0) return fail(s, "expected a digit in the exponent");
    }
    return 1;
}

static int scan_array(scanner *s) {
    if (!enter(s)) return 0;
    if (peek(s) == ']') {
        s->pos++;
        s->depth--;
        return 1;
    }
    for (;;) {
        if (!scan_value(s)) return 0;
        ws(s);
        int c = peek(s);
        if (c == ',') {
            s->pos++;
            ws(s);
        } else if (c == ']') {
            break;
        } else {
            return fail(s, "expected ',' or ']' in the array");
        }
    }
    s->pos++;
    s->depth--;
    return 1;
}

static int scan_object(scanner *s, vec *members) {
    if (!enter(s)) return 0;
    if (peek(s) == '}') {
        s->pos++;
        s->depth--;
        return 1;
    }
    for (;;) {
        if (peek(s) != '"') return fail(s, "expected a string key");
        member m;
        if (!scan_string(s, &m.key_start, &m.key_end)) return 0;
        ws(s);
        if (peek(s) != ':') return fail(s, "expected ':' after the key");
        s->pos++;
        ws(s);
        m.value_start = s->pos;
        if (!scan_value(s)) return 0;
        m.value_end = s->pos;
        if (members) vec_extend(members, (const uint8_t *)&m, sizeof m);
        ws(s);
        int c = peek(s);
        if (c == ',') {
            s->pos++;
            ws(s);
        } else if (c == '}') {
            break;
        } else {
            return fail(s, "expected ',' or '}' in the object");
        }
    }
    s->pos++;
    s->depth--;
    return 1;
}

static int scan_value(scanner *s) {
    uint32_t start, end;
    switch (peek(s)) {
    case '{': return scan_object(s, 0);
    case '[': return scan_array(s);
    case '"': return scan_string(s, &start, &end);
    case 't': return literal(s, "true");
    case 'f': return literal(s, "false");
    case 'n': return literal(s, "null");
    case -1: return fail(s, "unexpected end of line, expected a value");
    default:
        if (peek(s) == '-' || is_digit(peek(s))) return scan_number(s);
        return fail(s, "expected a value");
    }
}

/* Appends valid JSON `p[0..n)` with the whitespace outside strings removed. */
static void write_compact(vec *out, const uint8_t *p, uint32_t n) {
    int in_string = 0, escaped = 0;
    vec_reserve(out, n);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (in_string) {
            if (escaped) escaped = 0;
            else if (c == '\\') escaped = 1;
            else if (c == '"') in_string = 0;
        } else if (is_ws(c)) {
            continue;
        } else if (c == '"') {
            in_string = 1;
        }
        out->ptr[out->len++] = c;
    }
}

static void push_utf8(vec *out, uint32_t c) {
    if (c < 0x80) {
        vec_push(out, (uint8_t)c);
    } else if (c < 0x800) {
        vec_push(out, (uint8_t)(0xC0 | c >> 6));
        vec_push(out, (uint8_t)(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        vec_push(out, (uint8_t)(0xE0 | c >> 12));
        vec_push(out, (uint8_t)(0x80 | (c >> 6 & 0x3F)));
        vec_push(out, (uint8_t)(0x80 | (c & 0x3F)));
    } else {
        vec_push(out, (uint8_t)(0xF0 | c >> 18));
        vec_push(out, (uint8_t)(0x80 | (c >> 12 & 0x3F)));
        vec_push(out, (uint8_t)(0x80 | (c >> 6 & 0x3F)));
        vec_push(out, (uint8_t)(0x80 | (c & 0x3F)));
    }
}

static uint32_t hex4(const uint8_t *p) {
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i];
        x = x << 4 | (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return x;
}

/* Appends the unescaped content of a validated string body. */
static void unescape(vec *out, const uint8_t *p, uint32_t n) {
    for (uint32_t i = 0; i < n;) {
        if (p[i] != '\\') {
            vec_push(out, p[i++]);
            continue;
        }
        uint8_t e = p[i + 1];
        i += 2;
        switch (e) {
        case 'b': vec_push(out, 8); break;
        case 'f': vec_push(out, 12); break;
        case 'n': vec_push(out, '\n'); break;
        case 'r': vec_push(out, '\r'); break;
        case 't': vec_push(out, '\t'); break;
        case 'u': {
            uint32_t first = hex4(p + i);
            i += 4;
            if (first >= 0xD800 && first < 0xDC00 && i + 6 <= n && p[i] == '\\' && p[i + 1] == 'u') {
                uint32_t second = hex4(p + i + 2);
                if (second >= 0xDC00 && second < 0xE000) {
                    push_utf8(out, 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00));
                    i += 6;
                    break;
                }
            }
            push_utf8(out, first >= 0xD800 && first < 0xE000 ? 0xFFFD : first);
            break;
        }
        default: vec_push(out, e);
        }
    }
}

/* Scratch space for unescaped strings and compacted text, reset per record. */
static vec scratch;

static sluice_bytes scratch_bytes(uint32_t mark) {
    sluice_bytes b = {scratch.ptr + mark, scratch.len - mark};
    return b;
}

static int key_matches(const uint8_t *key, uint32_t n, const char *name) {
    int escaped = 0;
    for (uint32_t i = 0; i < n; i++) escaped |= key[i] == '\\';
    sluice_bytes k = {key, n};
    if (!escaped) return sluice_bytes_eq(k, name);
    uint32_t mark = scratch.len;
    unescape(&scratch, key, n);
    int eq = sluice_bytes_eq(scratch_bytes(mark), name);
    scratch.len = mark;
    return eq;
}

static uint32_t skip_ws(const uint8_t *b, uint32_t n, uint32_t pos) {
    while (pos < n && is_ws(b[pos])) pos++;
    return pos;
}

static uint32_t skip_string(const uint8_t *b, uint32_t n, uint32_t pos) {
    for (pos++; pos < n;) {
        if (b[pos] == '"') return pos + 1;
        pos += b[pos] == '\\' ? 2 : 1;
    }
    return n;
}

static uint32_t skip_value(const uint8_t *b, uint32_t n, uint32_t pos) {
    uint32_t depth = 0;
    while (pos < n) {
        uint8_t c = b[pos];
        if (c == '"') {
            pos = skip_string(b, n, pos);
            if (depth == 0) return pos;
            continue;
        }
        if (c == '{' || c == '[') depth++;
        else if ((c == '}' || c == ']') && depth == 0) return pos;
        else if (c == '}' || c == ']') {
            if (--depth == 0) return pos + 1;
        } else if ((c == ',' || is_ws(c)) && depth == 0) return pos;
        pos++;
    }
    return pos;
}

/* ---- config ---- */

struct sluice_config {
    uint32_t count;
    sluice_bytes *pairs; /* key, value, key, value, ... */
};

static vec refusal;

uint32_t sluice_config_count(const sluice_config *c) { return c->count; }
sluice_bytes sluice_config_key(const sluice_config *c, uint32_t i) { return c->pairs[2 * i]; }
sluice_bytes sluice_config_value(const sluice_config *c, uint32_t i) { return c->pairs[2 * i + 1]; }

int sluice_config_get(const sluice_config *c, const char *key, sluice_bytes *value) {
    for (uint32_t i = c->count; i-- > 0;) {
        if (sluice_bytes_eq(c->pairs[2 * i], key)) {
            *value = c->pairs[2 * i + 1];
            return 1;
        }
    }
    return 0;
}

int sluice_refuse(const char *message) {
    refusal.len = 0;
    vec_str(&refusal, message);
    return 1;
}

int sluice_config_require(const sluice_config *c, const char *key, sluice_bytes *value) {
    if (sluice_config_get(c, key, value)) return 1;
    refusal.len = 0;
    vec_str(&refusal, "missing required config `");
    vec_str(&refusal, key);
    vec_str(&refusal, "`");
    return 0;
}

int sluice_config_allow_only(const sluice_config *c, const char *const *known, uint32_t count) {
    for (uint32_t i = 0; i < c->count; i++) {
        int ok = 0;
        for (uint32_t k = 0; k < count && !ok; k++) ok = sluice_bytes_eq(c->pairs[2 * i], known[k]);
        if (ok) continue;
        refusal.len = 0;
        vec_str(&refusal, "unknown config `");
        vec_extend(&refusal, c->pairs[2 * i].ptr, c->pairs[2 * i].len);
        vec_str(&refusal, "`; this transform accepts: ");
        for (uint32_t k = 0; k < count; k++) {
            if (k) vec_str(&refusal, ", ");
            vec_str(&refusal, known[k]);
        }
        return 0;
    }
    return 1;
}

/* ---- records and values ---- */

struct sluice_record {
    const uint8_t *raw;
    uint32_t len;
    int compact;
    const member *members;
    uint32_t member_count;
};

sluice_bytes sluice_record_raw(const sluice_record *r) {
    sluice_bytes b = {r->raw, r->len};
    return b;
}

int sluice_record_member(const sluice_record *r, const char *name, sluice_value *value) {
    for (uint32_t i = r->member_count; i-- > 0;) {
        const member *m = &r->members[i];
        if (key_matches(r->raw + m->key_start, m->key_end - m->key_start, name)) {
            value->ptr = r->raw + m->value_start;
            value->len = m->value_end - m->value_start;
            return 1;
        }
    }
    return 0;
}

/* Looks up one dot-free step `name[0..n)` of a path. */
static int path_step(const sluice_record *r, sluice_value *v, int first, const char *name, uint32_t n) {
    char step[256];
    if (n >= sizeof step) return 0;
    memcpy(step, name, n);
    step[n] = 0;
    return first ? sluice_record_member(r, step, v) : sluice_value_member(*v, step, v);
}

int sluice_record_field(const sluice_record *r, const char *path, sluice_value *value) {
    sluice_value v = {0, 0};
    const char *start = path;
    for (const char *p = path;; p++) {
        if (*p != '.' && *p != 0) continue;
        if (!path_step(r, &v, start == path, start, (uint32_t)(p - start))) return 0;
        if (*p == 0) break;
        start = p + 1;
    }
    *value = v;
    return 1;
}

sluice_bytes sluice_record_compact(const sluice_record *r) {
    if (r->compact) return sluice_record_raw(r);
    uint32_t mark = scratch.len;
    write_compact(&scratch, r->raw, r->len);
    return scratch_bytes(mark);
}

sluice_kind sluice_value_kind(sluice_value v) {
    switch (v.len ? v.ptr[0] : 'n') {
    case '"': return SLUICE_STRING;
    case '{': return SLUICE_OBJECT;
    case '[': return SLUICE_ARRAY;
    case 't':
    case 'f': return SLUICE_BOOL;
    case 'n': return SLUICE_NULL;
    default: return SLUICE_NUMBER;
    }
}

int sluice_value_member(sluice_value v, const char *name, sluice_value *out) {
    const uint8_t *b = v.ptr;
    uint32_t n = v.len, pos = skip_ws(b, n, 0);
    int found = 0;
    if (pos >= n || b[pos] != '{') return 0;
    pos = skip_ws(b, n, pos + 1);
    while (pos < n && b[pos] == '"') {
        uint32_t key_end = skip_string(b, n, pos);
        uint32_t value_start = skip_ws(b, n, skip_ws(b, n, key_end) + 1);
        uint32_t value_end = skip_value(b, n, value_start);
        if (key_matches(b + pos + 1, key_end - pos - 2, name)) {
            out->ptr = b + value_start;
            out->len = value_end - value_start;
            found = 1;
        }
        pos = skip_ws(b, n, value_end);
        if (pos >= n || b[pos] != ',') break;
        pos = skip_ws(b, n, pos + 1);
    }
    return found;
}

int sluice_value_str(sluice_value v, sluice_bytes *out) {
    if (sluice_value_kind(v) != SLUICE_STRING) return 0;
    const uint8_t *body = v.ptr + 1;
    uint32_t n = v.len - 2;
    int escaped = 0;
    for (uint32_t i = 0; i < n; i++) escaped |= body[i] == '\\';
    if (!escaped) {
        out->ptr = body;
        out->len = n;
        return 1;
    }
    uint32_t mark = scratch.len;
    unescape(&scratch, body, n);
    *out = scratch_bytes(mark);
    return 1;
}

sluice_bytes sluice_value_bytes(sluice_value v) {
    sluice_bytes b;
    if (sluice_value_str(v, &b)) return b;
    uint32_t mark = scratch.len;
    write_compact(&scratch, v.ptr, v.len);
    return scratch_bytes(mark);
}

int sluice_bytes_eq(sluice_bytes b, const char *text) {
    uint32_t i = 0;
    for (; i < b.len; i++)
        if (text[i] == 0 || (uint8_t)text[i] != b.ptr[i]) return 0;
    return text[i] == 0;
}

int sluice_bytes_eq_bytes(sluice_bytes a, sluice_bytes b) {
    if (a.len != b.len) return 0;
    for (uint32_t i = 0; i < a.len; i++)
        if (a.ptr[i] != b.ptr[i]) return 0;
    return 1;
}

/* ---- outcomes ---- */

static vec input, output, members;
static uint32_t emitted; /* messages emitted for the current record */
static int failed;
static uint32_t record_mark;
static int configured;

/* Messages are written after a 5-byte gap (tag, u32 count); one message
 * becomes an emit outcome (tag 1), several an emit-many (tag 3). */
#define GAP 5

void sluice_emit(const sluice_message *m) {
    if (failed) return;
    if (emitted++ == 0) {
        output.len = record_mark;
        vec_reserve(&output, GAP);
        output.len += GAP;
    }
    uint8_t flags = (uint8_t)((m->has_key ? 1 : 0) | (m->has_value ? 2 : 0) | (m->has_timestamp ? 4 : 0) |
                              (m->topic ? 8 : 0) | (m->has_partition ? 16 : 0));
    vec_push(&output, flags);
    if (m->has_key) vec_bytes(&output, m->key.ptr, m->key.len);
    if (m->has_value) vec_bytes(&output, m->value.ptr, m->value.len);
    vec_u32(&output, m->header_count);
    for (uint32_t i = 0; i < m->header_count; i++) {
        const sluice_header *h = &m->headers[i];
        vec_bytes(&output, (const uint8_t *)h->name, (uint32_t)cstrlen(h->name));
        if (h->value.ptr) vec_bytes(&output, h->value.ptr, h->value.len);
        else vec_u32(&output, 0xFFFFFFFFu);
    }
    if (m->has_timestamp) {
        uint64_t t = (uint64_t)m->timestamp_ms;
        vec_u32(&output, (uint32_t)t);
        vec_u32(&output, (uint32_t)(t >> 32));
    }
    if (m->topic) vec_bytes(&output, (const uint8_t *)m->topic, (uint32_t)cstrlen(m->topic));
    if (m->has_partition) vec_u32(&output, (uint32_t)m->partition);
}

/* Closes the current record's messages: fills in or closes the gap. */
static void finish_emits(void) {
    uint8_t *at = output.ptr + record_mark;
    if (emitted == 1) {
        uint32_t body = output.len - record_mark - GAP;
        at[0] = 1;
        for (uint32_t i = 0; i < body; i++) at[1 + i] = at[GAP + i];
        output.len -= GAP - 1;
    } else {
        at[0] = 3;
        memcpy(at + 1, &emitted, 4);
    }
}

__attribute__((import_module("sluice"), import_name("log"))) void sluice_host_log(int32_t, const char *, int32_t);

void sluice_log(sluice_level level, const char *message) {
    sluice_host_log((int32_t)level, message, (int32_t)cstrlen(message));
}

void sluice_fail(const char *message) {
    failed = 1;
    output.len = record_mark;
    vec_push(&output, 2);
    vec_bytes(&output, (const uint8_t *)message, (uint32_t)cstrlen(message));
}

static void fail_json(const scanner *s) {
    static const char prefix[] = "malformed JSON at byte ";
    char number[12];
    int n = 0;
    uint32_t x = s->pos;
    do number[n++] = (char)('0' + x % 10); while ((x /= 10) != 0);
    failed = 1;
    output.len = record_mark;
    vec_push(&output, 2);
    uint32_t len_at = output.len;
    vec_u32(&output, 0);
    vec_str(&output, prefix);
    while (n) vec_push(&output, (uint8_t)number[--n]);
    vec_str(&output, ": ");
    vec_str(&output, s->reason);
    uint32_t len = output.len - len_at - 4;
    memcpy(output.ptr + len_at, &len, 4);
}

static void process_record(const uint8_t *raw, uint32_t len) {
    record_mark = output.len;
    emitted = 0;
    failed = 0;
    scratch.len = 0;
    members.len = 0;
    scanner s = {raw, len, 0, 0, 1, 0};
    ws(&s);
    int ok = peek(&s) == '{' ? scan_object(&s, &members) : fail(&s, "a record must be a JSON object");
    if (ok) {
        ws(&s);
        if (s.pos != len) ok = fail(&s, "unexpected text after the object");
    }
    if (!ok) {
        fail_json(&s);
        return;
    }
    sluice_record r = {raw, len, s.compact, (const member *)members.ptr, members.len / (uint32_t)sizeof(member)};
    sluice_on_record(&r);
    if (failed) return;
    if (emitted == 0) vec_push(&output, 0);
    else finish_emits();
}

/* ---- exports ---- */

EXPORT("sluice_abi_version") int32_t sluice_abi_version(void) { return SLUICE_ABI_VERSION; }

EXPORT("sluice_buffer") int32_t sluice_buffer(int32_t capacity) {
    if (capacity > 0 && (uint32_t)capacity > input.cap) {
        input.len = 0;
        vec_reserve(&input, (uint32_t)capacity);
    }
    if (!input.ptr) vec_reserve(&input, 1);
    return (int32_t)(uintptr_t)input.ptr;
}

EXPORT("sluice_init") int64_t sluice_init(int32_t len) {
    const uint8_t *p = input.ptr;
    uint32_t n = len > 0 ? (uint32_t)len : 0, pos = 4;
    output.len = 0;
    uint32_t count = n >= 4 ? read_u32(p) : 0;
    sluice_bytes *pairs = arena_alloc(count * 2 * (uint32_t)sizeof(sluice_bytes) + 1);
    int bad = n < 4;
    for (uint32_t i = 0; i < 2 * count && !bad; i++) {
        if (n - pos < 4 || n - pos - 4 < read_u32(p + pos)) {
            bad = 1;
            break;
        }
        pairs[i].len = read_u32(p + pos);
        pairs[i].ptr = p + pos + 4;
        pos += 4 + pairs[i].len;
    }
    /* The config strings point into `input`, which the next sluice_buffer
     * may move: copy them out for the transform to keep. */
    for (uint32_t i = 0; i < 2 * count && !bad; i++) {
        uint8_t *copy = arena_alloc(pairs[i].len + 1);
        memcpy(copy, pairs[i].ptr, pairs[i].len);
        pairs[i].ptr = copy;
    }
    sluice_config config = {bad ? 0 : count, pairs};
    refusal.len = 0;
    if (bad) sluice_refuse("malformed config from the host");
    else if (sluice_on_init(&config) == 0) configured = 1;
    if (configured) {
        vec_push(&output, 0);
    } else {
        if (refusal.len == 0)
            sluice_refuse("sluice_on_init returned non-zero without a reason; return sluice_refuse(\"why\") "
                          "(or a failing sluice_config_* helper's result) to say why");
        vec_push(&output, 1);
        vec_bytes(&output, refusal.ptr, refusal.len);
    }
    return region(&output);
}

EXPORT("sluice_process") int64_t sluice_process(int32_t count, int32_t len) {
    const uint8_t *p = input.ptr;
    uint32_t n = len > 0 ? (uint32_t)len : 0, pos = 0;
    output.len = 0;
    for (int32_t i = 0; i < count; i++) {
        if (!configured) {
            record_mark = output.len;
            sluice_fail("sluice_init was not called");
            continue;
        }
        uint32_t rlen = n - pos >= 4 ? read_u32(p + pos) : 0;
        if (n - pos < 4 || n - pos - 4 < rlen) __builtin_trap();
        process_record(p + pos + 4, rlen);
        pos += 4 + rlen;
    }
    return region(&output);
}
