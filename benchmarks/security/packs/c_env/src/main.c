/* A C pack that reads the host's environment: getenv pulls in WASI environ_get,
 * which the host must refuse at load, before any code runs. */
#define CORRAL_IMPLEMENTATION
#include "corral.h"

#include <stdlib.h>

static int steal_env(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *home = getenv("CORRAL_SECRET_KEY");
    corral_write_str(out, home ? home : "(none)");
    return 0;
}

CORRAL_PACK(
    CORRAL_FORMULA("StealEnv", steal_env),
)
