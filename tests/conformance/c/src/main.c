/* The conformance pack in C (see ../pack.toml and tests/test_conformance.py). */
#define CORRAL_IMPLEMENTATION
#include "corral.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int echo(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)ctx;
    const corral_value *value = corral_index(args, 0);
    if (value) corral_write_value(out, value); else corral_write_nil(out);
    return 0;
}

static int build(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)ctx; (void)args;
    static const uint8_t bytes[] = { 0x00, 0x01, 0xfe, 0xff };
    corral_value list = corral_new_array();
    corral_array_push(&list, corral_new_int(1));
    corral_array_push(&list, corral_new_str("two"));
    corral_array_push(&list, corral_new_double(3.5));
    corral_array_push(&list, corral_new_nil());
    corral_value deeper = corral_new_array();
    corral_array_push(&deeper, corral_new_array());
    corral_array_push(&deeper, corral_new_map());
    corral_value deep = corral_new_map();
    corral_map_put(&deep, "deeper", deeper);
    corral_value nested = corral_new_map();
    corral_map_put(&nested, "deep", deep);

    corral_value v = corral_new_map();
    corral_map_put(&v, "nil", corral_new_nil());
    corral_map_put(&v, "yes", corral_new_bool(true));
    corral_map_put(&v, "no", corral_new_bool(false));
    corral_map_put(&v, "small", corral_new_int(7));
    corral_map_put(&v, "negative", corral_new_int(-33));
    corral_map_put(&v, "int32", corral_new_int(-70000));
    corral_map_put(&v, "big", corral_new_int((int64_t)1 << 40));
    corral_map_put(&v, "min64", corral_new_int(INT64_MIN));
    corral_map_put(&v, "max_u64", corral_new_uint(UINT64_MAX));
    corral_map_put(&v, "float", corral_new_double(3.25));
    corral_map_put(&v, "text", corral_new_str("naïve ☃ 日本"));
    corral_map_put(&v, "empty", corral_new_str(""));
    corral_map_put(&v, "bytes", corral_new_bin(bytes, sizeof bytes));
    corral_map_put(&v, "list", list);
    corral_map_put(&v, "nested", nested);
    corral_write_value(out, &v);
    return 0;
}

static int fail(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)out;
    const char *message; uint32_t len;
    if (!corral_arg_str(ctx, args, 0, &message, &len)) return -1;
    return corral_fail(ctx, "%.*s", (int)len, message);
}

static int log_all(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *message; uint32_t len;
    if (!corral_arg_str(ctx, args, 0, &message, &len)) return -1;
    corral_log(CORRAL_DEBUG, "debug: %.*s", (int)len, message);
    corral_log(CORRAL_INFO, "info: %.*s", (int)len, message);
    corral_log(CORRAL_WARN, "warn: %.*s", (int)len, message);
    corral_log(CORRAL_ERROR, "error: %.*s", (int)len, message);
    corral_write_int(out, 4);
    return 0;
}

/* The url argument as a NUL-terminated string. */
static char *url_arg(corral_ctx *ctx, const corral_value *args) {
    const char *url; uint32_t len;
    if (!corral_arg_str(ctx, args, 0, &url, &len)) return NULL;
    char *copy = malloc(len + 1);
    if (!copy) { corral_fail(ctx, "out of memory"); return NULL; }
    memcpy(copy, url, len);
    copy[len] = 0;
    return copy;
}

static int fetch_json(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    char *url = url_arg(ctx, args);
    if (!url) return -1;
    static const char *const headers[] = { "X-Conformance", "yes", NULL };
    corral_fetch_request req = { .url = url, .headers = headers, .json = true };
    corral_response resp;
    if (corral_fetch(ctx, &req, &resp) != 0) return -1;
    const char *served_by; uint32_t served_len;
    corral_value v = corral_new_map();
    corral_map_put(&v, "status", corral_new_int(resp.status));
    corral_map_put(&v, "served_by", corral_response_header(&resp, "x-served-by", &served_by, &served_len)
                                        ? corral_new_strn(served_by, served_len) : corral_new_nil());
    corral_map_put(&v, "json", resp.json ? *resp.json : corral_new_nil());
    corral_write_value(out, &v);
    return 0;
}

static int post_json(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    char *url = url_arg(ctx, args);
    if (!url) return -1;
    const corral_value *payload = corral_index(args, 1);
    corral_value nil = corral_new_nil();
    corral_fetch_request req = { .method = "POST", .url = url, .json_body = payload ? payload : &nil,
                                 .json = true };
    corral_response resp;
    if (corral_fetch(ctx, &req, &resp) != 0) return -1;
    if (resp.json) corral_write_value(out, resp.json); else corral_write_nil(out);
    return 0;
}

static int fetch_bytes(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    char *url = url_arg(ctx, args);
    if (!url) return -1;
    corral_fetch_request req = { .url = url, .binary = true };
    corral_response resp;
    if (corral_fetch(ctx, &req, &resp) != 0) return -1;
    corral_write_bin(out, (const uint8_t *)resp.body, resp.body_len);
    return 0;
}

static int fetch_status(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    char *url = url_arg(ctx, args);
    if (!url) return -1;
    corral_fetch_request req = { .url = url };
    corral_response resp;
    if (corral_fetch(ctx, &req, &resp) != 0) return -1;
    corral_write_int(out, resp.status);
    return 0;
}

static int fetch_or_fallback(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    char *url = url_arg(ctx, args);
    if (!url) return -1;
    corral_fetch_request req = { .url = url };
    corral_response resp;
    if (corral_fetch(ctx, &req, &resp) != 0) {
        corral_write_fmt(out, "fallback: %s", ctx->fetch_kind);
        return 0;
    }
    corral_write_fmt(out, "status %lld", (long long)resp.status);
    return 0;
}

static int fetch_or_fail_upstream(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    char *url = url_arg(ctx, args);
    if (!url) return -1;
    corral_fetch_request req = { .url = url };
    corral_response resp;
    if (corral_fetch(ctx, &req, &resp) != 0) return -1;
    if (resp.status < 200 || resp.status >= 300)
        return corral_fail_response(ctx, &resp, "the upstream answered %lld", (long long)resp.status);
    corral_write_int(out, resp.status);
    return 0;
}

static int fail_upstream(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)out;
    int64_t status;
    double retry_after_s;
    if (!corral_arg_int(ctx, args, 0, &status) || !corral_arg_double(ctx, args, 1, &retry_after_s)) return -1;
    return corral_fail_upstream(ctx, (int)status, retry_after_s, "upstream status %lld", (long long)status);
}

static int need_scopes(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)out;
    const corral_value *given = corral_index(args, 0);
    uint32_t n = given && given->type == CORRAL_ARRAY ? given->as.array.len : 0;
    const char **scopes = calloc(n + 1, sizeof(char *));
    if (!scopes) return corral_fail(ctx, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        const corral_value *scope = corral_index(given, i);
        if (!scope || scope->type != CORRAL_STR) return corral_fail(ctx, "scopes must be strings");
        char *copy = calloc(scope->as.s.len + 1, 1);
        if (!copy) return corral_fail(ctx, "out of memory");
        memcpy(copy, scope->as.s.ptr, scope->as.s.len);
        scopes[i] = copy;
    }
    return corral_fail_missing_scopes(ctx, scopes, "the connection may not do this");
}

static int pick(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *fruit; uint32_t len;
    if (!corral_arg_str(ctx, args, 0, &fruit, &len)) return -1;
    corral_write_strn(out, fruit, len);
    return 0;
}

static int crash(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)ctx; (void)args; (void)out;
    __builtin_trap();
}

static int bump(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    int64_t n;
    if (!corral_arg_int(ctx, args, 0, &n)) return -1;
    corral_write_int(out, n + 1);
    return 0;
}

static int items(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    int64_t count, offset = 0;
    if (!corral_arg_int(ctx, args, 0, &count)) return -1;
    const corral_value *continuation = corral_continuation(ctx);
    if (continuation) corral_as_int(corral_get(continuation, "offset"), &offset);
    int64_t end = offset + 2 < count ? offset + 2 : count;
    corral_value rows = corral_new_array();
    for (int64_t i = offset; i < end; i++) {
        char *name = malloc(32);
        if (!name) return corral_fail(ctx, "out of memory");
        snprintf(name, 32, "item %lld", (long long)i);
        corral_value row = corral_new_map();
        corral_map_put(&row, "id", corral_new_int(i));
        corral_map_put(&row, "name", corral_new_str(name));
        corral_array_push(&rows, row);
    }
    corral_value next = corral_new_map();
    corral_map_put(&next, "offset", corral_new_int(end));
    corral_write_page(out, &rows, end < count ? &next : NULL);
    return 0;
}

static int update_items(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)ctx;
    const corral_value *updates = corral_index(args, 0);
    uint32_t n = updates && updates->type == CORRAL_ARRAY ? updates->as.array.len : 0;
    corral_write_array(out, n);
    for (uint32_t i = 0; i < n; i++) {
        const corral_value *row = corral_get(corral_index(updates, i), "new");
        const corral_value *name = corral_get(row, "name"), *id = corral_get(row, "id");
        corral_write_map(out, 1);
        if (!name || name->type != CORRAL_STR || name->as.s.len == 0) {
            corral_write_str(out, "err");
            corral_write_str(out, "name must not be empty");
            continue;
        }
        corral_write_str(out, "ok");
        corral_write_map(out, 2);
        corral_write_str(out, "id");
        if (id) corral_write_value(out, id); else corral_write_nil(out);
        corral_write_str(out, "name");
        corral_write_fmt(out, "%.*s!", (int)name->as.s.len, name->as.s.ptr);
    }
    return 0;
}

static int dyn(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)ctx; (void)args;
    corral_value row = corral_new_map();
    corral_map_put(&row, "id", corral_new_str("one"));
    corral_value rows = corral_new_array();
    corral_array_push(&rows, row);
    corral_write_page(out, &rows, NULL);
    return 0;
}

static const char *const fruits[] = { "Apple", "Banana", "Blueberry", "Cherry" };

static int complete_fruit(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *search; uint32_t len;
    if (!corral_arg_str(ctx, args, 0, &search, &len)) return -1;
    corral_value matches = corral_new_array();
    for (size_t i = 0; i < sizeof fruits / sizeof fruits[0]; i++) {
        size_t n = strlen(fruits[i]);
        if (n < len || strncasecmp(fruits[i], search, len) != 0) continue;
        char *lower = malloc(n + 1);
        if (!lower) return corral_fail(ctx, "out of memory");
        for (size_t k = 0; k <= n; k++) lower[k] = (char)tolower((unsigned char)fruits[i][k]);
        corral_value choice = corral_new_map();
        corral_map_put(&choice, "display", corral_new_str(fruits[i]));
        corral_map_put(&choice, "value", corral_new_str(lower));
        corral_array_push(&matches, choice);
    }
    corral_write_value(out, &matches);
    return 0;
}

static corral_value url_choice(const char *display, const char *url) {
    corral_value v = corral_new_map();
    corral_map_put(&v, "display", corral_new_str(display));
    corral_map_put(&v, "url", corral_new_str(url));
    return v;
}

static int dyn_urls(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)ctx; (void)args;
    corral_value urls = corral_new_array();
    corral_array_push(&urls, url_choice("Alpha", "dyn://alpha"));
    corral_array_push(&urls, url_choice("Beta", "dyn://beta"));
    corral_write_value(out, &urls);
    return 0;
}

static int dyn_schema(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *url; uint32_t len;
    if (!corral_arg_str(ctx, args, 0, &url, &len)) return -1;
    corral_value id = corral_new_map();
    corral_map_put(&id, "type", corral_new_str("string"));
    corral_value properties = corral_new_map();
    corral_map_put(&properties, "id", id);
    corral_value schema = corral_new_map();
    corral_map_put(&schema, "type", corral_new_str("object"));
    corral_map_put(&schema, "description", corral_new_strn(url, len));
    corral_map_put(&schema, "id_property", corral_new_str("id"));
    corral_map_put(&schema, "properties", properties);
    corral_write_value(out, &schema);
    return 0;
}

static int connection_name(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)args;
    const char *id; uint32_t len;
    if (corral_connection_id(ctx, &id, &len)) corral_write_fmt(out, "Conformance for %.*s", (int)len, id);
    else corral_write_str(out, "Conformance");
    return 0;
}

/* -- parameter types (issue 16): each formula returns what the SDK read ---------------- */

enum item_kind { TEXT, NUMBER, INTEGER, BOOLEAN, DATE };

/* One item as the SDK reads its kind; nil stays nil (a sparse array's empty cell). */
static int write_item(corral_ctx *ctx, const corral_value *v, enum item_kind kind, corral_writer *out) {
    double f; int64_t n; corral_datetime dt; char iso[25];
    if (corral_is_nil(v)) { corral_write_nil(out); return 0; }
    switch (kind) {
    case TEXT:
        if (v->type != CORRAL_STR) return corral_fail(ctx, "an item is not a string");
        corral_write_strn(out, v->as.s.ptr, v->as.s.len); return 0;
    case NUMBER:
        if (!corral_as_double(v, &f)) return corral_fail(ctx, "an item is not a number");
        corral_write_double(out, f); return 0;
    case INTEGER:
        if (!corral_as_int(v, &n)) return corral_fail(ctx, "an item is not an integer");
        corral_write_int(out, n); return 0;
    case BOOLEAN:
        if (v->type != CORRAL_BOOL) return corral_fail(ctx, "an item is not a boolean");
        corral_write_bool(out, v->as.b); return 0;
    case DATE:
        if (!corral_as_datetime(v, &dt)) return corral_fail(ctx, "an item is not a date");
        corral_format_datetime(&dt, iso); corral_write_str(out, iso); return 0;
    }
    return corral_fail(ctx, "unknown item kind");
}

static int echo_text(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *s; uint32_t len;
    if (!corral_arg_str(ctx, args, 0, &s, &len)) return -1;
    corral_write_strn(out, s, len);
    return 0;
}

static int echo_number(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    double f;
    if (!corral_arg_double(ctx, args, 0, &f)) return -1;
    corral_write_double(out, f);
    return 0;
}

static int echo_integer(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    int64_t n;
    if (!corral_arg_int(ctx, args, 0, &n)) return -1;
    corral_write_int(out, n);
    return 0;
}

static int echo_boolean(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    bool b;
    if (!corral_arg_bool(ctx, args, 0, &b)) return -1;
    corral_write_bool(out, b);
    return 0;
}

static int echo_date(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    corral_datetime dt; char iso[25];
    if (!corral_arg_datetime(ctx, args, 0, &dt)) return -1;
    corral_format_datetime(&dt, iso);
    corral_write_map(out, 3);
    corral_write_str(out, "iso"); corral_write_str(out, iso);
    corral_write_str(out, "epoch_ms"); corral_write_int(out, corral_datetime_epoch_ms(&dt));
    corral_write_str(out, "parts");
    corral_write_array(out, 7);
    const int32_t parts[] = { dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.millisecond };
    for (int i = 0; i < 7; i++) corral_write_int(out, parts[i]);
    return 0;
}

/* EchoArrays and EchoSparse: one array of each type, in the manifest's order. */
static int echo_lists(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    static const char *const names[] = { "strings", "numbers", "integers", "booleans", "dates",
                                         "htmls", "markdowns", "images", "files", "emails" };
    static const enum item_kind kinds[] = { TEXT, NUMBER, INTEGER, BOOLEAN, DATE,
                                            TEXT, TEXT, TEXT, TEXT, TEXT };
    corral_write_map(out, 10);
    for (uint32_t i = 0; i < 10; i++) {
        const corral_value *list;
        if (!corral_arg_array(ctx, args, i, &list)) return -1;
        corral_write_str(out, names[i]);
        corral_write_array(out, corral_len(list));
        for (uint32_t j = 0; j < corral_len(list); j++)
            if (write_item(ctx, corral_index(list, j), kinds[i], out) != 0) return -1;
    }
    return 0;
}

/* -- value hints (issue 16 item 2): a value for every hint, most written loosely ---------- */

static int hints(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)ctx; (void)args;
    corral_value person = corral_new_map();
    corral_map_put(&person, "email", corral_new_str("Bo@Example.COM"));
    corral_map_put(&person, "name", corral_new_str("Bo"));
    corral_value reference = corral_new_map();
    corral_map_put(&reference, "id", corral_new_int(1));
    corral_map_put(&reference, "name", corral_new_str("item 1"));
    corral_value v = corral_new_map();
    corral_map_put(&v, "date", corral_new_str("March 3, 2024"));
    corral_map_put(&v, "time", corral_new_str("5:24 pm"));
    corral_map_put(&v, "datetime", corral_new_str("2024-03-03T09:24:00-08:00"));
    corral_map_put(&v, "epoch", corral_new_int(1709486640));
    corral_map_put(&v, "duration", corral_new_str("1 hour 30 minutes"));
    corral_map_put(&v, "days", corral_new_double(1.5));
    corral_map_put(&v, "email", corral_new_str("Ann@Example.COM"));
    corral_map_put(&v, "person", person);
    corral_map_put(&v, "percent", corral_new_double(0.25));
    corral_map_put(&v, "currency", corral_new_double(9.5));
    corral_map_put(&v, "image", corral_new_str("https://conformance.test/cat.png"));
    corral_map_put(&v, "image_attachment", corral_new_str("data:image/png;base64,iVBORw0KGgo="));
    corral_map_put(&v, "url", corral_new_str("https://conformance.test/a?b=c"));
    corral_map_put(&v, "markdown", corral_new_str("**bold**"));
    corral_map_put(&v, "html", corral_new_str("<b>bold</b>"));
    corral_map_put(&v, "embed", corral_new_str("https://conformance.test/video"));
    corral_map_put(&v, "reference", reference);
    corral_map_put(&v, "attachment", corral_new_str("https://conformance.test/report.pdf"));
    corral_map_put(&v, "slider", corral_new_double(7.5));
    corral_map_put(&v, "scale", corral_new_double(4.0));
    corral_map_put(&v, "progress_bar", corral_new_double(0.4));
    corral_map_put(&v, "toggle", corral_new_bool(true));
    corral_map_put(&v, "rich_text", corral_new_str("plain"));
    corral_map_put(&v, "select_list", corral_new_str("green"));
    corral_map_put(&v, "code", corral_new_str("print(1)"));
    corral_map_put(&v, "phone", corral_new_str("+1 (555) 010-9999"));
    corral_write_value(out, &v);
    return 0;
}


/* -- formula metadata: examples, validate_parameters, a formula's own timeout_ms ------- */

static int double_it(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    double n;
    if (!corral_arg_double(ctx, args, 0, &n)) return -1;
    corral_write_double(out, n * 2);
    return 0;
}

static int span(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    int64_t low, high;
    if (!corral_arg_int(ctx, args, 0, &low) || !corral_arg_int(ctx, args, 1, &high)) return -1;
    corral_write_int(out, high - low);
    return 0;
}

static int validate_span(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    int64_t low, high;
    if (!corral_arg_int(ctx, args, 0, &low) || !corral_arg_int(ctx, args, 1, &high)) return -1;
    if (low == 13) return corral_fail(ctx, "the validation of 13 fails on purpose");
    corral_field_error errors[2];
    uint32_t count = 0;
    if (low < 0) errors[count++] = (corral_field_error){ "low", "must not be negative" };
    if (high < low) errors[count++] = (corral_field_error){ "high", "must be at least low" };
    if (count) corral_write_invalid(out, "the range is not valid", errors, count);
    else corral_write_valid(out);
    return 0;
}

/* One turn of Endless and Countdown: a host call with a static message (no allocation). */
static void turn(void) { corral_raw_log(0, (const uint8_t *)".", 1); }

static int endless(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)ctx; (void)args; (void)out;
    for (;;) turn();
}

static int countdown(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    int64_t n;
    if (!corral_arg_int(ctx, args, 0, &n)) return -1;
    for (int64_t i = 0; i < n; i++) turn();
    corral_write_int(out, n);
    return 0;
}

/* -- the execution context: time zone, invocation location, temporary blobs ----------- */

static int ctx_timezone(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)args;
    const char *zone; uint32_t len;
    corral_timezone(ctx, &zone, &len);
    corral_write_strn(out, zone, len);
    return 0;
}

static int ctx_location(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)args;
    const char *host, *doc; uint32_t host_len, doc_len;
    corral_protocol_and_host(ctx, &host, &host_len);
    corral_write_map(out, 2);
    corral_write_str(out, "protocol_and_host"); corral_write_strn(out, host, host_len);
    corral_write_str(out, "doc_id");
    if (corral_doc_id(ctx, &doc, &doc_len)) corral_write_strn(out, doc, doc_len); else corral_write_nil(out);
    return 0;
}

static void write_blob(corral_writer *out, const corral_blob *blob) {
    corral_write_map(out, 2);
    corral_write_str(out, "url"); corral_write_strn(out, blob->url, blob->url_len);
    corral_write_str(out, "expires_at"); corral_write_strn(out, blob->expires_at, blob->expires_at_len);
}

static int ctx_store_blob(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *text, *type; uint32_t text_len, type_len;
    if (!corral_arg_str(ctx, args, 0, &text, &text_len) || !corral_arg_str(ctx, args, 1, &type, &type_len)) return -1;
    char *content_type = calloc(type_len + 1, 1);
    if (!content_type) return corral_fail(ctx, "out of memory");
    memcpy(content_type, type, type_len);
    corral_blob blob;
    if (corral_store_blob(ctx, (const uint8_t *)text, text_len, content_type, &blob) != 0) return -1;
    write_blob(out, &blob);
    return 0;
}

static int ctx_store_url(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *url; uint32_t url_len;
    if (!corral_arg_str(ctx, args, 0, &url, &url_len)) return -1;
    char *copy = calloc(url_len + 1, 1);
    if (!copy) return corral_fail(ctx, "out of memory");
    memcpy(copy, url, url_len);
    corral_blob blob;
    if (corral_store_url(ctx, copy, &blob) != 0) return -1;
    write_blob(out, &blob);
    return 0;
}

CORRAL_PACK(
    CORRAL_FORMULA("Echo", echo),
    CORRAL_FORMULA("Build", build),
    CORRAL_FORMULA("Fail", fail),
    CORRAL_FORMULA("Log", log_all),
    CORRAL_FORMULA("FetchJson", fetch_json),
    CORRAL_FORMULA("PostJson", post_json),
    CORRAL_FORMULA("FetchBytes", fetch_bytes),
    CORRAL_FORMULA("FetchStatus", fetch_status),
    CORRAL_FORMULA("FetchOrFallback", fetch_or_fallback),
    CORRAL_FORMULA("FetchOrFailUpstream", fetch_or_fail_upstream),
    CORRAL_FORMULA("FailUpstream", fail_upstream),
    CORRAL_FORMULA("NeedScopes", need_scopes),
    CORRAL_FORMULA("Pick", pick),
    CORRAL_FORMULA("Crash", crash),
    CORRAL_FORMULA("Hints", hints),
    CORRAL_FORMULA("HintEcho", echo),
    CORRAL_ACTION("Bump", bump),
    CORRAL_SYNC("Items", items),
    CORRAL_SYNC("Dyn", dyn),
    CORRAL_SYNC_UPDATE("Items", update_items),
    CORRAL_AUTOCOMPLETE("Pick", complete_fruit),
    CORRAL_DYNAMIC_URLS("Dyn", dyn_urls),
    CORRAL_DYNAMIC_SCHEMA("Dyn", dyn_schema),
    CORRAL_CONNECTION_NAME(connection_name),
    /* parameter types (issue 16) */
    CORRAL_FORMULA("EchoString", echo_text),
    CORRAL_FORMULA("EchoNumber", echo_number),
    CORRAL_FORMULA("EchoInteger", echo_integer),
    CORRAL_FORMULA("EchoBoolean", echo_boolean),
    CORRAL_FORMULA("EchoDate", echo_date),
    CORRAL_FORMULA("EchoHtml", echo_text),
    CORRAL_FORMULA("EchoMarkdown", echo_text),
    CORRAL_FORMULA("EchoImage", echo_text),
    CORRAL_FORMULA("EchoFile", echo_text),
    CORRAL_FORMULA("EchoEmail", echo_text),
    CORRAL_FORMULA("EchoArrays", echo_lists),
    CORRAL_FORMULA("EchoSparse", echo_lists),
    /* formula metadata */
    CORRAL_FORMULA("Double", double_it),
    CORRAL_FORMULA("Span", span),
    CORRAL_VALIDATE_PARAMETERS("Span", validate_span),
    CORRAL_FORMULA("Endless", endless),
    CORRAL_FORMULA("Countdown", countdown),
    /* the execution context */
    CORRAL_FORMULA("CtxTimezone", ctx_timezone),
    CORRAL_FORMULA("CtxLocation", ctx_location),
    CORRAL_FORMULA("CtxStoreBlob", ctx_store_blob),
    CORRAL_FORMULA("CtxStoreUrl", ctx_store_url),
)
