/* msgpack.h: the bridge's MessagePack decoder (included once, by bridge.c).
 *
 * __corral.decode(bytes): MessagePack to JS values in C. The runtime's MessagePack
 * decoder in JS took two thirds of a Coda call's guest work to read its 120-byte request.
 * The values are what @msgpack/msgpack's decode makes (maps with string keys as plain
 * objects, bin as a Uint8Array, 64-bit integers as numbers); for anything else (an
 * extension type, a key that is not a string or is __proto__, nesting deeper than
 * MP_MAX_DEPTH, a truncated or over-long buffer) it returns undefined and the runtime
 * decodes with the JS decoder, which gives those cases its own values and errors. */
#ifndef CORRAL_JS_MSGPACK_H
#define CORRAL_JS_MSGPACK_H
#include <stdint.h>
#include <string.h>

#include "quickjs.h"

#define MP_MAX_DEPTH 256
typedef struct { const uint8_t *p, *end; int depth; } mp_reader;
enum { MP_OK, MP_OTHER, MP_THROWN };

static int mp_has(const mp_reader *r, uint64_t n) { return (uint64_t)(r->end - r->p) >= n; }
static uint64_t mp_be(mp_reader *r, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | *r->p++;
    return v;
}
static int mp_value(JSContext *c, mp_reader *r, JSValue *out);

static int mp_length(mp_reader *r, uint8_t head, uint8_t fix_mask, uint8_t fix_tag,
                     uint8_t first, uint64_t *len) {
    if ((head & ~fix_mask) == fix_tag) { *len = head & fix_mask; return MP_OK; }
    int width = 1 << (head - first);  /* str8/bin8: 1 byte, then 2, then 4 */
    if (!mp_has(r, (uint64_t)width)) return MP_OTHER;
    *len = mp_be(r, width);
    return MP_OK;
}
static int mp_result(JSContext *c, JSValue v, JSValue *out) {
    if (JS_IsException(v)) return MP_THROWN;
    *out = v;
    (void)c;
    return MP_OK;
}
static int mp_string(JSContext *c, mp_reader *r, uint64_t len, JSValue *out) {
    if (!mp_has(r, len)) return MP_OTHER;
    const char *s = (const char *)r->p;
    r->p += len;
    return mp_result(c, JS_NewStringLen(c, s, (size_t)len), out);
}
static int mp_key(JSContext *c, mp_reader *r, JSAtom *atom) {
    if (!mp_has(r, 1)) return MP_OTHER;
    uint8_t head = *r->p++;
    uint64_t len;
    if (!((head & 0xe0) == 0xa0 || (head >= 0xd9 && head <= 0xdb))) return MP_OTHER;
    if (mp_length(r, head, 0x1f, 0xa0, 0xd9, &len) || !mp_has(r, len)) return MP_OTHER;
    const char *s = (const char *)r->p;
    r->p += len;
    if (len == 9 && !memcmp(s, "__proto__", 9)) return MP_OTHER;
    /* JS_NewAtomLen matches non-ASCII bytes as Latin-1: go through a string for those. */
    JSValue str = JS_NewStringLen(c, s, (size_t)len);
    if (JS_IsException(str)) return MP_THROWN;
    *atom = JS_ValueToAtom(c, str);
    JS_FreeValue(c, str);
    return *atom == JS_ATOM_NULL ? MP_THROWN : MP_OK;
}
static int mp_array(JSContext *c, mp_reader *r, uint64_t n, JSValue *out) {
    if (!mp_has(r, n)) return MP_OTHER;  /* every element takes a byte at least */
    JSValue array = JS_NewArray(c);
    if (JS_IsException(array)) return MP_THROWN;
    for (uint64_t i = 0; i < n; i++) {
        JSValue v;
        int rc = mp_value(c, r, &v);
        if (rc == MP_OK && JS_SetPropertyUint32(c, array, (uint32_t)i, v) < 0) rc = MP_THROWN;
        if (rc) { JS_FreeValue(c, array); return rc; }
    }
    *out = array;
    return MP_OK;
}
static int mp_map(JSContext *c, mp_reader *r, uint64_t n, JSValue *out) {
    if (!mp_has(r, n * 2)) return MP_OTHER;
    JSValue object = JS_NewObject(c);
    if (JS_IsException(object)) return MP_THROWN;
    for (uint64_t i = 0; i < n; i++) {
        JSAtom key;
        JSValue v;
        int rc = mp_key(c, r, &key);
        if (rc == MP_OK) {
            rc = mp_value(c, r, &v);
            if (rc == MP_OK && JS_DefinePropertyValue(c, object, key, v, JS_PROP_C_W_E) < 0)
                rc = MP_THROWN;
            JS_FreeAtom(c, key);
        }
        if (rc) { JS_FreeValue(c, object); return rc; }
    }
    *out = object;
    return MP_OK;
}
static int mp_number(JSContext *c, mp_reader *r, uint8_t head, JSValue *out) {
    static const int widths[] = {1, 2, 4, 8};
    int width = head >= 0xd0 ? widths[head - 0xd0] : widths[head - 0xcc];
    if (!mp_has(r, (uint64_t)width)) return MP_OTHER;
    uint64_t bits = mp_be(r, width);
    if (head >= 0xd0) {  /* int8..int64: sign-extend */
        int shift = 64 - 8 * width;
        *out = JS_NewInt64(c, (int64_t)(bits << shift) >> shift);
    } else if (bits <= (uint64_t)INT64_MAX) {
        *out = JS_NewInt64(c, (int64_t)bits);
    } else {
        *out = JS_NewFloat64(c, (double)bits);
    }
    return MP_OK;
}
static int mp_float(JSContext *c, mp_reader *r, uint8_t head, JSValue *out) {
    int width = head == 0xca ? 4 : 8;
    if (!mp_has(r, (uint64_t)width)) return MP_OTHER;
    uint64_t bits = mp_be(r, width);
    double d;
    if (width == 4) { uint32_t b32 = (uint32_t)bits; float f; memcpy(&f, &b32, 4); d = f; }
    else memcpy(&d, &bits, 8);
    *out = JS_NewFloat64(c, d);
    return MP_OK;
}
static int mp_value(JSContext *c, mp_reader *r, JSValue *out) {
    if (!mp_has(r, 1) || r->depth >= MP_MAX_DEPTH) return MP_OTHER;
    uint8_t head = *r->p++;
    uint64_t len;
    if (head <= 0x7f || head >= 0xe0) { *out = JS_NewInt32(c, (int8_t)head); return MP_OK; }
    if (head == 0xc0) { *out = JS_NULL; return MP_OK; }
    if (head == 0xc2 || head == 0xc3) { *out = JS_NewBool(c, head == 0xc3); return MP_OK; }
    if ((head & 0xe0) == 0xa0 || (head >= 0xd9 && head <= 0xdb)) {
        if (mp_length(r, head, 0x1f, 0xa0, 0xd9, &len)) return MP_OTHER;
        return mp_string(c, r, len, out);
    }
    if (head >= 0xc4 && head <= 0xc6) {
        if (mp_length(r, head, 0, 0xff, 0xc4, &len) || !mp_has(r, len)) return MP_OTHER;
        const uint8_t *bytes = r->p;
        r->p += len;
        return mp_result(c, JS_NewUint8ArrayCopy(c, bytes, (size_t)len), out);
    }
    if (head == 0xca || head == 0xcb) return mp_float(c, r, head, out);
    if (head >= 0xcc && head <= 0xd3) return mp_number(c, r, head, out);
    int rc = MP_OTHER;
    r->depth++;
    if ((head & 0xf0) == 0x90 || head == 0xdc || head == 0xdd) {
        int width = head == 0xdc ? 2 : 4;
        if ((head & 0xf0) == 0x90) len = head & 0x0f;
        else if (mp_has(r, (uint64_t)width)) len = mp_be(r, width);
        else { r->depth--; return MP_OTHER; }
        rc = mp_array(c, r, len, out);
    } else if ((head & 0xf0) == 0x80 || head == 0xde || head == 0xdf) {
        int width = head == 0xde ? 2 : 4;
        if ((head & 0xf0) == 0x80) len = head & 0x0f;
        else if (mp_has(r, (uint64_t)width)) len = mp_be(r, width);
        else { r->depth--; return MP_OTHER; }
        rc = mp_map(c, r, len, out);
    }
    r->depth--;
    return rc;  /* extension types and 0xc1 are the JS decoder's */
}

static JSValue js_decode(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    size_t len;
    uint8_t *bytes = argc > 0 ? JS_GetUint8Array(c, &len, argv[0]) : NULL;
    if (!bytes) {
        JS_FreeValue(c, JS_GetException(c));
        return JS_UNDEFINED;
    }
    mp_reader r = {bytes, bytes + len, 0};
    JSValue value;
    int rc = mp_value(c, &r, &value);
    if (rc == MP_THROWN) return JS_EXCEPTION;
    if (rc == MP_OTHER) return JS_UNDEFINED;
    if (r.p != r.end) { JS_FreeValue(c, value); return JS_UNDEFINED; }
    return value;
}
#endif
