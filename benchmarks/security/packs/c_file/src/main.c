/* A C pack that reads a host file: fopen pulls in WASI path_open and fd_read,
 * which the host must refuse at load, before any code runs. */
#define CORRAL_IMPLEMENTATION
#include "corral.h"

#include <stdio.h>

static int steal_file(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    char buf[256] = {0};
    FILE *f = fopen("/etc/passwd", "r");
    if (!f) return corral_fail(ctx, "no file");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    corral_write_strn(out, buf, (uint32_t)n);
    return 0;
}

CORRAL_PACK(
    CORRAL_FORMULA("StealFile", steal_file),
)
