/* bridge.c: QuickJS-NG as a Corral ABI v1 pack (see guest-sdk/ABI.md §8).
 *
 * The engine is compiled once; a pack is this engine snapshotted by Wizer after
 * `wizer.initialize` evaluated the pack's bundle. The bundle reaches the engine as a data
 * segment that the build appends over `bundle_slot` (its address and capacity come from
 * the exported `corral_js_slot`), at the bottom of the C stack; initialize zeroes the slot
 * again, so the snapshot does not carry the source twice.
 *
 * JS sees one global `__corral` with `fetch(Uint8Array) -> Uint8Array` (the MessagePack
 * fetch maps of ABI §5, passed through unchanged), `log(level, text)` and
 * `decode(Uint8Array)` (MessagePack to values, or undefined for the JS decoder to do). Each
 * `corral_call` hands the raw request bytes to `globalThis.__corral_dispatch`, which returns
 * the raw response bytes or a promise of them; pending jobs run until it settles.
 *
 * The only WASI imports the engine keeps are `clock_time_get` (Date.now) and `random_get`
 * (the per-call Math.random seed): everything else libc could reach is stubbed below.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#include "corral.h"
#include "msgpack.h"
#include "quickjs.h"

/* The largest bundle, and where the build writes it: at the bottom of the engine's C
 * stack (ENGINE_STACK_BYTES in js_engine.py holds it and 1 MiB of stack above it; the
 * stack comes first in memory). The stack grows down from the top and only initialize
 * reads the slot, with QuickJS's stack limit kept above it, then zeroes it: calls start
 * from a snapshot whose memory image begins above the slot, so 2 MiB of zeroes are not
 * carried in every precompiled pack or copied into every instance. 2 MiB holds a Coda
 * pack with its SDK (about 0.6 MB) three times over. */
#ifndef CORRAL_JS_SLOT_BYTES
#define CORRAL_JS_SLOT_BYTES (2u << 20)
#endif
#define SLOT_ADDRESS 4096u
/* Stack kept free below initialize's frames for C code QuickJS does not check. */
#define INIT_STACK_MARGIN (64u << 10)
#define INIT_STACK_MIN (256u << 10)
/* QuickJS's own stack limit during calls: a JS call frame takes about 340 bytes of the C
 * stack, so 896 KiB is about 2,700 nested JS calls, each of which also takes about 1.3 KiB
 * of the host's native stack (under the sandbox's max_wasm_stack of 4 MiB). Deep
 * recursion therefore ends as a JS RangeError, which the pack can catch, before either
 * stack overflows; past both it is a trap (StackOverflow), never a crash. */
#ifndef CORRAL_JS_STACK_BYTES
#define CORRAL_JS_STACK_BYTES (896u << 10)
#endif

/* [u32 length][bytes]: written by the build, read and zeroed by initialize. */
#define bundle_slot ((uint8_t *)(uintptr_t)SLOT_ADDRESS)
static const char layout_error[] =
    "the engine's memory layout is not stack first with room for the bundle slot";

static JSRuntime *rt;
static JSContext *ctx;
static int out_of_memory;
static char *init_error;
static uint32_t init_error_len;
static uint64_t random_state;

/* ---- allocation: QuickJS's heap, remembering a failure so it reports as OutOfMemory ---- */

static void *js_calloc_fn(void *opaque, size_t count, size_t size) {
    (void)opaque;
    void *p = calloc(count, size);
    if (!p) out_of_memory = 1;
    return p;
}
static void *js_malloc_fn(void *opaque, size_t size) {
    (void)opaque;
    void *p = malloc(size);
    if (!p && size) out_of_memory = 1;
    return p;
}
static void js_free_fn(void *opaque, void *ptr) { (void)opaque; free(ptr); }
static void *js_realloc_fn(void *opaque, void *ptr, size_t size) {
    (void)opaque;
    void *p = realloc(ptr, size);
    if (!p && size) out_of_memory = 1;
    return p;
}
static size_t js_usable_size_fn(const void *ptr) { (void)ptr; return 0; }
static const JSMallocFunctions malloc_functions = {
    js_calloc_fn, js_malloc_fn, js_free_fn, js_realloc_fn, js_usable_size_fn,
};

/* ---- a tiny MessagePack writer for the bridge's own error maps ---- */

typedef struct { uint8_t *data; uint32_t len, cap; } buf_t;

static void buf_put(buf_t *b, const void *src, uint32_t n) {
    if (b->len + n > b->cap) {
        uint32_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) return;  /* the caller checks for a short buffer */
        b->data = d; b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}
static void buf_byte(buf_t *b, uint8_t v) { buf_put(b, &v, 1); }
static void buf_str(buf_t *b, const char *s, uint32_t n) {
    if (n < 32) buf_byte(b, (uint8_t)(0xa0 | n));
    else { uint8_t h[5] = {0xdb, n >> 24, n >> 16, n >> 8, n}; buf_put(b, h, 5); }
    buf_put(b, s, n);
}

/* {err: {kind, message}}; a static fallback when even that cannot be allocated. */
static int64_t error_response(const char *kind, const char *message, uint32_t len) {
    static const uint8_t oom[] = "\x81\xa3" "err" "\x82\xa4" "kind" "\xa8" "internal"
                                 "\xa7" "message" "\xab" "OutOfMemory";
    buf_t b = {0};
    buf_byte(&b, 0x81); buf_str(&b, "err", 3);
    buf_byte(&b, 0x82); buf_str(&b, "kind", 4); buf_str(&b, kind, (uint32_t)strlen(kind));
    buf_str(&b, "message", 7); buf_str(&b, message, len);
    if (!b.data || b.len != 1 + 4 + 1 + 5 + 1 + strlen(kind) + 8 + (len < 32 ? 1 : 5) + len)
        return ((int64_t)(uintptr_t)oom << 32) | (sizeof oom - 1);
    return ((int64_t)(uintptr_t)b.data << 32) | b.len;
}
static int64_t internal_error(const char *message) {
    return error_response("internal", message, (uint32_t)strlen(message));
}

/* The pending exception as "message\nstack" (the stack when it is an Error). */
static int64_t exception_response(void) {
    JSValue exc = JS_GetException(ctx);
    if (out_of_memory) { JS_FreeValue(ctx, exc); return internal_error("OutOfMemory"); }
    buf_t b = {0};
    size_t n;
    const char *text = JS_ToCStringLen(ctx, &n, exc);
    buf_put(&b, text ? text : "an exception that cannot be shown", text ? (uint32_t)n : 33);
    if (text) JS_FreeCString(ctx, text);
    if (JS_IsObject(exc)) {
        JSValue stack = JS_GetPropertyStr(ctx, exc, "stack");
        if (JS_IsString(stack)) {
            const char *s = JS_ToCStringLen(ctx, &n, stack);
            if (s && n) { buf_byte(&b, '\n'); buf_put(&b, s, (uint32_t)n); }
            if (s) JS_FreeCString(ctx, s);
        }
        JS_FreeValue(ctx, stack);
    }
    JS_FreeValue(ctx, exc);
    JS_FreeValue(ctx, JS_GetException(ctx));  /* one raised while reading it */
    if (out_of_memory || !b.data) return internal_error("OutOfMemory");
    return error_response("internal", (const char *)b.data, b.len);
}

/* ---- __corral ---- */

static JSValue js_fetch(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    size_t len;
    uint8_t *bytes = argc > 0 ? JS_GetUint8Array(c, &len, argv[0]) : NULL;
    if (!bytes) return JS_ThrowTypeError(c, "__corral.fetch takes the request as a Uint8Array");
    int64_t r = corral_raw_fetch(bytes, (uint32_t)len);
    const uint8_t *ptr = (const uint8_t *)(uintptr_t)((uint64_t)r >> 32);
    JSValue out = JS_NewUint8ArrayCopy(c, ptr, (uint32_t)r);
    free((void *)ptr);  /* the host allocated it with corral_alloc: it is ours */
    return out;
}

/* __corral.blob: the same shape as fetch, over the blob import (ABI.md 4.1). */
static JSValue js_blob(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    size_t len;
    uint8_t *bytes = argc > 0 ? JS_GetUint8Array(c, &len, argv[0]) : NULL;
    if (!bytes) return JS_ThrowTypeError(c, "__corral.blob takes the request as a Uint8Array");
    int64_t r = corral_raw_blob(bytes, (uint32_t)len);
    const uint8_t *ptr = (const uint8_t *)(uintptr_t)((uint64_t)r >> 32);
    JSValue out = JS_NewUint8ArrayCopy(c, ptr, (uint32_t)r);
    free((void *)ptr);
    return out;
}

static JSValue js_log(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    int32_t level = 1;
    if (argc > 0 && JS_ToInt32(c, &level, argv[0])) return JS_EXCEPTION;
    size_t len;
    const char *text = JS_ToCStringLen(c, &len, argc > 1 ? argv[1] : JS_UNDEFINED);
    if (!text) return JS_EXCEPTION;
    corral_raw_log(level, (const uint8_t *)text, (uint32_t)len);
    JS_FreeCString(c, text);
    return JS_UNDEFINED;
}

/* Math.random: xorshift64*, seeded from the host's CSPRNG at the start of every call, so
 * instances of one snapshot do not share a sequence. */
static JSValue js_random(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc; (void)argv;
    uint64_t x = random_state;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    random_state = x;
    uint64_t bits = (x * 0x2545F4914F6CDD1DULL) >> 11;
    return JS_NewFloat64(c, (double)bits / 9007199254740992.0);
}

static void seed_random(void) {
    uint64_t seed = 0;
    if (__wasi_random_get((uint8_t *)&seed, sizeof seed) != 0 || seed == 0)
        seed = 0x9E3779B97F4A7C15ULL;
    random_state = seed;
}

static int define_globals(void) {
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue corral = JS_NewObject(ctx);
    JS_SetPropertyStr(ctx, corral, "fetch", JS_NewCFunction(ctx, js_fetch, "fetch", 1));
    JS_SetPropertyStr(ctx, corral, "log", JS_NewCFunction(ctx, js_log, "log", 2));
    JS_SetPropertyStr(ctx, corral, "blob", JS_NewCFunction(ctx, js_blob, "blob", 1));
    JS_SetPropertyStr(ctx, corral, "decode", JS_NewCFunction(ctx, js_decode, "decode", 1));
    JS_SetPropertyStr(ctx, global, "__corral", corral);
    JSValue math = JS_GetPropertyStr(ctx, global, "Math");
    JS_SetPropertyStr(ctx, math, "random", JS_NewCFunction(ctx, js_random, "random", 0));
    JS_FreeValue(ctx, math);
    JS_FreeValue(ctx, global);
    return 0;
}

/* ---- initialization (run by Wizer at build time) ---- */

static void remember_init_error(void) {
    int64_t r = exception_response();
    init_error = (char *)(uintptr_t)((uint64_t)r >> 32);
    init_error_len = (uint32_t)r;
}

/* JS_RunGC leaves the trigger where the last automatic collection set it, often just above
 * the snapshot's heap: the first allocations of every call would then run a full collection,
 * whose marking writes to every object's header and so dirties (copies) every page of the
 * snapshot's heap. QuickJS's own rule after a collection (the next one at 1.5 times the
 * live heap) keeps a small call from collecting at all. */
static void reset_gc_threshold(void) {
    JSMemoryUsage usage;
    JS_ComputeMemoryUsage(rt, &usage);
    size_t live = (size_t)usage.malloc_size;
    JS_SetGCThreshold(rt, live + live / 2);
}

extern void __wasm_call_ctors(void);

/* The stack room above the slot, or 0 when the layout is not the one the slot needs (the
 * stack first, below static data, and its top high enough above the slot). */
static size_t init_stack_room(void) {
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t slot_end = SLOT_ADDRESS + CORRAL_JS_SLOT_BYTES;
    if ((uintptr_t)&rt < sp || sp < slot_end + INIT_STACK_MARGIN + INIT_STACK_MIN) return 0;
    return sp - slot_end - INIT_STACK_MARGIN;
}

__attribute__((export_name("wizer.initialize"))) void corral_js_initialize(void) {
    __wasm_call_ctors();
    size_t room = init_stack_room();
    if (!room) {
        init_error = (char *)layout_error;
        init_error_len = sizeof layout_error - 1;
        return;
    }
    uint32_t len;
    memcpy(&len, bundle_slot, 4);
    rt = JS_NewRuntime2(&malloc_functions, NULL);
    ctx = rt ? JS_NewContext(rt) : NULL;
    if (!ctx) __builtin_trap();
    JS_SetMaxStackSize(rt, room);  /* parsing the bundle must not reach the slot */
    define_globals();
    if (len > CORRAL_JS_SLOT_BYTES - 4) len = 0;
    /* JS_Eval needs a NUL after the source: the slot has one (the build pads it). */
    JSValue v = JS_Eval(ctx, (const char *)bundle_slot + 4, len, "pack.js", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(v)) remember_init_error();
    JS_FreeValue(ctx, v);
    for (JSContext *c; JS_ExecutePendingJob(rt, &c) > 0;) {}
    memset(bundle_slot, 0, 4 + (size_t)len + 1);
    JS_SetMaxStackSize(rt, CORRAL_JS_STACK_BYTES);
    JS_RunGC(rt);
    reset_gc_threshold();
}

/* ptr << 32 | len of the slot, for the build to place the bundle; and of the error the
 * bundle raised while it was evaluated (0 when none). */
__attribute__((export_name("corral_js_slot"))) int64_t corral_js_slot(void) {
    return ((int64_t)(uintptr_t)bundle_slot << 32) | CORRAL_JS_SLOT_BYTES;
}
__attribute__((export_name("corral_js_init_error"))) int64_t corral_js_init_error(void) {
    return ((int64_t)(uintptr_t)init_error << 32) | init_error_len;
}

/* ---- the ABI ---- */

__attribute__((export_name("corral_abi_v1"))) void corral_abi_v1(void) {}

__attribute__((export_name("corral_alloc"))) uint8_t *corral_alloc(int32_t size) {
    return malloc(size > 0 ? (size_t)size : 1);
}

static int64_t bytes_response(JSValueConst value) {
    size_t len;
    uint8_t *bytes = JS_GetUint8Array(ctx, &len, value);
    if (!bytes) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        return internal_error("__corral_dispatch must return a Uint8Array (or a promise of one)");
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return internal_error("OutOfMemory");
    memcpy(copy, bytes, len);
    return ((int64_t)(uintptr_t)copy << 32) | (uint32_t)len;
}

static int64_t settle(JSValue promise) {
    for (;;) {
        JSPromiseStateEnum state = JS_PromiseState(ctx, promise);
        if (state == JS_PROMISE_FULFILLED || state == JS_PROMISE_REJECTED) {
            JSValue result = JS_PromiseResult(ctx, promise);
            JS_FreeValue(ctx, promise);
            int64_t r;
            if (state == JS_PROMISE_FULFILLED) r = bytes_response(result);
            else { JS_Throw(ctx, result); return exception_response(); }
            JS_FreeValue(ctx, result);
            return r;
        }
        JSContext *c;
        int ran = JS_ExecutePendingJob(rt, &c);
        if (ran < 0) { JS_FreeValue(ctx, promise); return exception_response(); }
        if (ran == 0) {
            JS_FreeValue(ctx, promise);
            return internal_error("the call's promise never settled");
        }
    }
}

__attribute__((export_name("corral_call"))) int64_t corral_call(const uint8_t *ptr, int32_t len) {
    if (init_error) return ((int64_t)(uintptr_t)init_error << 32) | init_error_len;
    seed_random();
    JS_UpdateStackTop(rt);
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue dispatch = JS_GetPropertyStr(ctx, global, "__corral_dispatch");
    JS_FreeValue(ctx, global);
    if (!JS_IsFunction(ctx, dispatch)) {
        JS_FreeValue(ctx, dispatch);
        return internal_error("the bundle defines no globalThis.__corral_dispatch function");
    }
    JSValue request = JS_NewUint8ArrayCopy(ctx, ptr, (size_t)len);
    if (JS_IsException(request)) { JS_FreeValue(ctx, dispatch); return exception_response(); }
    JSValue result = JS_Call(ctx, dispatch, JS_UNDEFINED, 1, (JSValueConst *)&request);
    JS_FreeValue(ctx, request);
    JS_FreeValue(ctx, dispatch);
    if (JS_IsException(result)) return exception_response();
    if (JS_IsPromise(result)) return settle(result);
    int64_t r = bytes_response(result);
    JS_FreeValue(ctx, result);
    return r;
}
