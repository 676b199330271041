/* One Corral call in one native function: new Store, limits, instantiate, corral_alloc,
 * copy the request in, corral_call, copy the response out, retire the Store. Also: the
 * thread that deletes retired Stores, the epoch ticker, and guest memory access for the
 * host imports.
 *
 * Built by native.py with `python -m ziglang cc` and called through ctypes, so a call
 * crosses from Python into native code once instead of a dozen times. It links against
 * nothing: every wasmtime C API function it uses arrives as a pointer in `corral_api`,
 * taken from the library wasmtime-py already loaded, and the one layout detail it needs
 * (where the union sits inside wasmtime_extern_t) arrives the same way. Opaque wasmtime
 * structs live in generously sized, aligned scratch space; at load, native.py checks
 * that wasmtime-py's own sizes fit and that every struct shared with Python has the
 * layout its ctypes mirror expects (corral_layout).
 *
 * Host imports run in Python (fastcall.define_import's trampoline takes the GIL, which
 * ctypes released for this call). Traps and errors are returned, not handled: Python
 * turns them into the same exceptions as wasmtime-py's public path. */

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define OPAQUE_BYTES 64
/* Stores whose deletion is handed to the reaper thread at most; past that, the caller
 * deletes inline. Small, so retired instances never hold many pool slots. */
#define RETIRE_CAP 8
/* The reaper is woken when this many stores wait (one wake-up per batch, not per call);
 * otherwise it looks every REAPER_IDLE_NS and reaps whatever waits. */
#define RETIRE_BATCH 4
#define REAPER_IDLE_NS 5000000L
#define URGENT_MEMORY_BYTES (4u << 20)

typedef void *(*store_new_fn)(void *engine, void *data, void (*finalizer)(void *));
typedef void *(*store_context_fn)(void *store);
typedef void (*store_delete_fn)(void *store);
typedef void *(*set_fuel_fn)(void *ctx, uint64_t fuel);
typedef void *(*get_fuel_fn)(void *ctx, uint64_t *fuel);
typedef void (*set_epoch_deadline_fn)(void *ctx, uint64_t ticks);
typedef void (*store_limiter_fn)(void *store, int64_t memory_size, int64_t table_elements,
                                 int64_t instances, int64_t tables, int64_t memories);
typedef void *(*pre_instantiate_fn)(const void *pre, void *ctx, void *instance, void **trap);
typedef int (*export_get_fn)(void *ctx, const void *instance, const char *name, size_t len,
                             void *item);
typedef void *(*call_unchecked_fn)(void *ctx, const void *func, void *args, size_t nargs,
                                   void **trap);
typedef uint8_t *(*memory_data_fn)(const void *ctx, const void *memory);
typedef size_t (*memory_data_size_fn)(const void *ctx, const void *memory);
typedef void (*error_delete_fn)(void *error);
typedef int (*caller_export_get_fn)(void *caller, const char *name, size_t len, void *item);
typedef void *(*caller_context_fn)(void *caller);

/* Field order is mirrored by Api in native.py. */
typedef struct {
    store_new_fn store_new;
    store_context_fn store_context;
    store_delete_fn store_delete;
    set_fuel_fn context_set_fuel;
    get_fuel_fn context_get_fuel;
    set_epoch_deadline_fn context_set_epoch_deadline;
    store_limiter_fn store_limiter;
    pre_instantiate_fn instance_pre_instantiate;
    export_get_fn instance_export_get;
    call_unchecked_fn func_call_unchecked;
    memory_data_fn memory_data;
    memory_data_size_fn memory_data_size;
    error_delete_fn error_delete;
    caller_export_get_fn caller_export_get;
    caller_context_fn caller_context;
    uint64_t extern_union_offset;
} corral_api;

/* Mirrored by CallIn in native.py. */
typedef struct {
    void *engine;
    const void *instance_pre;
    uint64_t fuel;
    uint64_t epoch_ticks;
    int64_t memory_bytes;
    int64_t table_elements;
    const uint8_t *request;
    uint64_t request_len;
    uint8_t *out;
    uint64_t out_cap;
} corral_call_in;

/* Mirrored by CallOut in native.py; the statuses by the ST_ constants in fastcall.py. */
typedef struct {
    int32_t status;
    int32_t reserved;
    uint64_t alloc_ptr;
    uint64_t out_ptr;
    uint64_t out_len;
    uint64_t memory_size;
    uint64_t fuel_left;
    void *error;
    void *trap;
} corral_call_out;

enum {
    ST_OK = 0,
    ST_ERROR = 1,       /* out->error holds a wasmtime_error_t the caller must consume */
    ST_TRAP = 2,        /* out->trap holds a wasm_trap_t the caller must consume */
    ST_BAD_ALLOC = 3,   /* corral_alloc returned 0 or a range outside memory */
    ST_TOO_LARGE = 4,   /* the response is longer than out_cap */
    ST_BAD_OUTPUT = 5,  /* corral_call returned a range outside memory */
    ST_NO_EXPORT = 6,   /* an ABI export is missing (load-time checks make this unreachable) */
};

typedef union {
    int32_t i32;
    int64_t i64;
    uint8_t bytes[16];
} raw_val;

typedef struct {
    _Alignas(16) uint8_t instance[OPAQUE_BYTES];
    _Alignas(16) uint8_t alloc[OPAQUE_BYTES];
    _Alignas(16) uint8_t call[OPAQUE_BYTES];
    _Alignas(16) uint8_t memory[OPAQUE_BYTES];
} exports;

/* The layout of every struct shared with Python, which native.py compares with its
 * ctypes mirrors at load: a difference means the helper is not used at all. */
typedef struct {
    const char *name;
    uint64_t value;
} corral_layout_entry;

#define LAYOUT_SIZE(type, label) {label ".size", sizeof(type)}
#define LAYOUT_AT(type, label, field) {label "." #field, offsetof(type, field)}

static const corral_layout_entry layout[] = {
    {"opaque_bytes", OPAQUE_BYTES},
    LAYOUT_SIZE(raw_val, "raw_val"),
    LAYOUT_SIZE(corral_api, "api"),
    LAYOUT_AT(corral_api, "api", store_new),
    LAYOUT_AT(corral_api, "api", store_context),
    LAYOUT_AT(corral_api, "api", store_delete),
    LAYOUT_AT(corral_api, "api", context_set_fuel),
    LAYOUT_AT(corral_api, "api", context_get_fuel),
    LAYOUT_AT(corral_api, "api", context_set_epoch_deadline),
    LAYOUT_AT(corral_api, "api", store_limiter),
    LAYOUT_AT(corral_api, "api", instance_pre_instantiate),
    LAYOUT_AT(corral_api, "api", instance_export_get),
    LAYOUT_AT(corral_api, "api", func_call_unchecked),
    LAYOUT_AT(corral_api, "api", memory_data),
    LAYOUT_AT(corral_api, "api", memory_data_size),
    LAYOUT_AT(corral_api, "api", error_delete),
    LAYOUT_AT(corral_api, "api", caller_export_get),
    LAYOUT_AT(corral_api, "api", caller_context),
    LAYOUT_AT(corral_api, "api", extern_union_offset),
    LAYOUT_SIZE(corral_call_in, "call_in"),
    LAYOUT_AT(corral_call_in, "call_in", engine),
    LAYOUT_AT(corral_call_in, "call_in", instance_pre),
    LAYOUT_AT(corral_call_in, "call_in", fuel),
    LAYOUT_AT(corral_call_in, "call_in", epoch_ticks),
    LAYOUT_AT(corral_call_in, "call_in", memory_bytes),
    LAYOUT_AT(corral_call_in, "call_in", table_elements),
    LAYOUT_AT(corral_call_in, "call_in", request),
    LAYOUT_AT(corral_call_in, "call_in", request_len),
    LAYOUT_AT(corral_call_in, "call_in", out),
    LAYOUT_AT(corral_call_in, "call_in", out_cap),
    LAYOUT_SIZE(corral_call_out, "call_out"),
    LAYOUT_AT(corral_call_out, "call_out", status),
    LAYOUT_AT(corral_call_out, "call_out", reserved),
    LAYOUT_AT(corral_call_out, "call_out", alloc_ptr),
    LAYOUT_AT(corral_call_out, "call_out", out_ptr),
    LAYOUT_AT(corral_call_out, "call_out", out_len),
    LAYOUT_AT(corral_call_out, "call_out", memory_size),
    LAYOUT_AT(corral_call_out, "call_out", fuel_left),
    LAYOUT_AT(corral_call_out, "call_out", error),
    LAYOUT_AT(corral_call_out, "call_out", trap),
};

const corral_layout_entry *corral_layout(uint64_t *count) {
    *count = sizeof layout / sizeof layout[0];
    return layout;
}

static int drain_retired(void);

static void copy_bytes(uint8_t *to, const uint8_t *from, uint64_t n) {
    __builtin_memcpy(to, from, n);
}

static int get_export(const corral_api *api, void *ctx, const void *instance, const char *name,
                      size_t len, uint8_t *item) {
    return api->instance_export_get(ctx, instance, name, len, item);
}

static int failed(corral_call_out *out, void *error, void *trap) {
    out->error = error;
    out->trap = trap;
    out->status = error ? ST_ERROR : (trap ? ST_TRAP : ST_OK);
    return out->status != ST_OK;
}

enum { STEP_OK, STEP_STOP, STEP_RETRY };

static int instantiate(const corral_api *api, const corral_call_in *in, void *ctx,
                       exports *ex, int may_retry, corral_call_out *out) {
    void *trap = NULL;
    void *error = api->instance_pre_instantiate(in->instance_pre, ctx, ex->instance, &trap);
    if (error && may_retry && drain_retired()) {
        /* A full pool may be full of retired instances: they are freed now; the caller
         * retries in a new store (this one counted the failed instance). */
        api->error_delete(error);
        return STEP_RETRY;
    }
    if (failed(out, error, trap)) return STEP_STOP;
    if (!get_export(api, ctx, ex->instance, "corral_alloc", 12, ex->alloc) ||
        !get_export(api, ctx, ex->instance, "corral_call", 11, ex->call) ||
        !get_export(api, ctx, ex->instance, "memory", 6, ex->memory)) {
        out->status = ST_NO_EXPORT;
        return STEP_STOP;
    }
    return STEP_OK;
}

static int call_i32_pair(const corral_api *api, void *ctx, const uint8_t *func, raw_val *args,
                         int32_t a, int32_t b, const uint8_t *memory, corral_call_out *out) {
    void *trap = NULL;
    args[0].i64 = 0;
    args[0].i32 = a;
    args[1].i64 = 0;
    args[1].i32 = b;
    void *error = api->func_call_unchecked(ctx, func, args, 2, &trap);
    out->memory_size = api->memory_data_size(ctx, memory);
    return !failed(out, error, trap);
}

/* STEP_OK when the reply is copied out; STEP_STOP when `out` says why not; STEP_RETRY
 * when the call should start again in a new store. */
static int run(const corral_api *api, const corral_call_in *in, void *store, void *ctx,
               int may_retry, corral_call_out *out) {
    exports ex;
    raw_val args[2];
    uint64_t off = api->extern_union_offset;
    if (failed(out, api->context_set_fuel(ctx, in->fuel), NULL)) return STEP_STOP;
    api->context_set_epoch_deadline(ctx, in->epoch_ticks);
    api->store_limiter(store, in->memory_bytes, in->table_elements, 1, 4, 1);
    int made = instantiate(api, in, ctx, &ex, may_retry, out);
    if (made != STEP_OK) return made;

    if (!call_i32_pair(api, ctx, ex.alloc + off, args, (int32_t)in->request_len, 0,
                       ex.memory + off, out)) return STEP_STOP;
    out->alloc_ptr = (uint32_t)args[0].i32;
    if (out->alloc_ptr == 0 || out->alloc_ptr + in->request_len > out->memory_size) {
        out->status = ST_BAD_ALLOC;
        return STEP_STOP;
    }
    copy_bytes(api->memory_data(ctx, ex.memory + off) + out->alloc_ptr, in->request,
               in->request_len);

    if (!call_i32_pair(api, ctx, ex.call + off, args, (int32_t)out->alloc_ptr,
                       (int32_t)in->request_len, ex.memory + off, out)) return STEP_STOP;
    uint64_t packed = (uint64_t)args[0].i64;
    out->out_ptr = packed >> 32;
    out->out_len = packed & 0xFFFFFFFFu;
    if (out->out_len > in->out_cap) {
        out->status = ST_TOO_LARGE;
        return STEP_STOP;
    }
    if (out->out_ptr == 0 || out->out_ptr + out->out_len > out->memory_size) {
        out->status = ST_BAD_OUTPUT;
        return STEP_STOP;
    }
    copy_bytes(in->out, api->memory_data(ctx, ex.memory + off) + out->out_ptr, out->out_len);
    return STEP_OK;
}

/* Guest memory from inside a host function (a wasmtime_caller_t), for the fetch and log
 * imports: one crossing instead of several wasmtime-py wrapper calls. */

enum { GUEST_OK = 0, GUEST_NO_MEMORY = 1, GUEST_NO_ALLOC = 2, GUEST_OUT_OF_BOUNDS = 3,
       GUEST_FAILED = 4 };

/* Where the calling instance's memory is, and how large. */
int corral_guest_memory(const corral_api *api, void *caller, uint8_t **base, uint64_t *size) {
    _Alignas(16) uint8_t memory[OPAQUE_BYTES];
    if (!api->caller_export_get(caller, "memory", 6, memory)) return GUEST_NO_MEMORY;
    void *ctx = api->caller_context(caller);
    const void *handle = memory + api->extern_union_offset;
    *base = api->memory_data(ctx, handle);
    *size = api->memory_data_size(ctx, handle);
    return GUEST_OK;
}

/* Ask the guest's corral_alloc for `len` bytes and copy `data` there. On GUEST_FAILED,
 * *error or *trap holds what the call raised, for the caller to consume. */
int corral_guest_write(const corral_api *api, void *caller, const uint8_t *data, uint64_t len,
                       uint64_t *ptr, uint64_t *size, void **error, void **trap) {
    _Alignas(16) uint8_t alloc[OPAQUE_BYTES];
    raw_val args[2];
    *error = NULL;
    *trap = NULL;
    if (!api->caller_export_get(caller, "corral_alloc", 12, alloc)) return GUEST_NO_ALLOC;
    void *ctx = api->caller_context(caller);
    args[0].i64 = 0;
    args[0].i32 = (int32_t)len;
    args[1].i64 = 0;
    *error = api->func_call_unchecked(ctx, alloc + api->extern_union_offset, args, 2, trap);
    if (*error || *trap) return GUEST_FAILED;
    *ptr = (uint32_t)args[0].i32;
    uint8_t *base;
    int found = corral_guest_memory(api, caller, &base, size);
    if (found != GUEST_OK) return found;
    if (*ptr == 0 || *ptr + len > *size) return GUEST_OUT_OF_BOUNDS;
    copy_bytes(base + *ptr, data, len);
    return GUEST_OK;
}

/* Deleting a Store resets its instance's pooled memory (zeroing the kept pages), the
 * largest single cost of a small call. The reply is already copied out by then, so a
 * native thread does it instead, on another core, while the caller returns. The store
 * is unreachable once retired: nothing of it can be seen by the next call, and its pool
 * slot is zeroed before reuse, exactly as an inline delete would. Stores are reaped in
 * batches (waking a thread costs more than deleting a store); a caller that finds the
 * pool full asks for the batch at once (drain_retired). */
static pthread_mutex_t reaper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t reaper_idle = PTHREAD_COND_INITIALIZER;
static void *retired[RETIRE_CAP];
static size_t retired_count, reaping;
static int flush_wanted; /* a caller waits in drain_retired: reap now, not at a full batch */
static int reaper_state; /* 0 not started, 1 running, -1 could not start */
static store_delete_fn reaper_delete;

/* Wait for a wake-up or REAPER_IDLE_NS; returns 1 on timeout (reap what is there). */
static int idle_timeout(pthread_mutex_t *lock) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += REAPER_IDLE_NS;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec += 1;
        until.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(&reaper_wake, lock, &until) != 0;
}

static void *reap(void *unused) {
    (void)unused;
    pthread_mutex_lock(&reaper_lock);
    for (;;) {
        while (retired_count < RETIRE_BATCH && !(flush_wanted && retired_count > 0)) {
            if (idle_timeout(&reaper_lock) && retired_count > 0) break;
        }
        flush_wanted = 0;
        reaping = 1;
        while (retired_count > 0) {  /* the whole batch, and whatever joins it meanwhile */
            void *store = retired[--retired_count];
            pthread_mutex_unlock(&reaper_lock);
            reaper_delete(store);
            pthread_mutex_lock(&reaper_lock);
        }
        reaping = 0;
        pthread_cond_broadcast(&reaper_idle);
    }
    return NULL;
}

/* Threads do not survive fork: a child starts a reaper of its own when it first needs
 * one (the stores retired at the fork are left to the parent). native.py registers
 * these with os.register_at_fork. */
void corral_before_fork(void) { pthread_mutex_lock(&reaper_lock); }
void corral_after_fork_in_parent(void) { pthread_mutex_unlock(&reaper_lock); }
void corral_after_fork_in_child(void) {
    pthread_mutex_init(&reaper_lock, NULL);
    pthread_cond_init(&reaper_wake, NULL);
    pthread_cond_init(&reaper_idle, NULL);
    retired_count = 0;
    reaping = 0;
    flush_wanted = 0;
    reaper_state = 0;
}

static int start_reaper(const corral_api *api) {
    pthread_t thread;
    reaper_delete = api->store_delete;
    if (pthread_create(&thread, NULL, reap, NULL) != 0) return -1;
    pthread_detach(thread);
    return 1;
}

static void retire(const corral_api *api, void *store, int urgent) {
    pthread_mutex_lock(&reaper_lock);
    if (reaper_state == 0) reaper_state = start_reaper(api);
    if (reaper_state == 1 && retired_count < RETIRE_CAP) {
        retired[retired_count++] = store;
        if (urgent) flush_wanted = 1;
        if (urgent || retired_count >= RETIRE_BATCH) pthread_cond_signal(&reaper_wake);
        pthread_mutex_unlock(&reaper_lock);
        return;
    }
    pthread_mutex_unlock(&reaper_lock);
    api->store_delete(store);
}

/* Wait until every retired store is deleted, so their pool slots are free again. */
static int drain_retired(void) {
    pthread_mutex_lock(&reaper_lock);
    int had_any = retired_count > 0 || reaping;
    if (retired_count > 0) {
        flush_wanted = 1;
        pthread_cond_signal(&reaper_wake);
    }
    while (retired_count > 0 || reaping) pthread_cond_wait(&reaper_idle, &reaper_lock);
    pthread_mutex_unlock(&reaper_lock);
    return had_any;
}

/* The epoch ticker: a native thread that advances an engine's epoch every interval,
 * so deadlines fire without Python taking the GIL hundreds of times a second. */
typedef void (*increment_epoch_fn)(void *engine);
typedef void *(*engine_clone_fn)(void *engine);
typedef void (*engine_delete_fn)(void *engine);

typedef struct {
    void *engine;        /* the ticker's own reference, dropped when it ends */
    increment_epoch_fn increment_epoch;
    engine_delete_fn engine_delete;
    uint64_t interval_ns;
    int stop;            /* set by corral_ticker_stop; the thread frees this struct */
} corral_ticker;


static void *tick(void *arg) {
    corral_ticker *ticker = arg;
    struct timespec interval = {(time_t)(ticker->interval_ns / 1000000000u),
                                (long)(ticker->interval_ns % 1000000000u)};
    while (!__atomic_load_n(&ticker->stop, __ATOMIC_ACQUIRE)) {
        nanosleep(&interval, NULL);
        ticker->increment_epoch(ticker->engine);
    }
    ticker->engine_delete(ticker->engine);
    free(ticker);
    return NULL;
}

/* Start ticking `engine`; the ticker holds a reference of its own, so the engine may be
 * dropped at any time. Returns a handle for corral_ticker_stop, or NULL. */
void *corral_ticker_start(void *engine, engine_clone_fn engine_clone,
                          engine_delete_fn engine_delete, increment_epoch_fn increment_epoch,
                          uint64_t interval_ns) {
    corral_ticker *ticker = malloc(sizeof *ticker);
    if (!ticker) return NULL;
    ticker->engine = engine_clone(engine);
    ticker->increment_epoch = increment_epoch;
    ticker->engine_delete = engine_delete;
    ticker->interval_ns = interval_ns;
    ticker->stop = 0;
    pthread_t thread;
    if (pthread_create(&thread, NULL, tick, ticker) != 0) {
        engine_delete(ticker->engine);
        free(ticker);
        return NULL;
    }
    pthread_detach(thread);
    return ticker;
}

void corral_ticker_stop(void *handle) {
    corral_ticker *ticker = handle;
    __atomic_store_n(&ticker->stop, 1, __ATOMIC_RELEASE);
}

int corral_fast_call(const corral_api *api, const corral_call_in *in, corral_call_out *out) {
    void *store, *ctx;
    int may_retry = 1;
    for (;;) {
        *out = (corral_call_out){0};
        store = api->store_new(in->engine, NULL, NULL);
        ctx = api->store_context(store);
        if (run(api, in, store, ctx, may_retry, out) != STEP_RETRY) break;
        api->store_delete(store);  /* it holds no instance */
        may_retry = 0;
    }
    void *fuel_error = api->context_get_fuel(ctx, &out->fuel_left);
    if (fuel_error) api->error_delete(fuel_error);  /* fuel is always on; never expected */
    /* A store with much memory is reaped at once: it holds those pages until then. */
    retire(api, store, out->memory_size > URGENT_MEMORY_BYTES);
    return out->status;
}
