/* toml.c - the TOML 1.0.0 parser and the read-only tree it builds.
 *
 * One pass over the text, no backtracking. Tables keep their entries in
 * document order and index them with an open-addressed hash once they grow
 * past a few keys, so lookups stay O(1) on large documents. Recursion only
 * follows arrays and inline tables, bounded by TOML_MAX_DEPTH. The JSON
 * rendering lives in toml_json.c. */
#include "config/toml.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* Table flags: how a table came to exist decides what may extend it later. */
enum {
    TF_IMPLICIT = 1u << 0, /* created as a parent in a [header]; one header may still define it */
    TF_DEFINED = 1u << 1,  /* defined by its own [header] or [[header]] */
    TF_DOTTED =
        1u << 2, /* defined by dotted keys; only more dotted keys of its section extend it */
    TF_INLINE = 1u << 3, /* inline table: sealed once closed */
    TF_AOT = 1u << 4,    /* array: an array of tables, extended by [[header]] */
};

/* Tables switch from a linear scan to a hash index past this many entries. */
#define TOML_INDEX_MIN 8

/* ---- tree ------------------------------------------------------------------------------- */

static toml_value_t *value_new(toml_type_t type, int line, int column)
{
    toml_value_t *v = xcalloc(1, sizeof(*v));
    v->type = type;
    v->line = line;
    v->column = column;
    return v;
}

static void value_free(toml_value_t *v)
{
    if (!v) return;
    switch (v->type) {
    case TOML_STRING:
        free(v->u.string.ptr);
        break;
    case TOML_ARRAY:
        for (size_t i = 0; i < v->u.array.len; i++)
            value_free(v->u.array.items[i]);
        free(v->u.array.items);
        break;
    case TOML_TABLE:
        for (size_t i = 0; i < v->u.table.len; i++) {
            free(v->u.table.items[i].key);
            value_free(v->u.table.items[i].value);
        }
        free(v->u.table.items);
        free(v->index);
        break;
    default:
        break;
    }
    free(v);
}

void toml_free(toml_value_t *root)
{
    value_free(root);
}

static uint64_t key_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void index_put(toml_value_t *t, size_t item)
{
    const toml_keyval_t *kv = &t->u.table.items[item];
    size_t mask = t->index_cap - 1;
    size_t slot = (size_t)key_hash(kv->key, kv->key_len) & mask;
    while (t->index[slot])
        slot = (slot + 1) & mask;
    t->index[slot] = (uint32_t)(item + 1);
}

static void index_rebuild(toml_value_t *t, size_t cap)
{
    free(t->index);
    t->index = xcalloc(cap, sizeof(*t->index));
    t->index_cap = cap;
    for (size_t i = 0; i < t->u.table.len; i++)
        index_put(t, i);
}

static toml_keyval_t *table_find(const toml_value_t *t, const char *key, size_t len)
{
    toml_keyval_t *items = t->u.table.items;
    if (t->index_cap) {
        size_t mask = t->index_cap - 1;
        size_t slot = (size_t)key_hash(key, len) & mask;
        for (uint32_t i; (i = t->index[slot]) != 0; slot = (slot + 1) & mask) {
            toml_keyval_t *kv = &items[i - 1];
            if (kv->key_len == len && memcmp(kv->key, key, len) == 0) return kv;
        }
        return NULL;
    }
    for (size_t i = 0; i < t->u.table.len; i++) {
        if (items[i].key_len == len && memcmp(items[i].key, key, len) == 0) return &items[i];
    }
    return NULL;
}

/* Appends an entry; takes key (xmalloc'ed, NUL-terminated) and value. */
static void table_add(toml_value_t *t, char *key, size_t key_len, int line, int column,
                      toml_value_t *value)
{
    if (t->u.table.len == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 4;
        t->u.table.items = xrealloc(t->u.table.items, t->cap * sizeof(*t->u.table.items));
    }
    size_t i = t->u.table.len++;
    t->u.table.items[i] = (toml_keyval_t){key, key_len, line, column, value};
    if (t->u.table.len > TOML_INDEX_MIN) {
        if (t->u.table.len * 2 > t->index_cap) {
            size_t cap = 32;
            while (cap < t->u.table.len * 4)
                cap *= 2;
            index_rebuild(t, cap);
        } else {
            index_put(t, i);
        }
    }
}

static void array_push(toml_value_t *a, toml_value_t *item)
{
    if (a->u.array.len == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 4;
        a->u.array.items = xrealloc(a->u.array.items, a->cap * sizeof(*a->u.array.items));
    }
    a->u.array.items[a->u.array.len++] = item;
}

const toml_keyval_t *toml_table_entry_n(const toml_value_t *table, const char *key, size_t key_len)
{
    if (!table || table->type != TOML_TABLE || !key) return NULL;
    return table_find(table, key, key_len);
}

const toml_keyval_t *toml_table_entry(const toml_value_t *table, const char *key)
{
    return key ? toml_table_entry_n(table, key, strlen(key)) : NULL;
}

const toml_value_t *toml_table_get(const toml_value_t *table, const char *key)
{
    const toml_keyval_t *kv = toml_table_entry(table, key);
    return kv ? kv->value : NULL;
}

const char *toml_type_name(toml_type_t type)
{
    switch (type) {
    case TOML_STRING:
        return "string";
    case TOML_INTEGER:
        return "integer";
    case TOML_FLOAT:
        return "float";
    case TOML_BOOL:
        return "bool";
    case TOML_DATETIME:
        return "datetime";
    case TOML_DATETIME_LOCAL:
        return "datetime-local";
    case TOML_DATE_LOCAL:
        return "date-local";
    case TOML_TIME_LOCAL:
        return "time-local";
    case TOML_ARRAY:
        return "array";
    case TOML_TABLE:
        return "table";
    }
    return "unknown";
}

/* ---- parser state and errors ----------------------------------------------------------- */

typedef struct key_seg {
    size_t off, len; /* decoded bytes in key_path.bytes */
    int line, column;
} key_seg_t;

/* A dotted key as written: its decoded segments share one byte buffer. */
typedef struct key_path {
    buf_t bytes;
    key_seg_t *segs;
    size_t n, cap;
} key_path_t;

typedef struct parser {
    const char *s;
    size_t n, pos;
    const char *source;
    char *err;
    size_t err_size;
    int failed;
    int line;          /* line of pos */
    size_t line_start; /* offset where that line starts */
    /* Column cache: columns are counted in characters, incrementally, so that
     * long lines do not make locating every value quadratic. */
    size_t col_line_start, col_pos;
    int col;
    toml_value_t *root, *cur; /* cur: the table that key/values go into */
    int cur_depth;
    buf_t str; /* scratch for decoded strings */
    key_path_t key;
} parser_t;

static int column_at(parser_t *p, size_t pos)
{
    if (p->col_line_start != p->line_start || pos < p->col_pos) {
        p->col_line_start = p->line_start;
        p->col_pos = p->line_start;
        p->col = 1;
    }
    for (; p->col_pos < pos && p->col_pos < p->n; p->col_pos++) {
        if (((unsigned char)p->s[p->col_pos] & 0xC0) != 0x80) p->col++;
    }
    return p->col;
}

/* pos is always on the current line or after it on that line: keys and headers never
 * span lines, and values are located before they are parsed. */
static void locate(parser_t *p, size_t pos, int *line, int *column)
{
    *line = p->line;
    *column = column_at(p, pos < p->line_start ? p->line_start : pos);
}

static int vfail(parser_t *p, int line, int column, const char *fmt, va_list ap)
{
    if (p->failed) return -1;
    p->failed = 1;
    if (!p->err || !p->err_size) return -1;
    char msg[400];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    snprintf(p->err, p->err_size, "%s:%d:%d: %s", p->source, line, column, msg);
    return -1;
}

static int fail_lc(parser_t *p, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(parser_t *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error only; always returns -1 so callers can `return fail_...(...)`. */
static int fail_lc(parser_t *p, int line, int column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(p, line, column, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_at(parser_t *p, size_t pos, const char *fmt, ...)
{
    int line, column;
    locate(p, pos, &line, &column);
    va_list ap;
    va_start(ap, fmt);
    vfail(p, line, column, fmt, ap);
    va_end(ap);
    return -1;
}

/* Appends key to b for messages, escaping what would not print. */
static void describe_bytes(buf_t *b, const char *key, size_t len)
{
    if (len > 64) len = 64;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c == 0x7f || c == '\'')
            buf_printf(b, "\\x%02x", c);
        else
            buf_append_byte(b, c);
    }
}

/* The dotted path of key segments [0, upto] for messages, written into b. */
static const char *describe_path(parser_t *p, size_t upto, buf_t *b)
{
    for (size_t i = 0; i <= upto && i < p->key.n; i++) {
        if (i) buf_append_byte(b, '.');
        if (b->len > 200) {
            buf_append_str(b, "...");
            break;
        }
        describe_bytes(b, p->key.bytes.data + p->key.segs[i].off, p->key.segs[i].len);
    }
    if (!b->data) buf_append_str(b, "");
    return b->data;
}

/* An error about key segment seg; what holds one %s for the dotted path up to it. */
static int fail_key(parser_t *p, size_t seg, const char *what)
{
    buf_t b = BUF_INIT;
    char msg[400];
    snprintf(msg, sizeof(msg), what, describe_path(p, seg, &b));
    buf_free(&b);
    return fail_lc(p, p->key.segs[seg].line, p->key.segs[seg].column, "%s", msg);
}

/* ---- lexical helpers ------------------------------------------------------------------- */

static int peek(const parser_t *p)
{
    return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1;
}

static int peek_at(const parser_t *p, size_t ahead)
{
    return p->pos + ahead < p->n ? (unsigned char)p->s[p->pos + ahead] : -1;
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_bare_key_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-';
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
        p->pos++;
}

static int at_newline(const parser_t *p)
{
    int c = peek(p);
    return c == '\n' || (c == '\r' && peek_at(p, 1) == '\n');
}

/* Consumes LF or CRLF and moves to the next line; 0 when there is none. */
static int eat_newline(parser_t *p)
{
    if (peek(p) == '\n')
        p->pos++;
    else if (peek(p) == '\r' && peek_at(p, 1) == '\n')
        p->pos += 2;
    else
        return 0;
    p->line++;
    p->line_start = p->pos;
    return 1;
}

static int is_control(int c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Skips a comment up to (not including) its newline. */
static int skip_comment(parser_t *p)
{
    if (peek(p) != '#') return 0;
    p->pos++;
    while (p->pos < p->n) {
        int c = (unsigned char)p->s[p->pos];
        if (c == '\n' || (c == '\r' && peek_at(p, 1) == '\n')) break;
        if (is_control(c))
            return fail_at(p, p->pos, "control character U+%04X in comment", (unsigned)c);
        p->pos++;
    }
    return 0;
}

/* After a key/value or a header: optional whitespace and comment, then newline or end. */
static int end_of_line(parser_t *p, const char *after)
{
    skip_ws(p);
    if (skip_comment(p) < 0) return -1;
    if (p->pos >= p->n || eat_newline(p)) return 0;
    if (p->s[p->pos] == '\r') return fail_at(p, p->pos, "carriage return without line feed");
    return fail_at(p, p->pos, "expected a newline after %s", after);
}

/* Whitespace, newlines and comments, as allowed between array elements. */
static int skip_ws_lines(parser_t *p)
{
    for (;;) {
        skip_ws(p);
        if (peek(p) == '#') {
            if (skip_comment(p) < 0) return -1;
        } else if (!eat_newline(p)) {
            return 0;
        }
    }
}

/* Validates UTF-8 over the whole text first, so the rest only deals with grammar. */
static int check_utf8(parser_t *p)
{
    const unsigned char *s = (const unsigned char *)p->s;
    size_t n = p->n;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c == '\n') {
                p->line++;
                p->line_start = i + 1;
            }
            i++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return fail_at(p, i, "invalid UTF-8 byte 0x%02X", c);
        }
        for (size_t k = 1; k <= need; k++) {
            unsigned b = i + k < n ? s[i + k] : 0;
            unsigned blo = k == 1 ? lo : 0x80, bhi = k == 1 ? hi : 0xBF;
            if (i + k >= n || b < blo || b > bhi)
                return fail_at(p, i, "invalid UTF-8 sequence starting with byte 0x%02X", c);
        }
        i += need + 1;
    }
    p->line = 1;
    p->line_start = 0;
    return 0;
}

/* ---- keys ------------------------------------------------------------------------------- */

static int parse_basic_string(parser_t *p, buf_t *out, int multiline);
static int parse_literal_string(parser_t *p, buf_t *out, int multiline);

static int starts_with(const parser_t *p, const char *lit)
{
    size_t len = strlen(lit);
    return p->n - p->pos >= len && memcmp(p->s + p->pos, lit, len) == 0;
}

static int parse_simple_key(parser_t *p)
{
    key_path_t *k = &p->key;
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 8;
        k->segs = xrealloc(k->segs, k->cap * sizeof(*k->segs));
    }
    key_seg_t *seg = &k->segs[k->n];
    seg->off = k->bytes.len;
    locate(p, p->pos, &seg->line, &seg->column);
    int c = peek(p);
    if (is_bare_key_char(c)) {
        size_t start = p->pos;
        while (is_bare_key_char(peek(p)))
            p->pos++;
        buf_append(&k->bytes, p->s + start, p->pos - start);
    } else if (c == '"' || c == '\'') {
        if (starts_with(p, c == '"' ? "\"\"\"" : "'''"))
            return fail_at(p, p->pos, "a multi-line string cannot be a key");
        if ((c == '"' ? parse_basic_string(p, &k->bytes, 0)
                      : parse_literal_string(p, &k->bytes, 0)) < 0)
            return -1;
    } else if (c < 0 || at_newline(p)) {
        return fail_at(p, p->pos, "expected a key");
    } else if (c == '=') {
        return fail_at(p, p->pos, "missing key before '='");
    } else {
        return fail_at(p, p->pos, "invalid character in key");
    }
    seg->len = k->bytes.len - seg->off;
    k->n++;
    return 0;
}

/* key = simple-key *( ws "." ws simple-key ); leaves pos after the last segment. */
static int parse_key(parser_t *p)
{
    p->key.n = 0;
    buf_reset(&p->key.bytes);
    buf_reserve(&p->key.bytes, 0); /* segments point into it even when all are "" */
    for (;;) {
        if (parse_simple_key(p) < 0) return -1;
        size_t save = p->pos;
        skip_ws(p);
        if (peek(p) != '.') {
            p->pos = save;
            return 0;
        }
        p->pos++;
        skip_ws(p);
    }
}

static const char *seg_bytes(const parser_t *p, size_t i)
{
    return p->key.bytes.data + p->key.segs[i].off;
}

static char *seg_dup(const parser_t *p, size_t i)
{
    return xmemdup0(seg_bytes(p, i), p->key.segs[i].len);
}

/* ---- strings ---------------------------------------------------------------------------- */

static void put_utf8(buf_t *b, uint32_t cp)
{
    unsigned char o[4];
    size_t n;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        o[0] = (unsigned char)(0xF0 | (cp >> 18));
        o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(b, o, n);
}

static int hex_value(int c)
{
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* pos is on the backslash. */
static int parse_escape(parser_t *p, buf_t *out, int multiline)
{
    size_t start = p->pos;
    p->pos++;
    int c = peek(p);
    switch (c) {
    case 'b':
        buf_append_byte(out, '\b');
        break;
    case 't':
        buf_append_byte(out, '\t');
        break;
    case 'n':
        buf_append_byte(out, '\n');
        break;
    case 'f':
        buf_append_byte(out, '\f');
        break;
    case 'r':
        buf_append_byte(out, '\r');
        break;
    case '"':
        buf_append_byte(out, '"');
        break;
    case '\\':
        buf_append_byte(out, '\\');
        break;
    case 'u':
    case 'U': {
        int digits = c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (int i = 1; i <= digits; i++) {
            int h = hex_value(peek_at(p, (size_t)i));
            if (h < 0)
                return fail_at(p, start, "\\%c escape needs %d hexadecimal digits", c, digits);
            cp = cp * 16 + (uint32_t)h;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return fail_at(p, start, "escape is not a Unicode scalar value (U+%04X)", cp);
        put_utf8(out, cp);
        p->pos += (size_t)digits;
        break;
    }
    default:
        if (multiline && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            /* Line-ending backslash: only whitespace may follow it on its line. */
            skip_ws(p);
            if (!at_newline(p))
                return fail_at(p, start, "a line-ending backslash must be last on its line");
            while (eat_newline(p) || peek(p) == ' ' || peek(p) == '\t')
                skip_ws(p);
            return 0;
        }
        if (c < 0) return fail_at(p, start, "unterminated string");
        if (c < 0x20 || c >= 0x7f) return fail_at(p, start, "invalid escape sequence");
        return fail_at(p, start, "invalid escape sequence '\\%c'", c);
    }
    p->pos++;
    return 0;
}

/* A closing quote run in a multi-line string: 3 close it, up to 2 more belong to it. */
static int close_multiline(parser_t *p, buf_t *out, char quote, int *closed)
{
    size_t q = 0;
    while (p->pos + q < p->n && p->s[p->pos + q] == quote)
        q++;
    *closed = q >= 3;
    if (q > 5) return fail_at(p, p->pos + 5, "too many quotes at the end of a multi-line string");
    size_t keep = q >= 3 ? q - 3 : q;
    for (size_t i = 0; i < keep; i++)
        buf_append_byte(out, (uint8_t)quote);
    p->pos += q;
    return 0;
}

/* Shared body of the four string forms; appends decoded bytes to out. */
static int parse_string_body(parser_t *p, buf_t *out, char quote, int multiline)
{
    int open_line, open_column;
    locate(p, p->pos, &open_line, &open_column);
    int escapes = quote == '"';
    p->pos += multiline ? 3 : 1;
    if (multiline) eat_newline(p); /* a newline right after the delimiter is trimmed */
    for (;;) {
        size_t run = p->pos;
        while (p->pos < p->n) {
            int c = (unsigned char)p->s[p->pos];
            if (c == quote || (escapes && c == '\\') || is_control(c)) break;
            p->pos++;
        }
        if (p->pos > run) buf_append(out, p->s + run, p->pos - run);
        if (p->pos >= p->n) return fail_lc(p, open_line, open_column, "unterminated string");
        int c = (unsigned char)p->s[p->pos];
        if (c == quote) {
            if (!multiline) {
                p->pos++;
                return 0;
            }
            int closed;
            if (close_multiline(p, out, quote, &closed) < 0) return -1;
            if (closed) return 0;
        } else if (c == '\\') {
            if (parse_escape(p, out, multiline) < 0) return -1;
        } else if (c == '\n' || (c == '\r' && peek_at(p, 1) == '\n')) {
            if (!multiline) return fail_at(p, p->pos, "newline in a single-line string");
            buf_append_byte(out, '\n');
            eat_newline(p);
        } else if (c == '\r') {
            return fail_at(p, p->pos, "carriage return without line feed in string");
        } else {
            return fail_at(p, p->pos, "control character U+%04X in string", (unsigned)c);
        }
    }
}

static int parse_basic_string(parser_t *p, buf_t *out, int multiline)
{
    return parse_string_body(p, out, '"', multiline);
}

static int parse_literal_string(parser_t *p, buf_t *out, int multiline)
{
    return parse_string_body(p, out, '\'', multiline);
}

/* ---- numbers and date-times ------------------------------------------------------------- */

static int digit_in_base(int c, int base)
{
    if (base == 16) return hex_value(c) >= 0;
    if (base == 8) return c >= '0' && c <= '7';
    if (base == 2) return c == '0' || c == '1';
    return is_digit(c);
}

/* Digits of base with single underscores between digits; returns the digit count or -1. */
static int scan_digits(parser_t *p, const char *t, size_t *i, size_t end, int base, size_t start)
{
    int count = 0;
    while (*i < end) {
        int c = (unsigned char)t[*i];
        if (digit_in_base(c, base)) {
            count++;
            (*i)++;
        } else if (c == '_') {
            if (!count || *i + 1 >= end || !digit_in_base((unsigned char)t[*i + 1], base))
                return fail_at(p, start, "an underscore in a number must be between digits");
            (*i)++;
        } else {
            break;
        }
    }
    return count;
}

static int parse_number(parser_t *p, toml_value_t *v)
{
    size_t start = p->pos;
    while (p->pos < p->n) {
        int c = (unsigned char)p->s[p->pos];
        if (!(is_bare_key_char(c) || c == '+' || c == '.')) break;
        p->pos++;
    }
    const char *t = p->s + start;
    size_t end = p->pos - start, i = 0;
    int neg = 0, sign = 0;
    if (t[0] == '+' || t[0] == '-') {
        neg = t[0] == '-';
        sign = 1;
        i = 1;
    }
    if (end - i == 3 && (memcmp(t + i, "inf", 3) == 0 || memcmp(t + i, "nan", 3) == 0)) {
        v->type = TOML_FLOAT;
        double x = t[i] == 'i' ? HUGE_VAL : NAN;
        v->u.floating = neg ? -x : x;
        return 0;
    }
    if (end - i >= 2 && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'o' || t[i + 1] == 'b')) {
        int base = t[i + 1] == 'x' ? 16 : t[i + 1] == 'o' ? 8 : 2;
        if (sign) return fail_at(p, start, "a sign is not allowed on a non-decimal integer");
        size_t d = i + 2;
        int count = scan_digits(p, t, &d, end, base, start);
        if (count < 0) return -1;
        if (count == 0 || d != end) return fail_at(p, start, "invalid integer");
        uint64_t x = 0;
        for (size_t k = i + 2; k < end; k++) {
            if (t[k] == '_') continue;
            uint64_t dv = (uint64_t)hex_value((unsigned char)t[k]);
            if (x > ((uint64_t)INT64_MAX - dv) / (uint64_t)base)
                return fail_at(p, start, "integer does not fit in 64 bits");
            x = x * (uint64_t)base + dv;
        }
        v->type = TOML_INTEGER;
        v->u.integer = (int64_t)x;
        return 0;
    }
    size_t int_start = i;
    int count = scan_digits(p, t, &i, end, 10, start);
    if (count < 0) return -1;
    if (count == 0) return fail_at(p, start, "invalid number");
    if (t[int_start] == '0' && count > 1)
        return fail_at(p, start, "leading zeros are not allowed in a number");
    int is_float = 0;
    if (i < end && t[i] == '.') {
        is_float = 1;
        i++;
        int frac = scan_digits(p, t, &i, end, 10, start);
        if (frac < 0) return -1;
        if (frac == 0) return fail_at(p, start, "a decimal point must be followed by digits");
    }
    if (i < end && (t[i] == 'e' || t[i] == 'E')) {
        is_float = 1;
        i++;
        if (i < end && (t[i] == '+' || t[i] == '-')) i++;
        int exp = scan_digits(p, t, &i, end, 10, start);
        if (exp < 0) return -1;
        if (exp == 0) return fail_at(p, start, "an exponent must have digits");
    }
    if (i != end) return fail_at(p, start, "invalid number");
    char small[128];
    char *copy = end < sizeof(small) ? small : xmalloc(end + 1);
    size_t len = 0;
    for (size_t k = 0; k < end; k++)
        if (t[k] != '_') copy[len++] = t[k];
    copy[len] = '\0';
    int rc = 0;
    if (is_float) {
        double x = strtod(copy, NULL);
        if (isinf(x)) rc = fail_at(p, start, "float is out of range");
        v->type = TOML_FLOAT;
        v->u.floating = x;
    } else {
        errno = 0;
        long long x = strtoll(copy, NULL, 10);
        if (errno == ERANGE) rc = fail_at(p, start, "integer does not fit in 64 bits");
        v->type = TOML_INTEGER;
        v->u.integer = (int64_t)x;
    }
    if (copy != small) free(copy);
    return rc;
}

/* Reads exactly n decimal digits; -1 if they are not there. */
static int fixed_digits(parser_t *p, int n)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        int c = peek(p);
        if (!is_digit(c)) return -1;
        x = x * 10 + (c - '0');
        p->pos++;
    }
    return x;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

static int parse_time(parser_t *p, toml_datetime_t *dt, size_t start)
{
    dt->hour = fixed_digits(p, 2);
    if (dt->hour < 0 || peek(p) != ':') return fail_at(p, start, "invalid time, expected HH:MM:SS");
    p->pos++;
    dt->minute = fixed_digits(p, 2);
    if (dt->minute < 0 || peek(p) != ':')
        return fail_at(p, start, "invalid time, expected HH:MM:SS");
    p->pos++;
    dt->second = fixed_digits(p, 2);
    if (dt->second < 0) return fail_at(p, start, "invalid time, expected HH:MM:SS");
    if (dt->hour > 23 || dt->minute > 59 || dt->second > 60)
        return fail_at(p, start, "time out of range");
    if (peek(p) == '.') {
        p->pos++;
        if (!is_digit(peek(p)))
            return fail_at(p, start, "a decimal point must be followed by digits");
        int digits = 0, ns = 0;
        while (is_digit(peek(p))) {
            if (digits < 9) {
                ns = ns * 10 + (peek(p) - '0');
                digits++;
            }
            p->pos++;
        }
        dt->frac_digits = digits;
        for (int k = digits; k < 9; k++)
            ns *= 10;
        dt->nanosecond = ns;
    }
    return 0;
}

/* pos is on the first digit of a date (YYYY-) or a time (HH:). */
static int parse_datetime(parser_t *p, toml_value_t *v)
{
    size_t start = p->pos;
    toml_datetime_t *dt = &v->u.datetime;
    if (peek_at(p, 2) == ':') {
        v->type = TOML_TIME_LOCAL;
        return parse_time(p, dt, start);
    }
    dt->year = fixed_digits(p, 4);
    if (peek(p) != '-') return fail_at(p, start, "invalid date, expected YYYY-MM-DD");
    p->pos++;
    dt->month = fixed_digits(p, 2);
    if (dt->month < 0 || peek(p) != '-')
        return fail_at(p, start, "invalid date, expected YYYY-MM-DD");
    p->pos++;
    dt->day = fixed_digits(p, 2);
    if (dt->day < 0) return fail_at(p, start, "invalid date, expected YYYY-MM-DD");
    if (dt->month < 1 || dt->month > 12 || dt->day < 1 ||
        dt->day > days_in_month(dt->year, dt->month))
        return fail_at(p, start, "date out of range");
    int c = peek(p);
    int has_time =
        c == 'T' || c == 't' ||
        (c == ' ' && is_digit(peek_at(p, 1)) && is_digit(peek_at(p, 2)) && peek_at(p, 3) == ':');
    if (!has_time) {
        v->type = TOML_DATE_LOCAL;
        return 0;
    }
    p->pos++;
    if (parse_time(p, dt, start) < 0) return -1;
    c = peek(p);
    if (c == 'Z' || c == 'z') {
        p->pos++;
        dt->offset_is_z = 1;
        v->type = TOML_DATETIME;
    } else if (c == '+' || c == '-') {
        p->pos++;
        int oh = fixed_digits(p, 2);
        if (oh < 0 || peek(p) != ':') return fail_at(p, start, "invalid offset, expected +HH:MM");
        p->pos++;
        int om = fixed_digits(p, 2);
        if (om < 0) return fail_at(p, start, "invalid offset, expected +HH:MM");
        if (oh > 23 || om > 59) return fail_at(p, start, "offset out of range");
        dt->offset_minutes = (c == '-' ? -1 : 1) * (oh * 60 + om);
        v->type = TOML_DATETIME;
    } else {
        v->type = TOML_DATETIME_LOCAL;
    }
    return 0;
}

/* ---- values ----------------------------------------------------------------------------- */

static toml_value_t *parse_value(parser_t *p, int depth);
static int parse_keyval(parser_t *p, toml_value_t *table, int depth);

static int parse_array(parser_t *p, toml_value_t *a, int depth)
{
    p->pos++;
    for (;;) {
        if (skip_ws_lines(p) < 0) return -1;
        if (peek(p) == ']') {
            p->pos++;
            return 0;
        }
        if (peek(p) < 0) return fail_lc(p, a->line, a->column, "unterminated array");
        toml_value_t *item = parse_value(p, depth + 1);
        if (!item) return -1;
        array_push(a, item);
        if (skip_ws_lines(p) < 0) return -1;
        int c = peek(p);
        if (c == ',') {
            p->pos++;
        } else if (c == ']') {
            p->pos++;
            return 0;
        } else if (c < 0) {
            return fail_lc(p, a->line, a->column, "unterminated array");
        } else {
            return fail_at(p, p->pos, "expected ',' or ']' in array");
        }
    }
}

static int parse_inline_table(parser_t *p, toml_value_t *t, int depth)
{
    p->pos++;
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
        t->flags |= TF_INLINE;
        return 0;
    }
    for (;;) {
        skip_ws(p);
        if (peek(p) == '}') return fail_at(p, p->pos, "trailing comma in inline table");
        if (at_newline(p)) return fail_at(p, p->pos, "newline in inline table");
        if (parse_keyval(p, t, depth) < 0) return -1;
        skip_ws(p);
        int c = peek(p);
        if (c == ',') {
            p->pos++;
        } else if (c == '}') {
            p->pos++;
            t->flags |= TF_INLINE;
            return 0;
        } else if (c < 0) {
            return fail_lc(p, t->line, t->column, "unterminated inline table");
        } else if (at_newline(p)) {
            return fail_at(p, p->pos, "newline in inline table");
        } else {
            return fail_at(p, p->pos, "expected ',' or '}' in inline table");
        }
    }
}

/* A new value at depth (the root table is depth 0); NULL on error. */
static toml_value_t *parse_value(parser_t *p, int depth)
{
    int line, column;
    locate(p, p->pos, &line, &column);
    toml_value_t *v = value_new(TOML_BOOL, line, column);
    int c = peek(p), rc;
    if (c == '"' || c == '\'') {
        int multiline = starts_with(p, c == '"' ? "\"\"\"" : "'''");
        buf_reset(&p->str);
        rc = c == '"' ? parse_basic_string(p, &p->str, multiline)
                      : parse_literal_string(p, &p->str, multiline);
        if (rc == 0) {
            v->type = TOML_STRING;
            v->u.string.len = p->str.len;
            v->u.string.ptr = xmemdup0(p->str.data ? p->str.data : "", p->str.len);
        }
    } else if (c == '[' || c == '{') {
        v->type = c == '[' ? TOML_ARRAY : TOML_TABLE;
        if (depth > TOML_MAX_DEPTH)
            rc = fail_at(p, p->pos, "nesting is deeper than %d levels", TOML_MAX_DEPTH);
        else
            rc = c == '[' ? parse_array(p, v, depth) : parse_inline_table(p, v, depth);
    } else if (starts_with(p, "true") || starts_with(p, "false")) {
        v->u.boolean = c == 't';
        p->pos += c == 't' ? 4 : 5;
        rc = 0;
    } else if (is_digit(c) && ((is_digit(peek_at(p, 1)) && peek_at(p, 2) == ':') ||
                               (is_digit(peek_at(p, 1)) && is_digit(peek_at(p, 2)) &&
                                is_digit(peek_at(p, 3)) && peek_at(p, 4) == '-'))) {
        rc = parse_datetime(p, v);
    } else if (is_digit(c) || c == '+' || c == '-' || c == 'i' || c == 'n') {
        rc = parse_number(p, v);
    } else if (c < 0 || at_newline(p) || c == '#') {
        rc = fail_at(p, p->pos, "missing value");
    } else {
        rc = fail_at(p, p->pos, "invalid value");
    }
    if (rc < 0) {
        value_free(v);
        return NULL;
    }
    return v;
}

/* key = value into table (at depth); dotted keys create or extend dotted tables. */
static int parse_keyval(parser_t *p, toml_value_t *table, int depth)
{
    if (parse_key(p) < 0) return -1;
    skip_ws(p);
    if (peek(p) != '=') {
        if (peek(p) < 0 || at_newline(p) || peek(p) == '#')
            return fail_at(p, p->pos, "expected '=' after key");
        return fail_at(p, p->pos, "expected '=' after key (keys with spaces must be quoted)");
    }
    p->pos++;
    skip_ws(p);
    toml_value_t *t = table;
    size_t last = p->key.n - 1;
    for (size_t i = 0; i < last; i++) {
        toml_keyval_t *kv = table_find(t, seg_bytes(p, i), p->key.segs[i].len);
        if (!kv) {
            if (depth + 1 > TOML_MAX_DEPTH)
                return fail_key(p, i, "key '%s' nests deeper than the limit");
            key_seg_t *s = &p->key.segs[i];
            toml_value_t *sub = value_new(TOML_TABLE, s->line, s->column);
            sub->flags = TF_DOTTED;
            table_add(t, seg_dup(p, i), s->len, s->line, s->column, sub);
            t = sub;
        } else if (kv->value->type == TOML_TABLE &&
                   (kv->value->flags == TF_DOTTED || kv->value->flags == TF_IMPLICIT)) {
            /* A parent created by a header and not yet defined may be filled by dotted
             * keys; it then counts as defined by them, so no header can define it later. */
            kv->value->flags = TF_DOTTED;
            t = kv->value;
        } else if (kv->value->type == TOML_TABLE) {
            return fail_key(p, i, "cannot add keys to table '%s' defined elsewhere");
        } else {
            return fail_key(p, i, "key '%s' is already defined and is not a table");
        }
        depth++;
    }
    if (table_find(t, seg_bytes(p, last), p->key.segs[last].len))
        return fail_key(p, last, "duplicate key '%s'");
    key_seg_t s = p->key.segs[last];
    char *key = seg_dup(p, last);
    toml_value_t *v = parse_value(p, depth + 1);
    if (!v) {
        free(key);
        return -1;
    }
    table_add(t, key, s.len, s.line, s.column, v);
    return 0;
}

/* [a.b.c] or [[a.b.c]]; makes the named table the current one. */
static int parse_header(parser_t *p)
{
    size_t open = p->pos;
    int aot = peek_at(p, 1) == '[';
    p->pos += aot ? 2 : 1;
    skip_ws(p);
    if (parse_key(p) < 0) return -1;
    skip_ws(p);
    if (peek(p) != ']') return fail_at(p, p->pos, "expected ']' to close the table header");
    p->pos++;
    if (aot) {
        if (peek(p) != ']') return fail_at(p, p->pos, "expected ']]' to close the array header");
        p->pos++;
    }
    int line, column;
    locate(p, open, &line, &column);
    toml_value_t *t = p->root;
    int depth = 0;
    size_t last = p->key.n - 1;
    for (size_t i = 0; i < last; i++) {
        toml_keyval_t *kv = table_find(t, seg_bytes(p, i), p->key.segs[i].len);
        if (!kv) {
            if (depth + 1 > TOML_MAX_DEPTH)
                return fail_key(p, i, "table '%s' nests deeper than the limit");
            toml_value_t *sub = value_new(TOML_TABLE, line, column);
            sub->flags = TF_IMPLICIT;
            key_seg_t *s = &p->key.segs[i];
            table_add(t, seg_dup(p, i), s->len, s->line, s->column, sub);
            t = sub;
            depth++;
            continue;
        }
        toml_value_t *v = kv->value;
        if (v->type == TOML_TABLE && !(v->flags & TF_INLINE)) {
            t = v;
            depth++;
        } else if (v->type == TOML_ARRAY && (v->flags & TF_AOT)) {
            t = v->u.array.items[v->u.array.len - 1];
            depth += 2;
        } else if (v->type == TOML_TABLE) {
            return fail_key(p, i, "cannot extend inline table '%s'");
        } else if (v->type == TOML_ARRAY) {
            return fail_key(p, i, "cannot extend static array '%s'");
        } else {
            return fail_key(p, i, "key '%s' is already defined and is not a table");
        }
    }
    key_seg_t *s = &p->key.segs[last];
    toml_keyval_t *kv = table_find(t, seg_bytes(p, last), s->len);
    if (depth + (aot ? 2 : 1) > TOML_MAX_DEPTH)
        return fail_key(p, last, "table '%s' nests deeper than the limit");
    if (!aot) {
        if (!kv) {
            toml_value_t *sub = value_new(TOML_TABLE, line, column);
            sub->flags = TF_DEFINED;
            table_add(t, seg_dup(p, last), s->len, s->line, s->column, sub);
            p->cur = sub;
        } else if (kv->value->type == TOML_TABLE && kv->value->flags == TF_IMPLICIT) {
            kv->value->flags = TF_DEFINED;
            kv->value->line = line;
            kv->value->column = column;
            kv->line = s->line;
            kv->column = s->column;
            p->cur = kv->value;
        } else if (kv->value->type == TOML_TABLE) {
            return fail_key(p, last, "table '%s' is already defined");
        } else {
            return fail_key(p, last, "key '%s' is already defined and is not a table");
        }
        p->cur_depth = depth + 1;
        return 0;
    }
    toml_value_t *arr;
    if (!kv) {
        arr = value_new(TOML_ARRAY, line, column);
        arr->flags = TF_AOT;
        table_add(t, seg_dup(p, last), s->len, s->line, s->column, arr);
    } else if (kv->value->type == TOML_ARRAY && (kv->value->flags & TF_AOT)) {
        arr = kv->value;
    } else if (kv->value->type == TOML_ARRAY) {
        return fail_key(p, last, "cannot append to static array '%s' with [[ ]]");
    } else {
        return fail_key(p, last, "key '%s' is already defined and is not an array of tables");
    }
    toml_value_t *sub = value_new(TOML_TABLE, line, column);
    sub->flags = TF_DEFINED;
    array_push(arr, sub);
    p->cur = sub;
    p->cur_depth = depth + 2;
    return 0;
}

static int parse_document(parser_t *p)
{
    if (check_utf8(p) < 0) return -1;
    if (starts_with(p, "\xEF\xBB\xBF")) {
        p->pos = 3;
        p->line_start = 3;
    }
    while (p->pos < p->n) {
        skip_ws(p);
        int c = peek(p);
        if (c < 0) break;
        if (c == '#') {
            if (end_of_line(p, "a comment") < 0) return -1;
        } else if (eat_newline(p)) {
            continue;
        } else if (c == '[') {
            if (parse_header(p) < 0 || end_of_line(p, "a table header") < 0) return -1;
        } else {
            if (parse_keyval(p, p->cur, p->cur_depth) < 0 || end_of_line(p, "a value") < 0)
                return -1;
        }
    }
    return 0;
}

toml_value_t *toml_parse(const char *text, size_t len, const char *source_name, char *err,
                         size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    parser_t p = {0};
    p.s = text ? text : "";
    p.n = text ? len : 0;
    p.source = source_name ? source_name : "<input>";
    p.err = err;
    p.err_size = err_size;
    p.line = 1;
    p.col = 1;
    if (p.n > (size_t)INT_MAX) {
        fail_at(&p, 0, "document is larger than %d bytes", INT_MAX);
        return NULL;
    }
    p.root = value_new(TOML_TABLE, 1, 1);
    p.root->flags = TF_DEFINED;
    p.cur = p.root;
    int rc = parse_document(&p);
    buf_free(&p.str);
    buf_free(&p.key.bytes);
    free(p.key.segs);
    if (rc < 0) {
        toml_free(p.root);
        return NULL;
    }
    return p.root;
}

toml_value_t *toml_parse_file(const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err && err_size) snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf_t b = BUF_INIT;
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, got);
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) {
        if (err && err_size) snprintf(err, err_size, "%s: %s", path, strerror(saved));
        buf_free(&b);
        return NULL;
    }
    toml_value_t *root = toml_parse(b.data, b.len, path, err, err_size);
    buf_free(&b);
    return root;
}
