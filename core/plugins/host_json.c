/* host_json.c - the host API's JSON writer, for serializers and responses. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json_in.h"
#include "base/json_out.h"
#include "base/json_writer.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/objmap.h"
#include "http/url.h"
#include "plugins/host_api_internal.h"
#include "plugins/plugin_internal.h"
#include "sio/sio_server.h"

iog_json_writer_t *api_json_new(void)
{
    iog_json_writer_t *w = xcalloc(1, sizeof(*w));
    json_writer_init(&w->w);
    return w;
}

void api_json_free(iog_json_writer_t *w)
{
    if (!w) return;
    json_writer_free(&w->w);
    free(w);
}

const char *api_json_text(iog_json_writer_t *w, size_t *len)
{
    return w ? json_writer_text(&w->w, len) : NULL;
}

#define WRITER_FN(name, call)                                                                      \
    void api_json_##name(iog_json_writer_t *w)                                                     \
    {                                                                                              \
        if (w) call(&w->w);                                                                        \
    }
WRITER_FN(object_begin, json_writer_object_begin)
WRITER_FN(object_end, json_writer_object_end)
WRITER_FN(array_begin, json_writer_array_begin)
WRITER_FN(array_end, json_writer_array_end)
WRITER_FN(null, json_writer_null)

void api_json_key(iog_json_writer_t *w, const char *key)
{
    if (w) json_writer_key(&w->w, key, key ? strlen(key) : 0);
}

void api_json_string(iog_json_writer_t *w, const char *s)
{
    if (w) json_writer_string(&w->w, s, s ? strlen(s) : 0);
}

void api_json_string_n(iog_json_writer_t *w, const char *s, size_t len)
{
    if (w) json_writer_string(&w->w, s, len);
}

void api_json_int(iog_json_writer_t *w, int64_t v)
{
    if (w) json_writer_int(&w->w, v);
}

void api_json_double(iog_json_writer_t *w, double v)
{
    if (w) json_writer_double(&w->w, v);
}

void api_json_bool(iog_json_writer_t *w, int v)
{
    if (w) json_writer_bool(&w->w, v);
}

void api_json_raw(iog_json_writer_t *w, const char *json, size_t len)
{
    if (w) json_writer_raw(&w->w, json, len);
}
