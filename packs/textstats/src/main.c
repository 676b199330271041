/* The textstats pack: a small Corral pack in C. */
#define CORRAL_IMPLEMENTATION
#include "corral.h"

#include <stdlib.h>
#include <string.h>

static uint32_t utf8_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if ((lead & 0xe0) == 0xc0) return 2;
    if ((lead & 0xf0) == 0xe0) return 3;
    if ((lead & 0xf8) == 0xf0) return 4;
    return 1;
}

static int reverse(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *text; uint32_t len;
    if (!corral_arg_str(ctx, args, 0, &text, &len)) return -1;
    char *buf = malloc(len ? len : 1);
    if (!buf) return corral_fail(ctx, "out of memory");
    uint32_t i = 0;
    while (i < len) {
        uint32_t n = utf8_length((unsigned char)text[i]);
        if (i + n > len) return corral_fail(ctx, "the text is not valid UTF-8");
        memcpy(buf + len - i - n, text + i, n);
        i += n;
    }
    corral_write_strn(out, buf, len);
    return 0;
}

static int stats(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *text; uint32_t len;
    if (!corral_arg_str(ctx, args, 0, &text, &len)) return -1;
    int64_t chars = 0, words = 0, lines = len ? 1 : 0;
    bool in_word = false;
    for (uint32_t i = 0; i < len; i += utf8_length((unsigned char)text[i])) {
        unsigned char c = (unsigned char)text[i];
        chars++;
        if (c == '\n') lines++;
        bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
        if (space) in_word = false;
        else if (!in_word) { in_word = true; words++; }
    }
    corral_write_map(out, 4);
    corral_write_str(out, "chars"); corral_write_int(out, chars);
    corral_write_str(out, "bytes"); corral_write_int(out, len);
    corral_write_str(out, "words"); corral_write_int(out, words);
    corral_write_str(out, "lines"); corral_write_int(out, lines);
    return 0;
}

static int fahrenheit(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    double c;
    if (!corral_arg_double(ctx, args, 0, &c)) return -1;
    if (c < -273.15) return corral_fail(ctx, "%.2f is below absolute zero", c);
    corral_write_double(out, c * 9.0 / 5.0 + 32.0);
    return 0;
}

CORRAL_PACK(
    CORRAL_FORMULA("Reverse", reverse),
    CORRAL_FORMULA("Stats", stats),
    CORRAL_FORMULA("Fahrenheit", fahrenheit),
)
