/* The security benchmark's hostile C pack: the same kinds of attack as the Zig pack,
 * written the way a C author would, plus raw ABI abuse through corral_call's return. */
#define CORRAL_IMPLEMENTATION
#include "corral.h"

#include <stdlib.h>
#include <string.h>

/* Never returns: fuel or the deadline must stop it. */
static int spin(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    volatile uint64_t counter = 0;
    for (;;) counter++;
    return 0;
}

/* malloc blocks of `size` bytes, touching every page, until malloc fails; then abort
 * (a trap, as a C program does when it cannot go on). */
static int malloc_bomb(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    int64_t size;
    if (!corral_arg_int(ctx, args, 0, &size) || size <= 0) return -1;
    for (;;) {
        volatile char *block = malloc((size_t)size);
        if (!block) abort();
        for (int64_t i = 0; i < size; i += 4096) block[i] = 1;
    }
    return 0;
}

/* Grows the output buffer until realloc fails: the SDK answers OutOfMemory. */
static int output_bomb(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    static char block[1 << 16];
    memset(block, 'o', sizeof block);
    corral_write_array(out, 0xffffff);
    while (!out->failed) corral_write_strn(out, block, sizeof block);
    return 0;
}

static uint32_t down(uint32_t n) {
    if (n == 0) return 0;
    return down(n - 1) * 3 + 1;
}

/* Recursion deeper than the wasm stack. */
static int recurse(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    int64_t levels;
    if (!corral_arg_int(ctx, args, 0, &levels)) return -1;
    uint32_t (*volatile fn)(uint32_t) = down;
    corral_write_int(out, fn((uint32_t)levels));
    return 0;
}

/* `times` calls of the corral.log import. */
static int log_storm(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    int64_t times;
    if (!corral_arg_int(ctx, args, 0, &times)) return -1;
    static const char line[] = "storm";
    for (int64_t i = 0; i < times; i++) corral_raw_log(1, (const uint8_t *)line, 5);
    corral_write_int(out, times);
    return 0;
}

/* A string of `bytes` bytes. */
static int big_output(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    int64_t bytes;
    if (!corral_arg_int(ctx, args, 0, &bytes)) return -1;
    char *text = malloc((size_t)bytes);
    if (!text) return corral_fail(ctx, "out of memory");
    memset(text, 'x', (size_t)bytes);
    corral_write_strn(out, text, (uint32_t)bytes);
    return 0;
}

/* Fetches `url` and returns the status. */
static int fetch(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *url; uint32_t len;
    if (!corral_arg_str(ctx, args, 0, &url, &len)) return -1;
    char *copy = malloc(len + 1);
    memcpy(copy, url, len);
    copy[len] = 0;
    corral_fetch_request req = { .url = copy };
    corral_response resp;
    if (corral_fetch(ctx, &req, &resp) != 0) return -1;
    corral_write_int(out, resp.status);
    return 0;
}

/* Fetches `url` with one header `name: value`. */
static int fetch_with_header(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *parts[3]; uint32_t lens[3];
    char *copies[3];
    for (uint32_t i = 0; i < 3; i++) {
        if (!corral_arg_str(ctx, args, i, &parts[i], &lens[i])) return -1;
        copies[i] = malloc(lens[i] + 1);
        memcpy(copies[i], parts[i], lens[i]);
        copies[i][lens[i]] = 0;
    }
    const char *headers[] = { copies[1], copies[2], NULL };
    corral_fetch_request req = { .url = copies[0], .headers = headers };
    corral_response resp;
    if (corral_fetch(ctx, &req, &resp) != 0) return -1;
    corral_write_int(out, resp.status);
    return 0;
}

CORRAL_PACK(
    CORRAL_FORMULA("Spin", spin),
    CORRAL_FORMULA("MallocBomb", malloc_bomb),
    CORRAL_FORMULA("OutputBomb", output_bomb),
    CORRAL_FORMULA("Recurse", recurse),
    CORRAL_FORMULA("LogStorm", log_storm),
    CORRAL_FORMULA("BigOutput", big_output),
    CORRAL_FORMULA("Fetch", fetch),
    CORRAL_FORMULA("FetchWithHeader", fetch_with_header),
)
