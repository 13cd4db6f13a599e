/* json_writer.c - streaming JSON builder (see json_writer.h). */
#include "base/json_writer.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "base/json_in.h"
#include "base/json_out.h"
#include "base/utf8.h"

void json_writer_init(json_writer_t *w)
{
    memset(w, 0, sizeof(*w));
}

void json_writer_free(json_writer_t *w)
{
    buf_free(&w->out);
}

void json_writer_reset(json_writer_t *w)
{
    buf_t out = w->out;
    buf_reset(&out);
    memset(w, 0, sizeof(*w));
    w->out = out;
}

const char *json_writer_text(json_writer_t *w, size_t *len)
{
    if (w->failed || w->depth != 0 || !w->top_done) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = w->out.len;
    return w->out.data;
}

/* Checks that a value may come now and writes the separator before it. */
static int before_value(json_writer_t *w)
{
    if (w->failed) return -1;
    if (w->depth == 0) {
        if (w->top_done) goto misuse;
        return 0;
    }
    int d = w->depth - 1;
    if (w->kind[d] == 'o') {
        if (!w->want_value[d]) goto misuse;
        w->want_value[d] = 0;
        return 0;
    }
    if (w->count[d]) buf_append_byte(&w->out, ',');
    if (w->count[d] < 255) w->count[d]++;
    return 0;
misuse:
    w->failed = 1;
    return -1;
}

static void after_value(json_writer_t *w)
{
    if (w->depth == 0) w->top_done = 1;
}

static void open_container(json_writer_t *w, uint8_t kind, char c)
{
    if (before_value(w) != 0) return;
    if (w->depth == JSON_WRITER_MAX_DEPTH) {
        w->failed = 1;
        return;
    }
    w->kind[w->depth] = kind;
    w->count[w->depth] = 0;
    w->want_value[w->depth] = 0;
    w->depth++;
    buf_append_byte(&w->out, (uint8_t)c);
}

static void close_container(json_writer_t *w, uint8_t kind, char c)
{
    if (w->failed) return;
    if (w->depth == 0 || w->kind[w->depth - 1] != kind || w->want_value[w->depth - 1]) {
        w->failed = 1;
        return;
    }
    w->depth--;
    buf_append_byte(&w->out, (uint8_t)c);
    after_value(w);
}

void json_writer_object_begin(json_writer_t *w)
{
    open_container(w, 'o', '{');
}

void json_writer_object_end(json_writer_t *w)
{
    close_container(w, 'o', '}');
}

void json_writer_array_begin(json_writer_t *w)
{
    open_container(w, 'a', '[');
}

void json_writer_array_end(json_writer_t *w)
{
    close_container(w, 'a', ']');
}

void json_writer_key(json_writer_t *w, const char *key, size_t len)
{
    if (w->failed) return;
    int d = w->depth - 1;
    if (w->depth == 0 || w->kind[d] != 'o' || w->want_value[d] || !key || !utf8_valid(key, len)) {
        w->failed = 1;
        return;
    }
    if (w->count[d]) buf_append_byte(&w->out, ',');
    if (w->count[d] < 255) w->count[d]++;
    json_out_append_string(&w->out, key, len);
    buf_append_byte(&w->out, ':');
    w->want_value[d] = 1;
}

void json_writer_string(json_writer_t *w, const char *s, size_t len)
{
    if (!s || !utf8_valid(s, len)) {
        w->failed = 1;
        return;
    }
    if (before_value(w) != 0) return;
    json_out_append_string(&w->out, s, len);
    after_value(w);
}

void json_writer_int(json_writer_t *w, int64_t v)
{
    if (before_value(w) != 0) return;
    buf_printf(&w->out, "%lld", (long long)v);
    after_value(w);
}

void json_writer_double(json_writer_t *w, double v)
{
    if (before_value(w) != 0) return;
    if (!isfinite(v))
        buf_append_str(&w->out, "null"); /* as JSON.stringify does */
    else
        json_out_append_real(&w->out, v);
    after_value(w);
}

void json_writer_bool(json_writer_t *w, int v)
{
    if (before_value(w) != 0) return;
    buf_append_str(&w->out, v ? "true" : "false");
    after_value(w);
}

void json_writer_null(json_writer_t *w)
{
    if (before_value(w) != 0) return;
    buf_append_str(&w->out, "null");
    after_value(w);
}

void json_writer_raw(json_writer_t *w, const char *json, size_t len)
{
    json_t *v = json ? json_parse_js(json, len) : NULL;
    if (!v) {
        w->failed = 1;
        return;
    }
    if (before_value(w) == 0) {
        json_out_append(&w->out, v);
        after_value(w);
    }
    json_decref(v);
}
