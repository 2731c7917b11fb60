/*
 * sluice.h: write a Sluice transform in C.
 *
 * The SDK (this header and sluice.c) implements the ABI of guest-sdk/ABI.md:
 * the exports, the buffers, the config and batch encodings, and a strict
 * JSON scanner that validates each record (RFC 8259) and indexes its
 * top-level members, exactly as the Rust SDK does. The author writes two
 * functions:
 *
 *   int  sluice_on_init(const sluice_config *config);
 *        Return 0 to accept the config, or the result of sluice_refuse()
 *        (or of a failing sluice_config_* helper) to stop the host with
 *        that message.
 *
 *   void sluice_on_record(const sluice_record *record);
 *        Called once per valid JSON-object record. Call sluice_emit() for
 *        each message the record becomes (none: the record is dropped), or
 *        sluice_fail() to send it to the dead letters with a reason.
 *
 * A record that is not a JSON object never reaches sluice_on_record: it
 * fails with "malformed JSON at byte N: <reason>".
 *
 * Build (freestanding wasm, no imports):
 *   zig cc -target wasm32-freestanding -O2 -nostdlib -Wl,--no-entry \
 *          -I guest-sdk/c guest-sdk/c/sluice.c my_transform.c -o my_transform.wasm
 *
 * Byte strings handed out by the SDK (sluice_bytes) point into the record,
 * the config, or SDK scratch space: they stay valid until the callback
 * returns.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A borrowed run of bytes (not NUL-terminated). */
typedef struct {
    const uint8_t *ptr;
    uint32_t len;
} sluice_bytes;

/* The operator's --transform-config KEY=VALUE pairs, in order. */
typedef struct sluice_config sluice_config;

/* One input record: a line of JSON, already validated. */
typedef struct sluice_record sluice_record;

/* The raw JSON text of one value inside a record. */
typedef struct {
    const uint8_t *ptr;
    uint32_t len;
} sluice_value;

typedef enum {
    SLUICE_NULL,
    SLUICE_BOOL,
    SLUICE_NUMBER,
    SLUICE_STRING,
    SLUICE_ARRAY,
    SLUICE_OBJECT
} sluice_kind;

/* A Kafka message header; value.ptr == NULL means a null value. */
typedef struct {
    const char *name;
    sluice_bytes value;
} sluice_header;

/* A message to emit. Fields left zero mean: no key, a null value (a
 * tombstone), no headers, the producer's timestamp, the --topic, any
 * partition. */
typedef struct {
    int has_key;
    sluice_bytes key;
    int has_value;
    sluice_bytes value;
    const sluice_header *headers;
    uint32_t header_count;
    int has_timestamp;
    int64_t timestamp_ms;
    const char *topic;    /* NULL: the --topic */
    int has_partition;
    int32_t partition;    /* >= 0 */
} sluice_message;

/* ---- what the author implements ---- */
int sluice_on_init(const sluice_config *config);
void sluice_on_record(const sluice_record *record);

/* ---- config ---- */
uint32_t sluice_config_count(const sluice_config *config);
sluice_bytes sluice_config_key(const sluice_config *config, uint32_t i);
sluice_bytes sluice_config_value(const sluice_config *config, uint32_t i);
/* The value of `key` (the last when repeated); returns 0 if absent. */
int sluice_config_get(const sluice_config *config, const char *key, sluice_bytes *value);
/* Like sluice_config_get, but refuses with "missing required config `KEY`". */
int sluice_config_require(const sluice_config *config, const char *key, sluice_bytes *value);
/* Returns 1 when every key is among the `count` names in `known`; else
 * refuses the first unknown key with "unknown config `KEY`; this transform
 * accepts: a, b" and returns 0, so `if (!sluice_config_allow_only(...))
 * return 1;` refuses the config from sluice_on_init. */
int sluice_config_allow_only(const sluice_config *config, const char *const *known, uint32_t count);
/* Refuses the config with `message`; returns non-zero for sluice_on_init to return. */
int sluice_refuse(const char *message);

/* ---- records ---- */
/* The line exactly as read, without its terminator. */
sluice_bytes sluice_record_raw(const sluice_record *record);
/* The top-level member called exactly `name` (last duplicate wins). */
int sluice_record_member(const sluice_record *record, const char *name, sluice_value *value);
/* The field at a dot-separated path (`DeliveryAddress.City`). */
int sluice_record_field(const sluice_record *record, const char *path, sluice_value *value);
/* The record as compact JSON: no whitespace outside strings, members in
 * their original order, numbers exactly as written. */
sluice_bytes sluice_record_compact(const sluice_record *record);

sluice_kind sluice_value_kind(sluice_value value);
/* Member `name` of an object value. */
int sluice_value_member(sluice_value value, const char *name, sluice_value *member);
/* A string value's content, unescaped; returns 0 if not a string. */
int sluice_value_str(sluice_value value, sluice_bytes *out);
/* The value as Kafka key or header bytes: a string's unescaped content,
 * any other value's compact JSON text. */
sluice_bytes sluice_value_bytes(sluice_value value);
/* Whether `bytes` equals the NUL-terminated `text`. */
int sluice_bytes_eq(sluice_bytes bytes, const char *text);
int sluice_bytes_eq_bytes(sluice_bytes a, sluice_bytes b);

/* ---- outcomes ---- */
/* Emits a message for the current record; call it several times for
 * several messages (ABI version 2's emit-many). */
void sluice_emit(const sluice_message *message);
/* Fails the current record with `message` (it goes to the dead letters). */
void sluice_fail(const char *message);

/* ---- logging ---- */
typedef enum { SLUICE_ERROR, SLUICE_WARN, SLUICE_INFO, SLUICE_DEBUG, SLUICE_TRACE } sluice_level;
/* One line in the host's log, with the module's name (rate-limited). */
void sluice_log(sluice_level level, const char *message);

#ifdef __cplusplus
}
#endif
#endif
