/* test_toml.c - the TOML 1.0 parser: fixture corpus (tests/toml/valid with the
 * expected toml-test tagged JSON, tests/toml/invalid that must all fail), error
 * positions, the lookup API, JSON output, limits and malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "config/toml.h"

#define FIXTURES IOGATE_SOURCE_DIR "/tests/toml"

static toml_value_t *parse_str(const char *doc, char *err, size_t err_size)
{
    return toml_parse(doc, strlen(doc), "t.toml", err, err_size);
}

/* Sorted *.toml names of a fixture directory. */
static size_t list_fixtures(const char *dir, char ***names)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0, cap = 0;
    *names = NULL;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".toml") != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            *names = xrealloc(*names, cap * sizeof(**names));
        }
        (*names)[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* insertion sort: small lists, stable order in failures */
        for (size_t j = i; j > 0 && strcmp((*names)[j - 1], (*names)[j]) > 0; j--) {
            char *t = (*names)[j];
            (*names)[j] = (*names)[j - 1];
            (*names)[j - 1] = t;
        }
    return n;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int read_whole(const char *path, buf_t *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(out, chunk, got);
    fclose(f);
    return 0;
}

/* Like json_equal, but tagged floats compare as numbers (nan equals nan, -0 differs from 0)
 * and tables must list the same keys in the same order. */
static int tagged_equal(json_t *want, json_t *have, buf_t *where)
{
    if (json_is_object(want)) {
        if (!json_is_object(have) || json_object_size(want) != json_object_size(have)) return 0;
        json_t *type = json_object_get(want, "type");
        if (json_object_size(want) == 2 && json_is_string(type) &&
            strcmp(json_string_value(type), "float") == 0) {
            json_t *htype = json_object_get(have, "type");
            if (!json_is_string(htype) || strcmp(json_string_value(htype), "float") != 0) return 0;
            const char *w = json_string_value(json_object_get(want, "value"));
            const char *h = json_string_value(json_object_get(have, "value"));
            if (!w || !h) return 0;
            double dw = strtod(w, NULL), dh = strtod(h, NULL);
            if (isnan(dw) || isnan(dh)) return isnan(dw) && isnan(dh);
            return dw == dh && signbit(dw) == signbit(dh);
        }
        void *wi = json_object_iter(want), *hi = json_object_iter(have);
        for (; wi && hi;
             wi = json_object_iter_next(want, wi), hi = json_object_iter_next(have, hi)) {
            const char *k = json_object_iter_key(wi);
            if (strcmp(k, json_object_iter_key(hi)) != 0) {
                buf_printf(where, " key order: want '%s' have '%s'", k, json_object_iter_key(hi));
                return 0;
            }
            if (!tagged_equal(json_object_iter_value(wi), json_object_iter_value(hi), where)) {
                buf_printf(where, " <- %s", k);
                return 0;
            }
        }
        return 1;
    }
    if (json_is_array(want)) {
        if (!json_is_array(have) || json_array_size(want) != json_array_size(have)) return 0;
        for (size_t i = 0; i < json_array_size(want); i++) {
            if (!tagged_equal(json_array_get(want, i), json_array_get(have, i), where)) {
                buf_printf(where, " <- [%zu]", i);
                return 0;
            }
        }
        return 1;
    }
    return json_equal(want, have);
}

/* Checks "SOURCE:LINE:COLUMN: message" with positive line and column. */
static void assert_error_shape(const char *err, const char *source)
{
    size_t n = strlen(source);
    assert_true(strncmp(err, source, n) == 0);
    int line = 0, column = 0, used = 0;
    assert_int_equal(sscanf(err + n, ":%d:%d: %n", &line, &column, &used), 2);
    assert_true(line >= 1);
    assert_true(column >= 1);
    assert_true(used > 0 && err[n + (size_t)used] != '\0');
}

/* ---- fixture corpus ------------------------------------------------------------------- */

static void valid_fixtures_match_expected_json(void **state)
{
    (void)state;
    char **names;
    size_t n = list_fixtures(FIXTURES "/valid", &names);
    assert_true(n >= 30);
    for (size_t i = 0; i < n; i++) {
        char path[1024], err[512];
        snprintf(path, sizeof(path), "%s/%s", FIXTURES "/valid", names[i]);
        toml_value_t *root = toml_parse_file(path, err, sizeof(err));
        if (!root) fail_msg("%s refused: %s", names[i], err);
        buf_t out = BUF_INIT;
        toml_write_json(root, TOML_JSON_TAGGED, &out);
        toml_free(root);

        char json_path[1024];
        snprintf(json_path, sizeof(json_path), "%.*s.json", (int)(strlen(path) - 5), path);
        json_error_t jerr;
        json_t *want = json_load_file(json_path, JSON_ALLOW_NUL, &jerr);
        if (!want) fail_msg("%s: %s", json_path, jerr.text);
        json_t *have = json_loadb(out.data, out.len, JSON_ALLOW_NUL, &jerr);
        if (!have) fail_msg("%s: output is not JSON (%s): %s", names[i], jerr.text, out.data);
        buf_t where = BUF_INIT;
        if (!tagged_equal(want, have, &where))
            fail_msg("%s: output differs%s\n%s", names[i], where.data ? where.data : "", out.data);
        buf_free(&where);
        json_decref(want);
        json_decref(have);
        buf_free(&out);
    }
    free_names(names, n);
}

static void invalid_fixtures_fail(void **state)
{
    (void)state;
    char **names;
    size_t n = list_fixtures(FIXTURES "/invalid", &names);
    assert_true(n >= 100);
    for (size_t i = 0; i < n; i++) {
        char path[1024], err[512];
        snprintf(path, sizeof(path), "%s/%s", FIXTURES "/invalid", names[i]);
        toml_value_t *root = toml_parse_file(path, err, sizeof(err));
        if (root) {
            toml_free(root);
            fail_msg("%s was accepted", names[i]);
        }
        assert_error_shape(err, path);
    }
    free_names(names, n);
}

/* Every prefix and many one-byte changes of every valid fixture: no crash, no leak, and a
 * refusal always carries a well-formed message. */
static void fixture_prefixes_and_mutations_are_safe(void **state)
{
    (void)state;
    static const char mutations[] = {'\0', '"', '[', '\n', '=', '\\', '.', (char)0xC3};
    char **names;
    size_t n = list_fixtures(FIXTURES "/valid", &names);
    size_t refused = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1024], err[512];
        snprintf(path, sizeof(path), "%s/%s", FIXTURES "/valid", names[i]);
        buf_t doc = BUF_INIT;
        assert_int_equal(read_whole(path, &doc), 0);
        char *copy = xmemdup0(doc.data ? doc.data : "", doc.len);
        for (size_t len = 0; len < doc.len; len++) {
            toml_value_t *root = toml_parse(copy, len, "p", err, sizeof(err));
            if (!root) {
                assert_error_shape(err, "p");
                refused++;
            }
            toml_free(root);
        }
        for (size_t pos = 0; pos < doc.len; pos++) {
            char saved = copy[pos];
            for (size_t m = 0; m < sizeof(mutations); m++) {
                copy[pos] = mutations[m];
                toml_value_t *root = toml_parse(copy, doc.len, "m", err, sizeof(err));
                if (!root) assert_error_shape(err, "m");
                toml_free(root);
            }
            copy[pos] = saved;
        }
        free(copy);
        buf_free(&doc);
    }
    assert_true(refused > 100);
    free_names(names, n);
}

/* ---- error messages and positions ------------------------------------------------------ */

static void errors_name_line_and_column(void **state)
{
    (void)state;
    static const struct {
        const char *doc, *err;
    } cases[] = {
        {"a = 1\na = 2\n", "t.toml:2:1: duplicate key 'a'"},
        {"[t]\nx.y = 1\nx.y = 2\n", "t.toml:3:3: duplicate key 'x.y'"},
        {"a = 1 b = 2\n", "t.toml:1:7: expected a newline after a value"},
        {"a = \"x\\qy\"\n", "t.toml:1:7: invalid escape sequence '\\q'"},
        {"a = \"\\e\"\n", "t.toml:1:6: invalid escape sequence '\\e'"},
        {"a = \"\\x41\"\n", "t.toml:1:6: invalid escape sequence '\\x'"},
        {"k = \"\xc3\xa9\xc3\xa9\\q\"\n", "t.toml:1:8: invalid escape sequence '\\q'"},
        {"a = \"\\uD800\"\n", "t.toml:1:6: escape is not a Unicode scalar value (U+D800)"},
        {"a = \"\\u12\"\n", "t.toml:1:6: \\u escape needs 4 hexadecimal digits"},
        {"a = 01\n", "t.toml:1:5: leading zeros are not allowed in a number"},
        {"a = 1__0\n", "t.toml:1:5: an underscore in a number must be between digits"},
        {"a = 9223372036854775808\n", "t.toml:1:5: integer does not fit in 64 bits"},
        {"a = 0x8000000000000000\n", "t.toml:1:5: integer does not fit in 64 bits"},
        {"a = 1.\n", "t.toml:1:5: a decimal point must be followed by digits"},
        {"a = 1e\n", "t.toml:1:5: an exponent must have digits"},
        {"a = 1e400\n", "t.toml:1:5: float is out of range"},
        {"a = +0x1\n", "t.toml:1:5: a sign is not allowed on a non-decimal integer"},
        {"a = 2023-02-29\n", "t.toml:1:5: date out of range"},
        {"a = 24:00:00\n", "t.toml:1:5: time out of range"},
        {"a = 12:00\n", "t.toml:1:5: invalid time, expected HH:MM:SS"},
        {"\n\n  a = \n", "t.toml:3:7: missing value"},
        {"a = \"one\ntwo\"\n", "t.toml:1:9: newline in a single-line string"},
        {"\n\na = \"\"\"x\n\ny", "t.toml:3:5: unterminated string"},
        {"a = [1,\n2\n", "t.toml:1:5: unterminated array"},
        {"a = [1 2]\n", "t.toml:1:8: expected ',' or ']' in array"},
        {"a = {b = 1,}\n", "t.toml:1:12: trailing comma in inline table"},
        {"a = {b = 1\n}\n", "t.toml:1:11: newline in inline table"},
        {"a = {b = 1}\na.c = 2\n", "t.toml:2:1: cannot add keys to table 'a' defined elsewhere"},
        {"[a]\n[a]\n", "t.toml:2:2: table 'a' is already defined"},
        {"[a]\nb.c = 1\n[a.b]\n", "t.toml:3:4: table 'a.b' is already defined"},
        {"[a.b]\n[a]\nb.c = 1\n", "t.toml:3:1: cannot add keys to table 'b' defined elsewhere"},
        {"a = [1]\n[[a]]\n", "t.toml:2:3: cannot append to static array 'a' with [[ ]]"},
        {"a = {}\n[a.b]\n", "t.toml:2:2: cannot extend inline table 'a'"},
        {"a = 1\n[a.b]\n", "t.toml:2:2: key 'a' is already defined and is not a table"},
        {"[a\n", "t.toml:1:3: expected ']' to close the table header"},
        {"[[a]\n", "t.toml:1:5: expected ']]' to close the array header"},
        {"a b = 1\n", "t.toml:1:3: expected '=' after key (keys with spaces must be quoted)"},
        {"= 1\n", "t.toml:1:1: missing key before '='"},
        {"\xc3\xa9 = 1\n", "t.toml:1:1: invalid character in key"},
        {"# ok\n# \x01\n", "t.toml:2:3: control character U+0001 in comment"},
        {"a = 1\n\xff\n", "t.toml:2:1: invalid UTF-8 byte 0xFF"},
        {"a = 'x\xe2\x82'\n", "t.toml:1:7: invalid UTF-8 sequence starting with byte 0xE2"},
        {"a = 1\r\n\r\nb = \"\t\x7f\"\r\n", "t.toml:3:7: control character U+007F in string"},
        {"a = 1\rb = 2\n", "t.toml:1:6: carriage return without line feed"},
        {"\xef\xbb\xbf"
         "a = @\n",
         "t.toml:1:5: invalid value"},
        {"a = 1\n\xef\xbb\xbf"
         "b = 1\n",
         "t.toml:2:1: invalid character in key"},
        {"a = \"\"\"x\"\"\"\"\"\"\n",
         "t.toml:1:14: too many quotes at the end of a multi-line string"},
        {"a = \"\"\"x \\ y\"\"\"\n",
         "t.toml:1:10: a line-ending backslash must be last on its line"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256];
        toml_value_t *root = parse_str(cases[i].doc, err, sizeof(err));
        if (root) {
            toml_free(root);
            fail_msg("case %zu was accepted", i);
        }
        if (strcmp(err, cases[i].err) != 0)
            fail_msg("case %zu:\n  want %s\n  have %s", i, cases[i].err, err);
    }
}

static void error_buffer_is_optional_and_truncated(void **state)
{
    (void)state;
    assert_null(parse_str("a = \n", NULL, 0));
    char small[8];
    memset(small, 'x', sizeof(small));
    assert_null(parse_str("a = \n", small, sizeof(small)));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, "t.toml:", 7);
    char err[128];
    assert_null(toml_parse("a = 1\na = 2", 11, NULL, err, sizeof(err)));
    assert_string_equal(err, "<input>:2:1: duplicate key 'a'");
    /* A success clears the buffer. */
    toml_value_t *root = parse_str("", err, sizeof(err));
    assert_non_null(root);
    assert_string_equal(err, "");
    toml_free(root);
    root = toml_parse(NULL, 0, "n", err, sizeof(err));
    assert_non_null(root);
    assert_int_equal(root->u.table.len, 0);
    toml_free(root);
}

static void parse_file_reports_io_errors(void **state)
{
    (void)state;
    char err[512];
    const char *missing = FIXTURES "/no-such-file.toml";
    assert_null(toml_parse_file(missing, err, sizeof(err)));
    assert_true(strncmp(err, missing, strlen(missing)) == 0);
    assert_non_null(strstr(err, "No such file"));
    /* A directory opens but does not read. */
    assert_null(toml_parse_file(FIXTURES, err, sizeof(err)));
    assert_true(strncmp(err, FIXTURES ":", strlen(FIXTURES) + 1) == 0);
}

/* ---- API --------------------------------------------------------------------------- */

static void lookup_types_and_positions(void **state)
{
    (void)state;
    const char *doc = "title = \"x\"\n"
                      "# comment\n"
                      "[server]\n"
                      "  port   = 3000\n"
                      "  \"h\xc3\xa9\" = 1.5\n"
                      "  nested.on = true\n"
                      "[server.tls]\n"
                      "list = [ 1,\n"
                      "   \"two\" ]\n"
                      "[[plugin]]\n"
                      "name = 'a'\n"
                      "[[plugin]]\n"
                      "name = 'b'\n";
    char err[256];
    toml_value_t *root = parse_str(doc, err, sizeof(err));
    assert_non_null(root);
    assert_int_equal(root->type, TOML_TABLE);
    assert_int_equal(root->u.table.len, 3);
    assert_string_equal(root->u.table.items[0].key, "title");
    assert_string_equal(root->u.table.items[1].key, "server");
    assert_string_equal(root->u.table.items[2].key, "plugin");

    const toml_value_t *server = toml_table_get(root, "server");
    assert_non_null(server);
    assert_int_equal(server->type, TOML_TABLE);
    assert_int_equal(server->line, 3);
    assert_int_equal(server->column, 1);
    const toml_keyval_t *port = toml_table_entry(server, "port");
    assert_non_null(port);
    assert_int_equal(port->line, 4);
    assert_int_equal(port->column, 3);
    assert_int_equal(port->value->type, TOML_INTEGER);
    assert_int_equal(port->value->u.integer, 3000);
    assert_int_equal(port->value->line, 4);
    assert_int_equal(port->value->column, 12);
    /* Columns count characters: the é is one column. */
    const toml_keyval_t *he = toml_table_entry(server, "h\xc3\xa9");
    assert_non_null(he);
    assert_int_equal(he->key_len, 3);
    assert_int_equal(he->column, 3);
    assert_int_equal(he->value->column, 10);
    assert_true(he->value->u.floating == 1.5);
    const toml_value_t *nested = toml_table_get(server, "nested");
    assert_int_equal(nested->type, TOML_TABLE);
    assert_int_equal(toml_table_get(nested, "on")->u.boolean, 1);

    const toml_value_t *tls = toml_table_get(server, "tls");
    const toml_value_t *list = toml_table_get(tls, "list");
    assert_int_equal(list->type, TOML_ARRAY);
    assert_int_equal(list->u.array.len, 2);
    assert_int_equal(list->u.array.items[1]->type, TOML_STRING);
    assert_int_equal(list->u.array.items[1]->line, 9);
    assert_int_equal(list->u.array.items[1]->column, 4);
    assert_string_equal(list->u.array.items[1]->u.string.ptr, "two");

    const toml_value_t *plugin = toml_table_get(root, "plugin");
    assert_int_equal(plugin->type, TOML_ARRAY);
    assert_int_equal(plugin->u.array.len, 2);
    assert_int_equal(plugin->u.array.items[1]->line, 12);
    assert_string_equal(toml_table_get(plugin->u.array.items[1], "name")->u.string.ptr, "b");

    assert_null(toml_table_get(root, "missing"));
    assert_null(toml_table_get(NULL, "x"));
    assert_null(toml_table_get(root, NULL));
    assert_null(toml_table_get(plugin, "name")); /* not a table */
    assert_null(toml_table_entry(toml_table_get(root, "title"), "x"));
    toml_free(root);
    toml_free(NULL);
}

static void implicit_table_takes_its_definition_position(void **state)
{
    (void)state;
    char err[256];
    toml_value_t *root = parse_str("[a.b]\nx = 1\n\n[a]\ny = 2\n", err, sizeof(err));
    assert_non_null(root);
    const toml_keyval_t *a = toml_table_entry(root, "a");
    assert_int_equal(a->line, 4);
    assert_int_equal(a->column, 2);
    assert_int_equal(a->value->line, 4);
    assert_int_equal(toml_table_entry(a->value, "b")->line, 1);
    toml_free(root);
}

static void type_names(void **state)
{
    (void)state;
    assert_string_equal(toml_type_name(TOML_STRING), "string");
    assert_string_equal(toml_type_name(TOML_INTEGER), "integer");
    assert_string_equal(toml_type_name(TOML_FLOAT), "float");
    assert_string_equal(toml_type_name(TOML_BOOL), "bool");
    assert_string_equal(toml_type_name(TOML_DATETIME), "datetime");
    assert_string_equal(toml_type_name(TOML_DATETIME_LOCAL), "datetime-local");
    assert_string_equal(toml_type_name(TOML_DATE_LOCAL), "date-local");
    assert_string_equal(toml_type_name(TOML_TIME_LOCAL), "time-local");
    assert_string_equal(toml_type_name(TOML_ARRAY), "array");
    assert_string_equal(toml_type_name(TOML_TABLE), "table");
    assert_string_equal(toml_type_name((toml_type_t)99), "unknown");
}

static void datetime_fields(void **state)
{
    (void)state;
    char err[256], text[64];
    toml_value_t *root = parse_str("a = 1979-05-27T07:32:00.25-07:30\n"
                                   "b = 2000-02-29 23:59:60z\n"
                                   "c = 1979-05-27T00:32:00.1234567891\n"
                                   "d = 2024-02-29\n"
                                   "e = 07:32:05.007\n",
                                   err, sizeof(err));
    assert_non_null(root);
    const toml_value_t *a = toml_table_get(root, "a");
    assert_int_equal(a->type, TOML_DATETIME);
    const toml_datetime_t *dt = &a->u.datetime;
    assert_int_equal(dt->year, 1979);
    assert_int_equal(dt->month, 5);
    assert_int_equal(dt->day, 27);
    assert_int_equal(dt->hour, 7);
    assert_int_equal(dt->minute, 32);
    assert_int_equal(dt->second, 0);
    assert_int_equal(dt->nanosecond, 250000000);
    assert_int_equal(dt->frac_digits, 2);
    assert_int_equal(dt->offset_minutes, -450);
    assert_int_equal(dt->offset_is_z, 0);
    assert_int_equal(toml_datetime_format(a->type, dt, text, sizeof(text)), 28);
    assert_string_equal(text, "1979-05-27T07:32:00.25-07:30");

    const toml_value_t *b = toml_table_get(root, "b");
    assert_int_equal(b->type, TOML_DATETIME);
    assert_int_equal(b->u.datetime.offset_is_z, 1);
    assert_int_equal(b->u.datetime.second, 60);
    toml_datetime_format(b->type, &b->u.datetime, text, sizeof(text));
    assert_string_equal(text, "2000-02-29T23:59:60Z");

    const toml_value_t *c = toml_table_get(root, "c");
    assert_int_equal(c->type, TOML_DATETIME_LOCAL);
    assert_int_equal(c->u.datetime.nanosecond, 123456789);
    assert_int_equal(c->u.datetime.frac_digits, 9);

    const toml_value_t *d = toml_table_get(root, "d");
    assert_int_equal(d->type, TOML_DATE_LOCAL);
    assert_int_equal(d->u.datetime.hour, 0);
    toml_datetime_format(d->type, &d->u.datetime, text, sizeof(text));
    assert_string_equal(text, "2024-02-29");

    const toml_value_t *e = toml_table_get(root, "e");
    assert_int_equal(e->type, TOML_TIME_LOCAL);
    assert_int_equal(e->u.datetime.year, 0);
    assert_int_equal(e->u.datetime.nanosecond, 7000000);
    toml_datetime_format(e->type, &e->u.datetime, text, 6);
    assert_string_equal(text, "07:32"); /* truncated to the buffer */
    toml_free(root);
}

static void strings_and_keys_may_hold_nul(void **state)
{
    (void)state;
    char err[256];
    toml_value_t *root = parse_str("\"k\\u0000x\" = \"a\\u0000b\"\n", err, sizeof(err));
    assert_non_null(root);
    const toml_keyval_t *kv = toml_table_entry_n(root, "k\0x", 3);
    assert_non_null(kv);
    assert_int_equal(kv->key_len, 3);
    assert_int_equal(kv->value->u.string.len, 3);
    assert_memory_equal(kv->value->u.string.ptr, "a\0b", 4);
    assert_null(toml_table_entry(root, "k")); /* the C-string lookup stops at the NUL */
    toml_free(root);
}

/* Keys made only of empty segments: their bytes start at an empty buffer, which must not be
 * a null pointer (found by fuzz_toml under clang's -fsanitize=pointer-overflow). */
static void empty_keys(void **state)
{
    (void)state;
    char err[256];
    toml_value_t *root = parse_str("'' = 1\n\"\".'' = 2\n", err, sizeof(err));
    assert_null(root); /* "" is an integer, then used as a table */
    assert_non_null(strstr(err, "t.toml:2:"));

    root = parse_str("'' = 1\n[a]\n\"\" = 2\n", err, sizeof(err));
    assert_non_null(root);
    const toml_keyval_t *kv = toml_table_entry_n(root, "", 0);
    assert_non_null(kv);
    assert_int_equal(kv->key_len, 0);
    toml_free(root);

    assert_null(parse_str("''=*", err, sizeof(err)));
    assert_null(parse_str("'' = 1\n'' = 2\n", err, sizeof(err)));
    assert_non_null(strstr(err, "t.toml:2:"));
}

static void plain_json_output(void **state)
{
    (void)state;
    char err[256];
    toml_value_t *root = parse_str("s = \"q\\\"\\\\\\n\\u0001\"\n"
                                   "i = -9223372036854775808\n"
                                   "f = [1.0, 0.1, -0.0, 1e300, inf, -inf, nan, 3.0e-5]\n"
                                   "b = false\n"
                                   "d = [1979-05-27T07:32:00Z, 1979-05-27T07:32:00.5, 1979-05-27,"
                                   " 07:32:00]\n"
                                   "[t]\n"
                                   "z = {}\n"
                                   "a = []\n",
                                   err, sizeof(err));
    assert_non_null(root);
    buf_t out = BUF_INIT;
    toml_write_json(root, 0, &out);
    assert_string_equal(out.data,
                        "{\"s\":\"q\\\"\\\\\\n\\u0001\",\"i\":-9223372036854775808,"
                        "\"f\":[1.0,0.1,-0.0,1e+300,\"inf\",\"-inf\",\"nan\",3e-05],"
                        "\"b\":false,"
                        "\"d\":[\"1979-05-27T07:32:00Z\",\"1979-05-27T07:32:00.5\",\"1979-05-27\","
                        "\"07:32:00\"],\"t\":{\"z\":{},\"a\":[]}}");
    buf_reset(&out);
    toml_write_json(toml_table_get(root, "b"), TOML_JSON_TAGGED, &out);
    assert_string_equal(out.data, "{\"type\":\"bool\",\"value\":\"false\"}");
    buf_reset(&out);
    toml_write_json(toml_table_get(root, "t"), TOML_JSON_PRETTY, &out);
    assert_string_equal(out.data, "{\n  \"z\": {},\n  \"a\": []\n}");
    buf_free(&out);
    toml_free(root);
}

/* ---- limits and malformed input --------------------------------------------------------- */

static void large_document_parses(void **state)
{
    (void)state;
    buf_t doc = BUF_INIT;
    buf_append_str(&doc, "[big]\n");
    for (int i = 0; i < 100000; i++)
        buf_printf(&doc, "key_%06d = \"%070d\"\n", i, i);
    buf_append_str(&doc, "[arr]\nv = [");
    for (int i = 0; i < 100000; i++)
        buf_printf(&doc, "%d,", i);
    buf_append_str(&doc, "]\n");
    for (int i = 0; i < 20000; i++)
        buf_printf(&doc, "[[aot]]\nn = %d\n", i);
    assert_true(doc.len > 8 * 1000 * 1000);
    char err[256];
    /* Linear work takes ~0.1 s unsanitized; quadratic lookups would take minutes, past the
     * test's ctest timeout. No clock here: a busy machine must not fail it. */
    toml_value_t *root = toml_parse(doc.data, doc.len, "big", err, sizeof(err));
    assert_non_null(root);
    const toml_value_t *big = toml_table_get(root, "big");
    assert_int_equal(big->u.table.len, 100000);
    for (int i = 0; i < 100000; i += 997) {
        char key[32];
        snprintf(key, sizeof(key), "key_%06d", i);
        const toml_keyval_t *kv = toml_table_entry(big, key);
        assert_non_null(kv);
        assert_int_equal(kv->line, i + 2);
        assert_int_equal(atoi(kv->value->u.string.ptr), i);
    }
    assert_null(toml_table_get(big, "key_100000"));
    assert_int_equal(toml_table_get(toml_table_get(root, "arr"), "v")->u.array.len, 100000);
    assert_int_equal(toml_table_get(root, "aot")->u.array.len, 20000);
    toml_free(root);

    /* Duplicate detection goes through the index too. */
    buf_append_str(&doc, "[big]\n");
    assert_null(toml_parse(doc.data, doc.len, "big", err, sizeof(err)));
    assert_non_null(strstr(err, "table 'big' is already defined"));
    buf_free(&doc);
}

static void long_single_line_is_linear(void **state)
{
    (void)state;
    buf_t doc = BUF_INIT;
    buf_append_str(&doc, "a = [");
    for (int i = 0; i < 300000; i++)
        buf_append_str(&doc, "\"\xc3\xa9\", ");
    buf_append_str(&doc, "x]");
    char err[256];
    /* Quadratic column counting would run past the ctest timeout; no clock here. */
    assert_null(toml_parse(doc.data, doc.len, "long", err, sizeof(err)));
    /* The column counts characters: 5 + 300000 * 5 + 1. */
    assert_string_equal(err, "long:1:1500006: invalid value");
    buf_free(&doc);
}

static void nesting_is_limited(void **state)
{
    (void)state;
    char err[256];
    buf_t doc = BUF_INIT;
    buf_append_str(&doc, "a = ");
    for (int i = 0; i < 100000; i++)
        buf_append_byte(&doc, '[');
    assert_null(toml_parse(doc.data, doc.len, "deep", err, sizeof(err)));
    assert_string_equal(err, "deep:1:133: nesting is deeper than 128 levels");

    buf_reset(&doc);
    buf_append_str(&doc, "a = ");
    for (int i = 0; i < 100000; i++)
        buf_append_str(&doc, "{b=");
    assert_null(toml_parse(doc.data, doc.len, "deep", err, sizeof(err)));
    assert_non_null(strstr(err, "nesting is deeper than 128 levels"));

    buf_reset(&doc);
    buf_append_byte(&doc, '[');
    for (int i = 0; i < 100000; i++)
        buf_append_str(&doc, i ? ".a" : "a");
    buf_append_str(&doc, "]\n");
    assert_null(toml_parse(doc.data, doc.len, "deep", err, sizeof(err)));
    assert_non_null(strstr(err, "nests deeper than the limit"));

    /* Exactly the limit is fine: root > a > 127 more arrays. */
    buf_reset(&doc);
    buf_append_str(&doc, "a = ");
    for (int i = 0; i < TOML_MAX_DEPTH; i++)
        buf_append_byte(&doc, '[');
    for (int i = 0; i < TOML_MAX_DEPTH; i++)
        buf_append_byte(&doc, ']');
    toml_value_t *root = toml_parse(doc.data, doc.len, "deep", err, sizeof(err));
    assert_non_null(root);
    toml_free(root);
    buf_free(&doc);
}

/* Small deterministic generator: tests keep no global state. */
static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void garbage_never_crashes(void **state)
{
    (void)state;
    static const char *tokens[] = {
        "[",          "]",        "[[",   "]]",  "{",  "}",      "=",        ".",    ",",   "\n",
        "\r\n",       " ",        "#",    "\"",  "'",  "\"\"\"", "'''",      "\\",   "\\u", "a",
        "b",          "1",        "0x",   "1e",  "-",  "+",      "_",        ":",    "T",   "Z",
        "1979-05-27", "07:32:00", "true", "inf", "\t", "\x01",   "\xc3\xa9", "\xff", "nan", "\"a\"",
    };
    uint32_t seed = 12345;
    char err[256];
    buf_t doc = BUF_INIT;
    for (int round = 0; round < 20000; round++) {
        buf_reset(&doc);
        int len = (int)(next_rand(&seed) % 40);
        if (round % 2) {
            for (int i = 0; i < len * 4; i++)
                buf_append_byte(&doc, (uint8_t)next_rand(&seed));
        } else {
            for (int i = 0; i < len; i++)
                buf_append_str(&doc, tokens[next_rand(&seed) % (sizeof(tokens) / sizeof(*tokens))]);
        }
        toml_value_t *root = toml_parse(doc.data, doc.len, "g", err, sizeof(err));
        if (!root) {
            assert_error_shape(err, "g");
        } else {
            buf_t out = BUF_INIT;
            toml_write_json(root, TOML_JSON_TAGGED, &out);
            json_error_t jerr;
            json_t *j = json_loadb(out.data, out.len, JSON_ALLOW_NUL, &jerr);
            if (!j) fail_msg("output is not JSON: %s", out.data);
            json_decref(j);
            buf_free(&out);
            toml_free(root);
        }
    }
    buf_free(&doc);
}

/* ---- the toml2json tool ------------------------------------------------------------------ */

static int run(const char *cmd)
{
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void toml2json_exit_codes(void **state)
{
    (void)state;
    const char *tool = IOGATE_BINARY_DIR "/toml2json";
    struct stat st;
    if (stat(tool, &st) != 0) skip();
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s --tagged %s/valid/spec-example.toml >/dev/null", tool, FIXTURES);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s - < %s/valid/iogate-config.toml >/dev/null", tool, FIXTURES);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s %s/invalid/key-duplicate.toml 2>/dev/null", tool, FIXTURES);
    assert_int_equal(run(cmd), 1);
    snprintf(cmd, sizeof(cmd), "%s %s/missing.toml 2>/dev/null", tool, FIXTURES);
    assert_int_equal(run(cmd), 1);
    snprintf(cmd, sizeof(cmd), "%s --bogus 2>/dev/null", tool);
    assert_int_equal(run(cmd), 2);
    snprintf(cmd, sizeof(cmd), "%s a.toml b.toml 2>/dev/null", tool);
    assert_int_equal(run(cmd), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_fixtures_match_expected_json),
        cmocka_unit_test(invalid_fixtures_fail),
        cmocka_unit_test(fixture_prefixes_and_mutations_are_safe),
        cmocka_unit_test(errors_name_line_and_column),
        cmocka_unit_test(error_buffer_is_optional_and_truncated),
        cmocka_unit_test(parse_file_reports_io_errors),
        cmocka_unit_test(lookup_types_and_positions),
        cmocka_unit_test(implicit_table_takes_its_definition_position),
        cmocka_unit_test(type_names),
        cmocka_unit_test(datetime_fields),
        cmocka_unit_test(strings_and_keys_may_hold_nul),
        cmocka_unit_test(empty_keys),
        cmocka_unit_test(plain_json_output),
        cmocka_unit_test(large_document_parses),
        cmocka_unit_test(long_single_line_is_linear),
        cmocka_unit_test(nesting_is_limited),
        cmocka_unit_test(garbage_never_crashes),
        cmocka_unit_test(toml2json_exit_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
