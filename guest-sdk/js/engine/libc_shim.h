/* libc_shim.h: force-included into QuickJS-NG's sources when the engine is built.
 *
 * QuickJS prints only in its debug dumps and fatal paths. Pointing those calls at no-ops
 * keeps libc's stdout/stderr out of the link, and with them the WASI imports fd_write,
 * fd_seek, fd_close and fd_fdstat_get: the engine then imports only clock_time_get and
 * random_get from WASI (see guest-sdk/ABI.md §8).
 */
#ifndef CORRAL_JS_LIBC_SHIM_H
#define CORRAL_JS_LIBC_SHIM_H
#include <stdio.h>

static inline int corral_js_no_print(void) { return 0; }
static inline size_t corral_js_no_write(size_t size, size_t n) { return size * n; }

#undef stdout
#undef stderr
#define stdout ((FILE *)0)
#define stderr ((FILE *)0)
#define printf(...) corral_js_no_print()
#define fprintf(...) corral_js_no_print()
#define fputc(c, f) corral_js_no_print()
#define fputs(s, f) corral_js_no_print()
#define putchar(c) corral_js_no_print()
#define fflush(f) corral_js_no_print()
#define fwrite(p, size, n, f) corral_js_no_write((size), (n))
#endif
