/* notif_util.c - validation, timestamps and cursors for the notifications
 * plugin. Pure functions only (see notif_util.h). */
#include "notif_util.h"

#include <stdio.h>
#include <string.h>

const char *const notif_type_names[NOTIF_TYPE_COUNT] = {"notification", "info", "warning", "error",
                                                        "success"};

int notif_type_parse(const char *name, size_t len)
{
    if (!name) return -1;
    for (int i = 0; i < NOTIF_TYPE_COUNT; i++)
        if (strlen(notif_type_names[i]) == len && memcmp(notif_type_names[i], name, len) == 0)
            return i;
    return -1;
}

size_t notif_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++; /* every byte but continuations */
    return n;
}

/* Days since 1970-01-01 -> proleptic Gregorian date, on 400-year eras of
 * 146097 days counted from 0000-03-01 (so the leap day ends a year). */
static void civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468; /* 0000-03-01 -> 1970-01-01 */
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;                                   /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* March = 0 */
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}

/* v as exactly width decimal digits at p (v < 10^width), no NUL. */
static void put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

int notif_iso8601(int64_t ms, char *out, size_t out_size)
{
    if (!out || out_size < NOTIF_ISO_LEN + 1) return -1;
    int64_t secs = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        secs--;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t year;
    int month, day;
    civil_from_days(days, &year, &month, &day);
    if (year < 0 || year > 9999) return -1;
    /* Written field by field: every value is in range here, which snprintf's length check
     * (-Wformat-truncation) cannot know. */
    memcpy(out, "0000-00-00T00:00:00.000Z", NOTIF_ISO_LEN + 1);
    put_digits(out, (unsigned)year, 4);
    put_digits(out + 5, (unsigned)month, 2);
    put_digits(out + 8, (unsigned)day, 2);
    put_digits(out + 11, (unsigned)(sod / 3600), 2);
    put_digits(out + 14, (unsigned)(sod / 60 % 60), 2);
    put_digits(out + 17, (unsigned)(sod % 60), 2);
    put_digits(out + 20, (unsigned)rem, 3);
    return 0;
}

/* A decimal integer of digits only, at most max; -1 otherwise. */
static int64_t parse_digits(const char *s, int64_t max)
{
    if (!s || !*s) return -1;
    int64_t v = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9') return -1;
        int d = *c - '0';
        if (v > (max - d) / 10) return -1;
        v = v * 10 + d;
    }
    return v;
}

int notif_parse_limit(const char *s, int max)
{
    int64_t v = parse_digits(s, max);
    return v >= 1 ? (int)v : -1;
}

int64_t notif_cursor_parse(const char *s)
{
    if (!s || s[0] == '0') return -1; /* one spelling per id: no leading zeros */
    int64_t v = parse_digits(s, INT64_MAX);
    return v >= 1 ? v : -1;
}

int notif_cursor_format(int64_t id, char *out, size_t out_size)
{
    if (id < 1 || !out) return -1;
    char digits[24]; /* INT64_MAX has 19 */
    int n = snprintf(digits, sizeof(digits), "%lld", (long long)id);
    if (n <= 0 || (size_t)n >= out_size) return -1;
    memcpy(out, digits, (size_t)n + 1);
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

int notif_is_json_content_type(const char *value)
{
    if (!value) return 0;
    while (is_space(*value))
        value++;
    static const char want[] = "application/json";
    for (size_t i = 0; i < sizeof(want) - 1; i++) {
        char c = value[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != want[i]) return 0;
    }
    const char *rest = value + sizeof(want) - 1;
    while (is_space(*rest))
        rest++;
    return *rest == '\0' || *rest == ';';
}

const char *notif_create_parse(const char *body, size_t len, int for_user,
                               int64_t max_message_chars, notif_create_t *out, char *msg,
                               size_t msg_size)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        snprintf(msg, msg_size, "invalid JSON: %.120s", jerr.text);
        return msg;
    }
    const char *problem = NULL;
    json_t *jmsg = json_object_get(root, "message");
    json_t *jtype = json_object_get(root, "type");
    json_t *juser = json_object_get(root, "userId");
    int type = 0;
    if (!json_is_object(root))
        problem = "the body must be a JSON object";
    else if (!jmsg)
        problem = "message is required";
    else if (!json_is_string(jmsg))
        problem = "message must be a string";
    else if (json_string_length(jmsg) == 0)
        problem = "message must not be empty";
    else if (memchr(json_string_value(jmsg), '\0', json_string_length(jmsg)))
        problem = "message must not contain NUL characters";
    else if ((int64_t)notif_utf8_chars(json_string_value(jmsg), json_string_length(jmsg)) >
             max_message_chars) {
        snprintf(msg, msg_size, "message is longer than %lld characters",
                 (long long)max_message_chars);
        problem = msg;
    } else if (jtype && !json_is_string(jtype))
        problem = "type must be a string";
    else if (jtype &&
             (type = notif_type_parse(json_string_value(jtype), json_string_length(jtype))) < 0)
        problem = "type must be one of notification, info, warning, error, success";
    else if (for_user && !juser)
        problem = "userId is required";
    else if (for_user && !json_is_string(juser))
        problem = "userId must be a string";
    else if (for_user && json_string_length(juser) == 0)
        problem = "userId must not be empty";
    else if (for_user && (json_string_length(juser) > NOTIF_MAX_USER_ID_BYTES ||
                          memchr(json_string_value(juser), '\0', json_string_length(juser))))
        problem = "userId is not a valid user id";
    if (problem) {
        json_decref(root);
        return problem;
    }
    out->root = root;
    out->message = json_string_value(jmsg);
    out->message_len = json_string_length(jmsg);
    out->user_id = for_user ? json_string_value(juser) : NULL;
    out->type = type;
    return NULL;
}

void notif_create_clear(notif_create_t *c)
{
    json_decref(c->root);
    memset(c, 0, sizeof(*c));
}
