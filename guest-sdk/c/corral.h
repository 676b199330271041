/* corral.h: the Corral guest SDK for C, ABI v1 (see guest-sdk/ABI.md).
 *
 * One header. In exactly one .c file of the pack:
 *
 *     #define CORRAL_IMPLEMENTATION
 *     #include "corral.h"
 *
 *     static int greet(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
 *         const char *name; uint32_t len;
 *         if (!corral_arg_str(ctx, args, 0, &name, &len)) return -1;
 *         corral_write_fmt(out, "Hello, %.*s!", (int)len, name);
 *         return 0;
 *     }
 *     CORRAL_PACK(
 *         CORRAL_FORMULA("Greet", greet),
 *     )
 *
 * A handler writes exactly one value into `out` and returns 0, or calls
 * corral_fail() and returns -1. When an upstream API refused, corral_fail_response()
 * also reports its status and Retry-After (the host retries a 429, 502, 503 or 504 within
 * the call's deadline), corral_fail_upstream() does so by hand, and
 * corral_fail_missing_scopes() tells the caller to reconnect granting the scopes named. Built with `python -m ziglang cc --target=wasm32-wasi`
 * (libc for memory and strings only: a pack that calls into WASI is refused at load).
 *
 * What a handler gets in `args`, by op (the same as the Zig SDK):
 *   formula, action, sync   the call's arguments (corral_continuation() for sync)
 *   sync_update             [updates]            -> write [{ok: row} | {err: message}]
 *   autocomplete            [search, args, param] -> write [{display, value}]
 *   dynamic_urls            []                   -> write [{display, url}]
 *   dynamic_schema          [url]                -> write a schema map
 *   connection_name         []                   -> write a string
 *   validate_parameters     the formula's args   -> corral_write_valid() or
 *                                                   corral_write_invalid() (ABI.md §3.1)
 * Values can be written directly (corral_write_*) or built first (corral_new_*,
 * corral_array_push, corral_map_put) and written with corral_write_value.
 * Memory is never freed: the host drops the whole instance after each call.
 */
#ifndef CORRAL_H
#define CORRAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CORRAL_ABI_VERSION 1

/* ---- the raw ABI ------------------------------------------------------------------- */

__attribute__((import_module("corral"), import_name("fetch")))
int64_t corral_raw_fetch(const uint8_t *ptr, uint32_t len);
__attribute__((import_module("corral"), import_name("log")))
void corral_raw_log(int32_t level, const uint8_t *ptr, uint32_t len);
/* Imported only by a pack that stores blobs (corral_store_blob / corral_store_url). */
__attribute__((import_module("corral"), import_name("blob")))
int64_t corral_raw_blob(const uint8_t *ptr, uint32_t len);

/* ---- values ------------------------------------------------------------------------ */

typedef enum {
    CORRAL_NIL, CORRAL_BOOL, CORRAL_INT, CORRAL_FLOAT, CORRAL_STR, CORRAL_BIN,
    CORRAL_ARRAY, CORRAL_MAP,
    CORRAL_UINT     /* an integer above INT64_MAX, in as.u */
} corral_type;

typedef struct corral_value corral_value;
typedef struct corral_pair corral_pair;

struct corral_value {
    corral_type type;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
        struct { const char *ptr; uint32_t len; } s;       /* STR and BIN */
        struct { corral_value *items; uint32_t len; uint32_t cap; } array;
        struct { corral_pair *pairs; uint32_t len; uint32_t cap; } map;
    } as;
};

struct corral_pair { corral_value key; corral_value value; };

typedef struct {
    uint8_t *data;
    uint32_t len;
    uint32_t cap;
    bool failed;
} corral_writer;

typedef struct {
    corral_value request;
    const char *message;
    const char *fetch_kind;     /* set when the call fails with a fetch error */
    int upstream_status;        /* set by corral_fail_upstream (0: none) */
    bool has_retry_after;
    double retry_after_s;
    const char **missing_scopes; /* set by corral_fail_missing_scopes */
    uint32_t missing_scope_count;
    const char *blob_kind;      /* set when a blob could not be stored (too_large, quota...) */
} corral_ctx;

enum { CORRAL_DEBUG = 0, CORRAL_INFO = 1, CORRAL_WARN = 2, CORRAL_ERROR = 3 };

typedef int (*corral_handler)(corral_ctx *ctx, const corral_value *args, corral_writer *out);

typedef struct {
    const char *op;     /* "formula", "action", "sync", "sync_update", "autocomplete", ... */
    const char *name;
    corral_handler handler;
} corral_entry;

#define CORRAL_FORMULA(name, fn) { "formula", name, fn }
#define CORRAL_ACTION(name, fn) { "action", name, fn }
#define CORRAL_SYNC(name, fn) { "sync", name, fn }
#define CORRAL_SYNC_UPDATE(name, fn) { "sync_update", name, fn }
#define CORRAL_AUTOCOMPLETE(name, fn) { "autocomplete", name, fn }
#define CORRAL_DYNAMIC_URLS(name, fn) { "dynamic_urls", name, fn }
#define CORRAL_DYNAMIC_SCHEMA(name, fn) { "dynamic_schema", name, fn }
#define CORRAL_CONNECTION_NAME(fn) { "connection_name", "", fn }
/* Asked before each call of a formula declared with `validate_parameters = true`. */
#define CORRAL_VALIDATE_PARAMETERS(name, fn) { "validate_parameters", name, fn }
#define CORRAL_PACK(...) const corral_entry corral_pack_entries[] = { __VA_ARGS__ { 0, 0, 0 } };

/* Lookups on decoded values. */
const corral_value *corral_get(const corral_value *map, const char *key);
const corral_value *corral_index(const corral_value *array, uint32_t i);
bool corral_str_eq(const corral_value *v, const char *s);
bool corral_as_int(const corral_value *v, int64_t *out);
bool corral_as_double(const corral_value *v, double *out);
bool corral_arg_str(corral_ctx *ctx, const corral_value *args, uint32_t i, const char **ptr, uint32_t *len);
bool corral_arg_double(corral_ctx *ctx, const corral_value *args, uint32_t i, double *out);
bool corral_arg_int(corral_ctx *ctx, const corral_value *args, uint32_t i, int64_t *out);
bool corral_arg_bool(corral_ctx *ctx, const corral_value *args, uint32_t i, bool *out);
const corral_value *corral_continuation(corral_ctx *ctx);
/* A field of the request's `ctx` map (`pack`, `invocation_id`, `connection`...), or NULL. */
const corral_value *corral_ctx_field(corral_ctx *ctx, const char *name);
/* The caller's connection id; false when the call has no connection. */
bool corral_connection_id(corral_ctx *ctx, const char **ptr, uint32_t *len);
/* A dynamic table's URL (`sync`, `sync_update` and `dynamic_schema` of a dynamic table). */
bool corral_dynamic_url(corral_ctx *ctx, const char **ptr, uint32_t *len);
/* The caller's IANA time zone (ctx.timezone, e.g. "Europe/Paris"); "UTC" if the host gave none. */
void corral_timezone(corral_ctx *ctx, const char **ptr, uint32_t *len);
/* The invocation location: the host's base URL (ctx.invocation_location.protocol_and_host,
 * "" if none) and the caller's document id (false when it gave none). */
void corral_protocol_and_host(corral_ctx *ctx, const char **ptr, uint32_t *len);
bool corral_doc_id(corral_ctx *ctx, const char **ptr, uint32_t *len);

/* Temporary blob storage (ABI.md 4.1): the host keeps the bytes for a while and serves
 * them at `url` until `expires_at` (ISO 8601, UTC). Each returns 0, or -1 with
 * ctx->blob_kind and ctx->message set, so `return -1` reports the blob error. */
typedef struct {
    const char *url; uint32_t url_len;
    const char *expires_at; uint32_t expires_at_len;
} corral_blob;
int corral_store_blob(corral_ctx *ctx, const uint8_t *bytes, uint32_t len, const char *content_type,
                      corral_blob *out);
/* The host fetches `url` under the pack's fetch policy and stores what it answered. */
int corral_store_url(corral_ctx *ctx, const char *url, corral_blob *out);

/* Building values (for corral_write_value, json_body, pages). */
corral_value corral_new_nil(void);
corral_value corral_new_bool(bool b);
corral_value corral_new_int(int64_t i);
corral_value corral_new_uint(uint64_t u);
corral_value corral_new_double(double f);
corral_value corral_new_str(const char *s);            /* borrows s */
corral_value corral_new_strn(const char *s, uint32_t len);
corral_value corral_new_bin(const uint8_t *b, uint32_t len);
corral_value corral_new_array(void);
corral_value corral_new_map(void);
/* Append / set (replacing an existing key); false when out of memory. */
bool corral_array_push(corral_value *array, corral_value item);
bool corral_map_put(corral_value *map, const char *key, corral_value value);

/* Writing MessagePack. */
void corral_write_nil(corral_writer *w);
void corral_write_bool(corral_writer *w, bool b);
void corral_write_int(corral_writer *w, int64_t i);
void corral_write_uint(corral_writer *w, uint64_t u);
void corral_write_double(corral_writer *w, double f);
void corral_write_strn(corral_writer *w, const char *s, uint32_t len);
void corral_write_str(corral_writer *w, const char *s);
void corral_write_bin(corral_writer *w, const uint8_t *b, uint32_t len);
void corral_write_array(corral_writer *w, uint32_t n);
void corral_write_map(corral_writer *w, uint32_t n);
void corral_write_value(corral_writer *w, const corral_value *v);
void corral_write_fmt(corral_writer *w, const char *fmt, ...);
/* One sync page: {rows, continuation}; `continuation` NULL (or nil) ends the sync. */
void corral_write_page(corral_writer *w, const corral_value *rows, const corral_value *continuation);
/* The answer of a validate_parameters handler: the arguments are fine, or they are not,
 * with a message (may be NULL) and `count` parameters at fault, each with its message. */
typedef struct { const char *parameter; const char *message; } corral_field_error;
void corral_write_valid(corral_writer *w);
void corral_write_invalid(corral_writer *w, const char *message,
                          const corral_field_error *errors, uint32_t count);

/* Errors, logs and fetch. Each corral_fail* returns -1; the last failure wins. */
int corral_fail(corral_ctx *ctx, const char *fmt, ...);
#define CORRAL_NO_RETRY_AFTER (-1.0)
/* Like corral_fail, reporting the upstream API's HTTP status (100-599) and the seconds its
 * Retry-After asked for (CORRAL_NO_RETRY_AFTER, or any negative, when it gave none). */
int corral_fail_upstream(corral_ctx *ctx, int status, double retry_after_s, const char *fmt, ...);
/* Like corral_fail, naming the OAuth scopes the connection lacks (`scopes` is a
 * NULL-terminated list; copied): the caller is told to reconnect granting them. */
int corral_fail_missing_scopes(corral_ctx *ctx, const char *const *scopes, const char *fmt, ...);
void corral_log(int level, const char *fmt, ...);

typedef struct {
    const char *method;             /* default "GET" */
    const char *url;
    const char *const *headers;     /* name, value, name, value, ..., NULL */
    const char *body;               /* NULL for none */
    uint32_t body_len;
    bool body_is_binary;            /* send `body` as bin rather than str */
    const corral_value *json_body;  /* the host encodes it as JSON; NULL for none */
    uint32_t cache_ttl_s;
    bool binary;                    /* return the body as bytes (response body_is_binary) */
    bool json;                      /* ask the host to parse the JSON body into `json` */
} corral_fetch_request;

typedef struct {
    int64_t status;
    const corral_value *headers;
    const char *body;
    uint32_t body_len;
    bool body_is_binary;
    const corral_value *json;
} corral_response;

/* A response header by lower-case name; false when absent. */
bool corral_response_header(const corral_response *resp, const char *name, const char **ptr, uint32_t *len);

/* The seconds a response's Retry-After asks for: delay-seconds, or an HTTP-date relative
 * to the response's Date header (a guest has no clock). False when there is none to read. */
bool corral_retry_after(const corral_response *resp, double *seconds);
/* corral_fail_upstream for a non-2xx response: its status and its Retry-After. */
int corral_fail_response(corral_ctx *ctx, const corral_response *resp, const char *fmt, ...);

/* 0 on a response (any status: a 404 is a response); -1 on a host refusal or failure,
 * with ctx->fetch_kind and ctx->message set, so `return -1` passes the fetch error on. */
int corral_fetch(corral_ctx *ctx, const corral_fetch_request *req, corral_response *resp);

/* ---- parameter types (guest-sdk/ABI.md §3.1) --------------------------------------- */
/* string, html, markdown, image, file and email arrive as strings (corral_arg_str);
 * number, integer and boolean as corral_arg_double / _int / _bool. A `date` arrives as
 * `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC, 24 characters), read by corral_arg_datetime. An array
 * is read with corral_arg_array; in a sparse array an empty cell is nil (corral_is_nil). */
typedef struct {
    int32_t year, month, day, hour, minute, second, millisecond;
} corral_datetime;
/* Read the canonical form; false for anything else. */
bool corral_parse_datetime(const char *s, uint32_t len, corral_datetime *out);
bool corral_as_datetime(const corral_value *v, corral_datetime *out);
bool corral_arg_datetime(corral_ctx *ctx, const corral_value *args, uint32_t i, corral_datetime *out);
/* Milliseconds since 1970-01-01T00:00:00Z. */
int64_t corral_datetime_epoch_ms(const corral_datetime *dt);
/* The canonical form into `out`, NUL-terminated (24 characters + NUL). */
void corral_format_datetime(const corral_datetime *dt, char out[25]);
/* Argument `i` as an array (plain or sparse); fails the call naming it otherwise. */
bool corral_arg_array(corral_ctx *ctx, const corral_value *args, uint32_t i, const corral_value **out);
/* The number of items of an array (0 for anything else), and whether a value is nil. */
uint32_t corral_len(const corral_value *array);
bool corral_is_nil(const corral_value *v);

#ifdef CORRAL_IMPLEMENTATION

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const corral_entry corral_pack_entries[];

/* ---- decoding ---------------------------------------------------------------------- */

typedef struct { const uint8_t *p; uint32_t len; uint32_t pos; int depth; } corral__reader;

static bool corral__take(corral__reader *r, uint32_t n, const uint8_t **out) {
    if (n > r->len - r->pos) return false;
    *out = r->p + r->pos;
    r->pos += n;
    return true;
}

static bool corral__uint(corral__reader *r, int bytes, uint64_t *out) {
    const uint8_t *b;
    if (!corral__take(r, (uint32_t)bytes, &b)) return false;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v = (v << 8) | b[i];
    *out = v;
    return true;
}

static bool corral__read(corral__reader *r, corral_value *v);

static bool corral__read_items(corral__reader *r, corral_value *v, uint64_t n, bool map) {
    if (n > r->len - r->pos) return false;
    if (map) {
        corral_pair *pairs = calloc(n ? n : 1, sizeof(corral_pair));
        if (!pairs) return false;
        for (uint64_t i = 0; i < n; i++)
            if (!corral__read(r, &pairs[i].key) || !corral__read(r, &pairs[i].value)) return false;
        v->type = CORRAL_MAP; v->as.map.pairs = pairs; v->as.map.len = v->as.map.cap = (uint32_t)n;
    } else {
        corral_value *items = calloc(n ? n : 1, sizeof(corral_value));
        if (!items) return false;
        for (uint64_t i = 0; i < n; i++) if (!corral__read(r, &items[i])) return false;
        v->type = CORRAL_ARRAY; v->as.array.items = items; v->as.array.len = v->as.array.cap = (uint32_t)n;
    }
    return true;
}

static bool corral__read_str(corral__reader *r, corral_value *v, uint64_t n, corral_type t) {
    const uint8_t *b;
    if (n > 0xffffffffu || !corral__take(r, (uint32_t)n, &b)) return false;
    v->type = t; v->as.s.ptr = (const char *)b; v->as.s.len = (uint32_t)n;
    return true;
}

static bool corral__read(corral__reader *r, corral_value *v) {
    const uint8_t *tagp;
    uint64_t n;
    if (++r->depth > 64) return false;
    if (!corral__take(r, 1, &tagp)) return false;
    uint8_t tag = *tagp;
    bool ok = true;
    if (tag <= 0x7f) { v->type = CORRAL_INT; v->as.i = tag; }
    else if (tag >= 0xe0) { v->type = CORRAL_INT; v->as.i = (int8_t)tag; }
    else if ((tag & 0xf0) == 0x80) ok = corral__read_items(r, v, tag & 0x0f, true);
    else if ((tag & 0xf0) == 0x90) ok = corral__read_items(r, v, tag & 0x0f, false);
    else if ((tag & 0xe0) == 0xa0) ok = corral__read_str(r, v, tag & 0x1f, CORRAL_STR);
    else switch (tag) {
        case 0xc0: v->type = CORRAL_NIL; break;
        case 0xc2: v->type = CORRAL_BOOL; v->as.b = false; break;
        case 0xc3: v->type = CORRAL_BOOL; v->as.b = true; break;
        case 0xc4: case 0xc5: case 0xc6:
            ok = corral__uint(r, 1 << (tag - 0xc4), &n) && corral__read_str(r, v, n, CORRAL_BIN); break;
        case 0xca: { uint64_t bits; ok = corral__uint(r, 4, &bits); uint32_t b32 = (uint32_t)bits; float f;
                     memcpy(&f, &b32, 4); v->type = CORRAL_FLOAT; v->as.f = f; break; }
        case 0xcb: { uint64_t bits; ok = corral__uint(r, 8, &bits); double d; memcpy(&d, &bits, 8);
                     v->type = CORRAL_FLOAT; v->as.f = d; break; }
        case 0xcc: case 0xcd: case 0xce: case 0xcf:
            ok = corral__uint(r, 1 << (tag - 0xcc), &n);
            if (n > (uint64_t)INT64_MAX) { v->type = CORRAL_UINT; v->as.u = n; }
            else { v->type = CORRAL_INT; v->as.i = (int64_t)n; }
            break;
        case 0xd0: ok = corral__uint(r, 1, &n); v->type = CORRAL_INT; v->as.i = (int8_t)n; break;
        case 0xd1: ok = corral__uint(r, 2, &n); v->type = CORRAL_INT; v->as.i = (int16_t)n; break;
        case 0xd2: ok = corral__uint(r, 4, &n); v->type = CORRAL_INT; v->as.i = (int32_t)n; break;
        case 0xd3: ok = corral__uint(r, 8, &n); v->type = CORRAL_INT; v->as.i = (int64_t)n; break;
        case 0xd9: case 0xda: case 0xdb:
            ok = corral__uint(r, 1 << (tag - 0xd9), &n) && corral__read_str(r, v, n, CORRAL_STR); break;
        case 0xdc: ok = corral__uint(r, 2, &n) && corral__read_items(r, v, n, false); break;
        case 0xdd: ok = corral__uint(r, 4, &n) && corral__read_items(r, v, n, false); break;
        case 0xde: ok = corral__uint(r, 2, &n) && corral__read_items(r, v, n, true); break;
        case 0xdf: ok = corral__uint(r, 4, &n) && corral__read_items(r, v, n, true); break;
        default: ok = false;
    }
    r->depth--;
    return ok;
}

static bool corral__decode(const uint8_t *p, uint32_t len, corral_value *v) {
    corral__reader r = { p, len, 0, 0 };
    return corral__read(&r, v) && r.pos == len;
}

const corral_value *corral_get(const corral_value *map, const char *key) {
    if (!map || map->type != CORRAL_MAP) return NULL;
    for (uint32_t i = 0; i < map->as.map.len; i++)
        if (corral_str_eq(&map->as.map.pairs[i].key, key)) return &map->as.map.pairs[i].value;
    return NULL;
}

const corral_value *corral_index(const corral_value *array, uint32_t i) {
    if (!array || array->type != CORRAL_ARRAY || i >= array->as.array.len) return NULL;
    return &array->as.array.items[i];
}

bool corral_str_eq(const corral_value *v, const char *s) {
    size_t n = strlen(s);
    return v && v->type == CORRAL_STR && v->as.s.len == n && memcmp(v->as.s.ptr, s, n) == 0;
}

bool corral_as_int(const corral_value *v, int64_t *out) {
    if (!v) return false;
    if (v->type == CORRAL_INT) { *out = v->as.i; return true; }
    if (v->type == CORRAL_FLOAT && v->as.f == (double)(int64_t)v->as.f) { *out = (int64_t)v->as.f; return true; }
    return false;
}

bool corral_as_double(const corral_value *v, double *out) {
    if (!v) return false;
    if (v->type == CORRAL_FLOAT) { *out = v->as.f; return true; }
    if (v->type == CORRAL_INT) { *out = (double)v->as.i; return true; }
    if (v->type == CORRAL_UINT) { *out = (double)v->as.u; return true; }
    return false;
}

bool corral_arg_str(corral_ctx *ctx, const corral_value *args, uint32_t i, const char **ptr, uint32_t *len) {
    const corral_value *v = corral_index(args, i);
    if (!v || v->type != CORRAL_STR) { corral_fail(ctx, "argument %u must be a string", i + 1); return false; }
    *ptr = v->as.s.ptr; *len = v->as.s.len;
    return true;
}

bool corral_arg_double(corral_ctx *ctx, const corral_value *args, uint32_t i, double *out) {
    if (!corral_as_double(corral_index(args, i), out)) { corral_fail(ctx, "argument %u must be a number", i + 1); return false; }
    return true;
}

bool corral_arg_int(corral_ctx *ctx, const corral_value *args, uint32_t i, int64_t *out) {
    if (!corral_as_int(corral_index(args, i), out)) { corral_fail(ctx, "argument %u must be an integer", i + 1); return false; }
    return true;
}

bool corral_arg_bool(corral_ctx *ctx, const corral_value *args, uint32_t i, bool *out) {
    const corral_value *v = corral_index(args, i);
    if (!v || v->type != CORRAL_BOOL) { corral_fail(ctx, "argument %u must be a boolean", i + 1); return false; }
    *out = v->as.b;
    return true;
}

const corral_value *corral_continuation(corral_ctx *ctx) {
    const corral_value *c = corral_get(&ctx->request, "continuation");
    return (c && c->type != CORRAL_NIL) ? c : NULL;
}

const corral_value *corral_ctx_field(corral_ctx *ctx, const char *name) {
    return corral_get(corral_get(&ctx->request, "ctx"), name);
}

bool corral_connection_id(corral_ctx *ctx, const char **ptr, uint32_t *len) {
    const corral_value *id = corral_get(corral_ctx_field(ctx, "connection"), "id");
    if (!id || id->type != CORRAL_STR) return false;
    *ptr = id->as.s.ptr; *len = id->as.s.len;
    return true;
}

bool corral_dynamic_url(corral_ctx *ctx, const char **ptr, uint32_t *len) {
    const corral_value *url = corral_get(&ctx->request, "url");
    if (!url || url->type != CORRAL_STR) return false;
    *ptr = url->as.s.ptr; *len = url->as.s.len;
    return true;
}

/* ---- building ---------------------------------------------------------------------- */

corral_value corral_new_nil(void) { corral_value v = { .type = CORRAL_NIL }; return v; }
corral_value corral_new_bool(bool b) { corral_value v = { .type = CORRAL_BOOL, .as.b = b }; return v; }
corral_value corral_new_int(int64_t i) { corral_value v = { .type = CORRAL_INT, .as.i = i }; return v; }
corral_value corral_new_uint(uint64_t u) {
    if (u <= (uint64_t)INT64_MAX) return corral_new_int((int64_t)u);
    corral_value v = { .type = CORRAL_UINT, .as.u = u }; return v;
}
corral_value corral_new_double(double f) { corral_value v = { .type = CORRAL_FLOAT, .as.f = f }; return v; }
corral_value corral_new_strn(const char *s, uint32_t len) {
    corral_value v = { .type = CORRAL_STR }; v.as.s.ptr = s; v.as.s.len = len; return v;
}
corral_value corral_new_str(const char *s) { return corral_new_strn(s, (uint32_t)strlen(s)); }
corral_value corral_new_bin(const uint8_t *b, uint32_t len) {
    corral_value v = { .type = CORRAL_BIN }; v.as.s.ptr = (const char *)b; v.as.s.len = len; return v;
}
corral_value corral_new_array(void) { corral_value v = { .type = CORRAL_ARRAY }; return v; }
corral_value corral_new_map(void) { corral_value v = { .type = CORRAL_MAP }; return v; }

static bool corral__grow(void **items, uint32_t *cap, uint32_t len, size_t size) {
    if (len < *cap) return true;
    uint32_t grown = *cap ? *cap * 2 : 4;
    void *moved = realloc(*items, (size_t)grown * size);
    if (!moved) return false;
    *items = moved; *cap = grown;
    return true;
}

bool corral_array_push(corral_value *array, corral_value item) {
    if (!array || array->type != CORRAL_ARRAY) return false;
    void *items = array->as.array.items;
    if (!corral__grow(&items, &array->as.array.cap, array->as.array.len, sizeof(corral_value))) return false;
    array->as.array.items = items;
    array->as.array.items[array->as.array.len++] = item;
    return true;
}

bool corral_map_put(corral_value *map, const char *key, corral_value value) {
    if (!map || map->type != CORRAL_MAP) return false;
    for (uint32_t i = 0; i < map->as.map.len; i++)
        if (corral_str_eq(&map->as.map.pairs[i].key, key)) { map->as.map.pairs[i].value = value; return true; }
    void *pairs = map->as.map.pairs;
    if (!corral__grow(&pairs, &map->as.map.cap, map->as.map.len, sizeof(corral_pair))) return false;
    map->as.map.pairs = pairs;
    corral_pair *pair = &map->as.map.pairs[map->as.map.len++];
    pair->key = corral_new_str(key);
    pair->value = value;
    return true;
}

/* ---- encoding ---------------------------------------------------------------------- */

static void corral__raw(corral_writer *w, const void *data, uint32_t n) {
    if (w->failed) return;
    if (w->len + n > w->cap) {
        uint32_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n) cap *= 2;
        uint8_t *grown = realloc(w->data, cap);
        if (!grown) { w->failed = true; return; }
        w->data = grown; w->cap = cap;
    }
    memcpy(w->data + w->len, data, n);
    w->len += n;
}

static void corral__tagged(corral_writer *w, uint8_t tag, uint64_t v, int bytes) {
    uint8_t buf[9];
    buf[0] = tag;
    for (int i = 0; i < bytes; i++) buf[1 + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    corral__raw(w, buf, (uint32_t)bytes + 1);
}

void corral_write_nil(corral_writer *w) { uint8_t t = 0xc0; corral__raw(w, &t, 1); }
void corral_write_bool(corral_writer *w, bool b) { uint8_t t = b ? 0xc3 : 0xc2; corral__raw(w, &t, 1); }

void corral_write_int(corral_writer *w, int64_t i) {
    if (i >= 0 && i <= 0x7f) { uint8_t t = (uint8_t)i; corral__raw(w, &t, 1); }
    else if (i < 0 && i >= -32) { uint8_t t = (uint8_t)(int8_t)i; corral__raw(w, &t, 1); }
    else if (i >= INT32_MIN && i <= INT32_MAX) corral__tagged(w, 0xd2, (uint32_t)(int32_t)i, 4);
    else corral__tagged(w, 0xd3, (uint64_t)i, 8);
}

void corral_write_uint(corral_writer *w, uint64_t u) {
    if (u <= (uint64_t)INT64_MAX) corral_write_int(w, (int64_t)u);
    else corral__tagged(w, 0xcf, u, 8);
}

void corral_write_double(corral_writer *w, double f) {
    uint64_t bits; memcpy(&bits, &f, 8); corral__tagged(w, 0xcb, bits, 8);
}

void corral_write_strn(corral_writer *w, const char *s, uint32_t len) {
    if (len < 32) { uint8_t t = 0xa0 | (uint8_t)len; corral__raw(w, &t, 1); }
    else if (len <= 0xff) corral__tagged(w, 0xd9, len, 1);
    else if (len <= 0xffff) corral__tagged(w, 0xda, len, 2);
    else corral__tagged(w, 0xdb, len, 4);
    corral__raw(w, s, len);
}

void corral_write_str(corral_writer *w, const char *s) { corral_write_strn(w, s, (uint32_t)strlen(s)); }

void corral_write_bin(corral_writer *w, const uint8_t *b, uint32_t len) {
    corral__tagged(w, 0xc6, len, 4);
    corral__raw(w, b, len);
}

void corral_write_array(corral_writer *w, uint32_t n) {
    if (n < 16) { uint8_t t = 0x90 | (uint8_t)n; corral__raw(w, &t, 1); }
    else corral__tagged(w, 0xdd, n, 4);
}

void corral_write_map(corral_writer *w, uint32_t n) {
    if (n < 16) { uint8_t t = 0x80 | (uint8_t)n; corral__raw(w, &t, 1); }
    else corral__tagged(w, 0xdf, n, 4);
}

void corral_write_value(corral_writer *w, const corral_value *v) {
    switch (v->type) {
        case CORRAL_NIL: corral_write_nil(w); break;
        case CORRAL_BOOL: corral_write_bool(w, v->as.b); break;
        case CORRAL_INT: corral_write_int(w, v->as.i); break;
        case CORRAL_UINT: corral_write_uint(w, v->as.u); break;
        case CORRAL_FLOAT: corral_write_double(w, v->as.f); break;
        case CORRAL_STR: corral_write_strn(w, v->as.s.ptr, v->as.s.len); break;
        case CORRAL_BIN: corral_write_bin(w, (const uint8_t *)v->as.s.ptr, v->as.s.len); break;
        case CORRAL_ARRAY:
            corral_write_array(w, v->as.array.len);
            for (uint32_t i = 0; i < v->as.array.len; i++) corral_write_value(w, &v->as.array.items[i]);
            break;
        case CORRAL_MAP:
            corral_write_map(w, v->as.map.len);
            for (uint32_t i = 0; i < v->as.map.len; i++) {
                corral_write_value(w, &v->as.map.pairs[i].key);
                corral_write_value(w, &v->as.map.pairs[i].value);
            }
            break;
    }
}

static char *corral__strndup(const char *s, uint32_t n) {
    char *copy = malloc((size_t)n + 1);
    if (!copy) return NULL;
    memcpy(copy, s, n);
    copy[n] = 0;
    return copy;
}

static char *corral__vformat(const char *fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0) return NULL;
    char *buf = malloc((size_t)n + 1);
    if (buf) vsnprintf(buf, (size_t)n + 1, fmt, ap);
    return buf;
}

static char *corral__format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = corral__vformat(fmt, ap);
    va_end(ap);
    return text;
}

void corral_write_fmt(corral_writer *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = corral__vformat(fmt, ap);
    va_end(ap);
    if (text) corral_write_str(w, text); else w->failed = true;
}

void corral_write_page(corral_writer *w, const corral_value *rows, const corral_value *continuation) {
    corral_write_map(w, 2);
    corral_write_str(w, "rows");
    if (rows) corral_write_value(w, rows); else corral_write_array(w, 0);
    corral_write_str(w, "continuation");
    if (continuation) corral_write_value(w, continuation); else corral_write_nil(w);
}

void corral_write_valid(corral_writer *w) {
    corral_write_map(w, 1);
    corral_write_str(w, "valid"); corral_write_bool(w, true);
}

void corral_write_invalid(corral_writer *w, const char *message,
                          const corral_field_error *errors, uint32_t count) {
    corral_write_map(w, 3);
    corral_write_str(w, "valid"); corral_write_bool(w, false);
    corral_write_str(w, "message");
    if (message) corral_write_str(w, message); else corral_write_nil(w);
    corral_write_str(w, "field_errors");
    corral_write_array(w, count);
    for (uint32_t i = 0; i < count; i++) {
        corral_write_map(w, 2);
        corral_write_str(w, "parameter"); corral_write_str(w, errors[i].parameter);
        corral_write_str(w, "message"); corral_write_str(w, errors[i].message);
    }
}

/* The last failure wins: a user failure after a failed fetch is reported as the user's. */
static int corral__vfail(corral_ctx *ctx, const char *fmt, va_list ap) {
    char *text = corral__vformat(fmt, ap);
    ctx->message = text ? text : "error";
    ctx->fetch_kind = NULL;
    ctx->blob_kind = NULL;
    ctx->upstream_status = 0;
    ctx->has_retry_after = false;
    ctx->missing_scopes = NULL;
    ctx->missing_scope_count = 0;
    return -1;
}

int corral_fail(corral_ctx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    corral__vfail(ctx, fmt, ap);
    va_end(ap);
    return -1;
}

static void corral__set_upstream(corral_ctx *ctx, int status, double retry_after_s) {
    if (status >= 100 && status <= 599) ctx->upstream_status = status;
    /* A NaN fails both comparisons; an infinity fails the second. */
    if (retry_after_s >= 0 && retry_after_s <= 1e300) {
        ctx->has_retry_after = true;
        ctx->retry_after_s = retry_after_s;
    }
}

int corral_fail_upstream(corral_ctx *ctx, int status, double retry_after_s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    corral__vfail(ctx, fmt, ap);
    va_end(ap);
    corral__set_upstream(ctx, status, retry_after_s);
    return -1;
}

int corral_fail_response(corral_ctx *ctx, const corral_response *resp, const char *fmt, ...) {
    double seconds = CORRAL_NO_RETRY_AFTER;
    if (!corral_retry_after(resp, &seconds)) seconds = CORRAL_NO_RETRY_AFTER;
    va_list ap;
    va_start(ap, fmt);
    corral__vfail(ctx, fmt, ap);
    va_end(ap);
    corral__set_upstream(ctx, resp->status >= 100 && resp->status <= 599 ? (int)resp->status : 0,
                         seconds);
    return -1;
}

int corral_fail_missing_scopes(corral_ctx *ctx, const char *const *scopes, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    corral__vfail(ctx, fmt, ap);
    va_end(ap);
    uint32_t n = 0;
    while (scopes && scopes[n]) n++;
    const char **copy = calloc(n ? n : 1, sizeof(char *));
    if (!copy) return -1;
    for (uint32_t i = 0; i < n; i++) {
        copy[i] = corral__strndup(scopes[i], (uint32_t)strlen(scopes[i]));
        if (!copy[i]) return -1;
    }
    ctx->missing_scopes = copy;
    ctx->missing_scope_count = n;
    return -1;
}

static int corral__fetch_failed(corral_ctx *ctx, const char *kind, const char *message, uint32_t len) {
    char *copy = corral__strndup(message, len);
    ctx->message = copy ? copy : "fetch failed";
    ctx->fetch_kind = kind;
    return -1;
}

void corral_log(int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = corral__vformat(fmt, ap);
    va_end(ap);
    if (text) corral_raw_log(level, (const uint8_t *)text, (uint32_t)strlen(text));
}

/* ---- Retry-After --------------------------------------------------------------------- */

static bool corral__digits(const char *s, uint32_t n, double *out) {
    if (n == 0) return false;
    double v = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
        if (v > 1e9) v = 1e9;  /* the host clamps any wait to an hour anyway */
    }
    *out = v;
    return true;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (month 1-12). */
static int64_t corral__days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool corral__date_sep(char c) { return c == ' ' || c == ',' || c == '-' || c == '\t'; }

static bool corral__clock(const char *t, uint32_t len, int64_t clock[3]) {
    static const int64_t limits[3] = { 23, 59, 60 };
    if (len != 8 || t[2] != ':' || t[5] != ':') return false;
    for (int k = 0; k < 3; k++) {
        double v;
        if (!corral__digits(t + 3 * k, 2, &v) || v > limits[k]) return false;
        clock[k] = (int64_t)v;
    }
    return true;
}

static int64_t corral__month(const char *t, uint32_t len) {
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (len < 3) return 0;
    for (int m = 0; m < 12; m++)
        if ((t[0] | 0x20) == months[3 * m] && (t[1] | 0x20) == months[3 * m + 1] &&
            (t[2] | 0x20) == months[3 * m + 2]) return m + 1;
    return 0;
}

/* Seconds since 1970 of an HTTP-date in any of its three forms (IMF-fixdate, RFC 850,
 * asctime; RFC 9110 5.6.7): in each the day comes before the year. */
static bool corral__http_date(const char *s, uint32_t n, int64_t *out) {
    int64_t numbers[2] = {0, 0}, clock[3], month = 0;
    uint32_t widths[2] = {0, 0}, count = 0, i = 0;
    bool has_clock = false;
    while (i < n) {
        while (i < n && corral__date_sep(s[i])) i++;
        uint32_t start = i;
        while (i < n && !corral__date_sep(s[i])) i++;
        const char *t = s + start;
        uint32_t len = i - start;
        if (len == 0) break;
        double v;
        if (memchr(t, ':', len)) {
            if (!corral__clock(t, len, clock)) return false;
            has_clock = true;
        } else if (t[0] >= '0' && t[0] <= '9') {
            if (count == 2 || len > 4 || !corral__digits(t, len, &v)) return false;
            numbers[count] = (int64_t)v;
            widths[count++] = len;
        } else if (month == 0) {
            month = corral__month(t, len);
        }
    }
    if (count != 2 || (widths[1] != 2 && widths[1] != 4) || !month || !has_clock) return false;
    int64_t day = numbers[0], year = numbers[1];
    if (widths[1] == 2) year += year >= 70 ? 1900 : 2000;
    if (day < 1 || day > 31) return false;
    *out = corral__days_from_civil(year, month, day) * 86400 + clock[0] * 3600 + clock[1] * 60 + clock[2];
    return true;
}

static void corral__trim(const char **s, uint32_t *n) {
    while (*n && (**s == ' ' || **s == '\t')) { (*s)++; (*n)--; }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

bool corral_retry_after(const corral_response *resp, double *seconds) {
    const char *value, *date;
    uint32_t len, date_len;
    int64_t until, now;
    if (!corral_response_header(resp, "retry-after", &value, &len)) return false;
    corral__trim(&value, &len);
    if (corral__digits(value, len, seconds)) return true;
    if (!corral__http_date(value, len, &until)) return false;
    if (!corral_response_header(resp, "date", &date, &date_len)) return false;
    if (!corral__http_date(date, date_len, &now)) return false;
    *seconds = until > now ? (double)(until - now) : 0.0;
    return true;
}

/* ---- fetch ------------------------------------------------------------------------- */

bool corral_response_header(const corral_response *resp, const char *name, const char **ptr, uint32_t *len) {
    const corral_value *v = corral_get(resp->headers, name);
    if (!v || v->type != CORRAL_STR) return false;
    *ptr = v->as.s.ptr; *len = v->as.s.len;
    return true;
}

static void corral__write_fetch_request(corral_writer *w, const corral_fetch_request *req) {
    uint32_t nheaders = 0;
    while (req->headers && req->headers[2 * nheaders]) nheaders++;
    corral_write_map(w, 8);
    corral_write_str(w, "method"); corral_write_str(w, req->method ? req->method : "GET");
    corral_write_str(w, "url"); corral_write_str(w, req->url ? req->url : "");
    corral_write_str(w, "headers"); corral_write_map(w, nheaders);
    for (uint32_t i = 0; i < nheaders; i++) {
        corral_write_str(w, req->headers[2 * i]);
        corral_write_str(w, req->headers[2 * i + 1] ? req->headers[2 * i + 1] : "");
    }
    corral_write_str(w, "body");
    if (!req->body) corral_write_nil(w);
    else if (req->body_is_binary) corral_write_bin(w, (const uint8_t *)req->body, req->body_len);
    else corral_write_strn(w, req->body, req->body_len);
    corral_write_str(w, "json_body");
    if (req->json_body) corral_write_value(w, req->json_body); else corral_write_nil(w);
    corral_write_str(w, "cache_ttl_s"); corral_write_int(w, req->cache_ttl_s);
    corral_write_str(w, "binary"); corral_write_bool(w, req->binary);
    corral_write_str(w, "json"); corral_write_bool(w, req->json);
}

int corral_fetch(corral_ctx *ctx, const corral_fetch_request *req, corral_response *resp) {
    corral_writer w = {0};
    corral__write_fetch_request(&w, req);
    if (w.failed) return corral_fail(ctx, "out of memory building a fetch request");
    int64_t packed = corral_raw_fetch(w.data, w.len);
    uint32_t ptr = (uint32_t)((uint64_t)packed >> 32), len = (uint32_t)packed;
    corral_value *reply = calloc(1, sizeof(corral_value));
    if (!reply || !corral__decode((const uint8_t *)(uintptr_t)ptr, len, reply)) {
        const char *text = "the host's fetch response could not be decoded";
        return corral__fetch_failed(ctx, "network", text, (uint32_t)strlen(text));
    }
    const corral_value *err = corral_get(reply, "err");
    if (err) {
        const corral_value *kind = corral_get(err, "kind"), *msg = corral_get(err, "message");
        const char *kind_text = kind && kind->type == CORRAL_STR ? corral__strndup(kind->as.s.ptr, kind->as.s.len) : NULL;
        bool has_msg = msg && msg->type == CORRAL_STR;
        return corral__fetch_failed(ctx, kind_text ? kind_text : "network", has_msg ? msg->as.s.ptr : "",
                                    has_msg ? msg->as.s.len : 0);
    }
    const corral_value *ok = corral_get(reply, "ok");
    const corral_value *status = corral_get(ok, "status"), *body = corral_get(ok, "body");
    bool has_body = body && (body->type == CORRAL_STR || body->type == CORRAL_BIN);
    resp->status = 0;
    corral_as_int(status, &resp->status);
    resp->headers = corral_get(ok, "headers");
    resp->body = has_body ? body->as.s.ptr : "";
    resp->body_len = has_body ? body->as.s.len : 0;
    resp->body_is_binary = has_body && body->type == CORRAL_BIN;
    resp->json = corral_get(ok, "json");
    return 0;
}

/* ---- context and blobs -------------------------------------------------------------- */

static bool corral__str_of(const corral_value *v, const char **ptr, uint32_t *len) {
    if (!v || v->type != CORRAL_STR) return false;
    *ptr = v->as.s.ptr; *len = v->as.s.len;
    return true;
}

void corral_timezone(corral_ctx *ctx, const char **ptr, uint32_t *len) {
    if (!corral__str_of(corral_ctx_field(ctx, "timezone"), ptr, len)) { *ptr = "UTC"; *len = 3; }
}

void corral_protocol_and_host(corral_ctx *ctx, const char **ptr, uint32_t *len) {
    const corral_value *location = corral_ctx_field(ctx, "invocation_location");
    if (!corral__str_of(corral_get(location, "protocol_and_host"), ptr, len)) { *ptr = ""; *len = 0; }
}

bool corral_doc_id(corral_ctx *ctx, const char **ptr, uint32_t *len) {
    return corral__str_of(corral_get(corral_ctx_field(ctx, "invocation_location"), "doc_id"), ptr, len);
}

static int corral__blob_failed(corral_ctx *ctx, const char *kind, const char *message, uint32_t len) {
    char *copy = corral__strndup(message, len);
    ctx->message = copy ? copy : "the blob could not be stored";
    ctx->fetch_kind = NULL;
    ctx->blob_kind = kind;
    return -1;
}

static int corral__blob(corral_ctx *ctx, corral_writer *w, corral_blob *out) {
    if (w->failed) return corral_fail(ctx, "out of memory building a blob request");
    int64_t packed = corral_raw_blob(w->data, w->len);
    uint32_t ptr = (uint32_t)((uint64_t)packed >> 32), len = (uint32_t)packed;
    corral_value *reply = calloc(1, sizeof(corral_value));
    if (!reply || !corral__decode((const uint8_t *)(uintptr_t)ptr, len, reply)) {
        const char *text = "the host's blob response could not be decoded";
        return corral__blob_failed(ctx, "unavailable", text, (uint32_t)strlen(text));
    }
    const corral_value *err = corral_get(reply, "err");
    if (err) {
        const corral_value *kind = corral_get(err, "kind"), *msg = corral_get(err, "message");
        const char *kind_text = kind && kind->type == CORRAL_STR ? corral__strndup(kind->as.s.ptr, kind->as.s.len) : NULL;
        bool has_msg = msg && msg->type == CORRAL_STR;
        return corral__blob_failed(ctx, kind_text ? kind_text : "unavailable", has_msg ? msg->as.s.ptr : "",
                                   has_msg ? msg->as.s.len : 0);
    }
    const corral_value *ok = corral_get(reply, "ok");
    out->url = ""; out->url_len = 0; out->expires_at = ""; out->expires_at_len = 0;
    corral__str_of(corral_get(ok, "url"), &out->url, &out->url_len);
    corral__str_of(corral_get(ok, "expires_at"), &out->expires_at, &out->expires_at_len);
    return 0;
}

int corral_store_blob(corral_ctx *ctx, const uint8_t *bytes, uint32_t len, const char *content_type,
                      corral_blob *out) {
    corral_writer w = {0};
    corral_write_map(&w, 2);
    corral_write_str(&w, "bytes"); corral_write_bin(&w, bytes, len);
    corral_write_str(&w, "content_type"); corral_write_str(&w, content_type ? content_type : "");
    return corral__blob(ctx, &w, out);
}

int corral_store_url(corral_ctx *ctx, const char *url, corral_blob *out) {
    corral_writer w = {0};
    corral_write_map(&w, 1);
    corral_write_str(&w, "url"); corral_write_str(&w, url ? url : "");
    return corral__blob(ctx, &w, out);
}

/* ---- exports ----------------------------------------------------------------------- */

__attribute__((export_name("corral_abi_v1"))) void corral_abi_v1(void) {}

__attribute__((export_name("corral_alloc"))) uint8_t *corral_alloc(int32_t size) {
    if (size < 0) return NULL;
    return malloc(size ? (size_t)size : 1);
}

static int64_t corral__pack(const uint8_t *p, uint32_t len) {
    return (int64_t)(((uint64_t)(uintptr_t)p << 32) | len);
}

static int64_t corral__error(corral_writer *w, const char *kind, const char *message, const char *fetch_kind) {
    w->len = 0; w->failed = false;
    corral_write_map(w, 1);
    corral_write_str(w, "err");
    corral_write_map(w, fetch_kind ? 3 : 2);
    corral_write_str(w, "kind"); corral_write_str(w, kind);
    corral_write_str(w, "message"); corral_write_str(w, message ? message : "");
    if (fetch_kind) { corral_write_str(w, "fetch_kind"); corral_write_str(w, fetch_kind); }
    return corral__pack(w->data, w->len);
}

/* {err: {kind: "user", message}} plus the upstream fields that are set (ABI.md 3.2). */
static int64_t corral__user_error(corral_writer *w, const corral_ctx *ctx) {
    uint32_t extra = (ctx->upstream_status != 0) + ctx->has_retry_after + (ctx->missing_scope_count != 0);
    w->len = 0; w->failed = false;
    corral_write_map(w, 1);
    corral_write_str(w, "err");
    corral_write_map(w, 2 + extra);
    corral_write_str(w, "kind"); corral_write_str(w, "user");
    corral_write_str(w, "message"); corral_write_str(w, ctx->message ? ctx->message : "");
    if (ctx->upstream_status) { corral_write_str(w, "status"); corral_write_int(w, ctx->upstream_status); }
    if (ctx->has_retry_after) { corral_write_str(w, "retry_after_s"); corral_write_double(w, ctx->retry_after_s); }
    if (ctx->missing_scope_count) {
        corral_write_str(w, "missing_scopes");
        corral_write_array(w, ctx->missing_scope_count);
        for (uint32_t i = 0; i < ctx->missing_scope_count; i++) corral_write_str(w, ctx->missing_scopes[i]);
    }
    return corral__pack(w->data, w->len);
}

static const corral_value *corral__request_field(corral_ctx *ctx, const char *name) {
    static const corral_value nil = { .type = CORRAL_NIL };
    const corral_value *v = corral_get(&ctx->request, name);
    return v ? v : &nil;
}

/* The `args` a handler sees for each op (see the table at the top of this file). */
static const corral_value *corral__handler_args(corral_ctx *ctx, const corral_value *op) {
    corral_value *args = calloc(1, sizeof(corral_value));
    if (!args) return NULL;
    *args = corral_new_array();
    const corral_value *given = corral_get(&ctx->request, "args");
    bool ok = true;
    if (corral_str_eq(op, "sync_update")) {
        ok = corral_array_push(args, *corral__request_field(ctx, "updates"));
    } else if (corral_str_eq(op, "autocomplete")) {
        ok = corral_array_push(args, *corral__request_field(ctx, "search")) &&
             corral_array_push(args, given ? *given : corral_new_array()) &&
             corral_array_push(args, *corral__request_field(ctx, "param"));
    } else if (corral_str_eq(op, "dynamic_schema")) {
        ok = corral_array_push(args, *corral__request_field(ctx, "url"));
    } else if (corral_str_eq(op, "dynamic_urls") || corral_str_eq(op, "connection_name")) {
        /* no arguments */
    } else if (given && given->type == CORRAL_ARRAY) {
        return given;
    }
    return ok ? args : NULL;
}

__attribute__((export_name("corral_call"))) int64_t corral_call(const uint8_t *ptr, int32_t len) {
    static corral_writer w;
    corral_ctx ctx = {0};
    if (len < 0 || !corral__decode(ptr, (uint32_t)len, &ctx.request))
        return corral__error(&w, "bad_request", "the request is not valid MessagePack", NULL);
    const corral_value *op = corral_get(&ctx.request, "op");
    const corral_value *name = corral_get(&ctx.request, "name");
    const corral_value *args = corral__handler_args(&ctx, op);
    if (!args) return corral__error(&w, "internal", "OutOfMemory", NULL);
    for (const corral_entry *e = corral_pack_entries; e->op; e++) {
        if (!corral_str_eq(op, e->op) || (e->name[0] && !corral_str_eq(name, e->name))) continue;
        w.len = 0; w.failed = false;
        corral_write_map(&w, 1);
        corral_write_str(&w, "ok");
        if (e->handler(&ctx, args, &w) != 0) {
            if (ctx.fetch_kind) return corral__error(&w, "fetch", ctx.message, ctx.fetch_kind);
            if (ctx.blob_kind) return corral__error(&w, "blob", ctx.message, NULL);
            return corral__user_error(&w, &ctx);
        }
        if (w.failed) return corral__error(&w, "internal", "OutOfMemory", NULL);
        return corral__pack(w.data, w.len);
    }
    const corral_value *name_v = corral__request_field(&ctx, "name");
    const corral_value *op_v = corral__request_field(&ctx, "op");
    char *message = corral__format("no %.*s handler named '%.*s'",
        op_v->type == CORRAL_STR ? (int)op_v->as.s.len : 0, op_v->type == CORRAL_STR ? op_v->as.s.ptr : "",
        name_v->type == CORRAL_STR ? (int)name_v->as.s.len : 0, name_v->type == CORRAL_STR ? name_v->as.s.ptr : "");
    return corral__error(&w, "not_found", message ? message : "no such handler", NULL);
}

/* ---- parameter types ------------------------------------------------------------- */

static int corral__date_digits(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
    return v;
}

bool corral_parse_datetime(const char *s, uint32_t len, corral_datetime *out) {
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (len != 24) return false;
    for (uint32_t i = 0; i < 24; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i]) return false;
    }
    corral_datetime dt = {
        corral__date_digits(s, 4), corral__date_digits(s + 5, 2), corral__date_digits(s + 8, 2),
        corral__date_digits(s + 11, 2), corral__date_digits(s + 14, 2), corral__date_digits(s + 17, 2),
        corral__date_digits(s + 20, 3),
    };
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (dt.year % 4 == 0 && dt.year % 100 != 0) || dt.year % 400 == 0;
    if (dt.month < 1 || dt.month > 12) return false;
    int month_days = days[dt.month - 1] + (dt.month == 2 && leap ? 1 : 0);
    if (dt.day < 1 || dt.day > month_days || dt.hour > 23 || dt.minute > 59 || dt.second > 59)
        return false;
    *out = dt;
    return true;
}

bool corral_as_datetime(const corral_value *v, corral_datetime *out) {
    return v && v->type == CORRAL_STR && corral_parse_datetime(v->as.s.ptr, v->as.s.len, out);
}

bool corral_arg_datetime(corral_ctx *ctx, const corral_value *args, uint32_t i, corral_datetime *out) {
    if (!corral_as_datetime(corral_index(args, i), out)) { corral_fail(ctx, "argument %u must be a date", i + 1); return false; }
    return true;
}

int64_t corral_datetime_epoch_ms(const corral_datetime *dt) {
    /* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
    int64_t y = dt->year - (dt->month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (dt->month > 2 ? dt->month - 3 : dt->month + 9) + 2) / 5 + dt->day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return ((days * 86400 + dt->hour * 3600 + dt->minute * 60 + dt->second) * 1000) + dt->millisecond;
}

static void corral__put_digits(char *out, int value, int n) {
    for (int i = n - 1; i >= 0; i--) { out[i] = (char)('0' + value % 10); value /= 10; }
}

void corral_format_datetime(const corral_datetime *dt, char out[25]) {
    memcpy(out, "0000-00-00T00:00:00.000Z", 25);
    corral__put_digits(out, dt->year, 4);
    corral__put_digits(out + 5, dt->month, 2);
    corral__put_digits(out + 8, dt->day, 2);
    corral__put_digits(out + 11, dt->hour, 2);
    corral__put_digits(out + 14, dt->minute, 2);
    corral__put_digits(out + 17, dt->second, 2);
    corral__put_digits(out + 20, dt->millisecond, 3);
}

bool corral_arg_array(corral_ctx *ctx, const corral_value *args, uint32_t i, const corral_value **out) {
    const corral_value *v = corral_index(args, i);
    if (!v || v->type != CORRAL_ARRAY) { corral_fail(ctx, "argument %u must be an array", i + 1); return false; }
    *out = v;
    return true;
}

uint32_t corral_len(const corral_value *array) {
    return array && array->type == CORRAL_ARRAY ? array->as.array.len : 0;
}

bool corral_is_nil(const corral_value *v) { return !v || v->type == CORRAL_NIL; }

#endif /* CORRAL_IMPLEMENTATION */
#endif /* CORRAL_H */
