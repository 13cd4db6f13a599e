/* toml_json.c - renders parsed TOML as JSON (plain, or the toml-test tagged form)
 * and formats date-times as RFC 3339 text. Reads the tree only. */
#include "config/toml.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t toml_datetime_format(toml_type_t type, const toml_datetime_t *dt, char *out, size_t out_size)
{
    char tmp[64];
    int n = 0;
    if (type == TOML_DATETIME || type == TOML_DATETIME_LOCAL || type == TOML_DATE_LOCAL)
        n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%04d-%02d-%02d", dt->year, dt->month,
                      dt->day);
    if (type == TOML_DATETIME || type == TOML_DATETIME_LOCAL) tmp[n++] = 'T';
    if (type == TOML_DATETIME || type == TOML_DATETIME_LOCAL || type == TOML_TIME_LOCAL) {
        n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%02d:%02d:%02d", dt->hour, dt->minute,
                      dt->second);
        int digits = dt->frac_digits > 9 ? 9 : dt->frac_digits;
        if (digits > 0) {
            int frac = dt->nanosecond;
            for (int i = digits; i < 9; i++)
                frac /= 10;
            n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, ".%0*d", digits, frac);
        }
    }
    if (type == TOML_DATETIME) {
        if (dt->offset_is_z) {
            tmp[n++] = 'Z';
            tmp[n] = '\0';
        } else {
            int off = dt->offset_minutes < 0 ? -dt->offset_minutes : dt->offset_minutes;
            n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%c%02d:%02d",
                          dt->offset_minutes < 0 ? '-' : '+', off / 60, off % 60);
        }
    }
    tmp[n] = '\0';
    if (out && out_size) snprintf(out, out_size, "%s", tmp);
    return (size_t)n;
}

/* Shortest "%.Ng" text that reads back as the same double. */
static void format_float(double d, char *out, size_t size, int plain)
{
    if (isnan(d)) {
        snprintf(out, size, "nan");
        return;
    }
    if (isinf(d)) {
        snprintf(out, size, d < 0 ? "-inf" : "inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, d);
        if (strtod(out, NULL) == d) break;
    }
    /* Keep the value a float for JSON readers: 1 -> 1.0. */
    if (plain && !strpbrk(out, ".eEn")) {
        size_t len = strlen(out);
        if (len + 3 <= size) memcpy(out + len, ".0", 3);
    }
}

static void json_string(buf_t *out, const char *s, size_t len)
{
    buf_append_byte(out, '"');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) continue;
        buf_append(out, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            buf_append_str(out, "\\\"");
            break;
        case '\\':
            buf_append_str(out, "\\\\");
            break;
        case '\n':
            buf_append_str(out, "\\n");
            break;
        case '\t':
            buf_append_str(out, "\\t");
            break;
        case '\r':
            buf_append_str(out, "\\r");
            break;
        case '\b':
            buf_append_str(out, "\\b");
            break;
        case '\f':
            buf_append_str(out, "\\f");
            break;
        default:
            buf_printf(out, "\\u%04x", c);
            break;
        }
    }
    buf_append(out, s + run, len - run);
    buf_append_byte(out, '"');
}

static void newline_indent(buf_t *out, unsigned flags, int level)
{
    if (!(flags & TOML_JSON_PRETTY)) return;
    buf_append_byte(out, '\n');
    for (int i = 0; i < level; i++)
        buf_append_str(out, "  ");
}

static void write_value(const toml_value_t *v, unsigned flags, int level, buf_t *out)
{
    int tagged = flags & TOML_JSON_TAGGED;
    const char *sep = flags & TOML_JSON_PRETTY ? ": " : ":";
    char text[64];
    switch (v->type) {
    case TOML_TABLE:
        buf_append_byte(out, '{');
        for (size_t i = 0; i < v->u.table.len; i++) {
            const toml_keyval_t *kv = &v->u.table.items[i];
            if (i) buf_append_byte(out, ',');
            newline_indent(out, flags, level + 1);
            json_string(out, kv->key, kv->key_len);
            buf_append_str(out, sep);
            write_value(kv->value, flags, level + 1, out);
        }
        if (v->u.table.len) newline_indent(out, flags, level);
        buf_append_byte(out, '}');
        return;
    case TOML_ARRAY:
        buf_append_byte(out, '[');
        for (size_t i = 0; i < v->u.array.len; i++) {
            if (i) buf_append_byte(out, ',');
            newline_indent(out, flags, level + 1);
            write_value(v->u.array.items[i], flags, level + 1, out);
        }
        if (v->u.array.len) newline_indent(out, flags, level);
        buf_append_byte(out, ']');
        return;
    default:
        break;
    }
    if (tagged)
        buf_printf(out, "{\"type\"%s\"%s\",%s\"value\"%s", sep, toml_type_name(v->type),
                   flags & TOML_JSON_PRETTY ? " " : "", sep);
    switch (v->type) {
    case TOML_STRING:
        json_string(out, v->u.string.ptr, v->u.string.len);
        break;
    case TOML_INTEGER:
        buf_printf(out, tagged ? "\"%" PRId64 "\"" : "%" PRId64, v->u.integer);
        break;
    case TOML_FLOAT:
        format_float(v->u.floating, text, sizeof(text), !tagged);
        if (tagged || !isfinite(v->u.floating))
            json_string(out, text, strlen(text));
        else
            buf_append_str(out, text);
        break;
    case TOML_BOOL:
        buf_printf(out, tagged ? "\"%s\"" : "%s", v->u.boolean ? "true" : "false");
        break;
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
        toml_datetime_format(v->type, &v->u.datetime, text, sizeof(text));
        json_string(out, text, strlen(text));
        break;
    default:
        break;
    }
    if (tagged) buf_append_byte(out, '}');
}

void toml_write_json(const toml_value_t *value, unsigned flags, buf_t *out)
{
    if (!value) return;
    write_value(value, flags, 0, out);
}
