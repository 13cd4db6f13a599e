/* fuzz_notif_json.c - libFuzzer target: the input of the notifications plugin's REST
 * routes. The bytes are a create body (POST /notifications and /notifications/broadcast,
 * under two message limits) and, as text, a limit, a cursor and a Content-Type value.
 *
 * Besides crashes it checks what a handler relies on: an accepted body has a message of
 * 1..limit characters of valid UTF-8 without NUL, a known type and (for a user) a user id
 * that fits; whatever the user route accepts the broadcast route accepts; a looser limit
 * accepts what a tighter one does; a refused body leaves nothing to free. The plugin's file
 * is compiled in directly, as in test_notif_util.c (plugins never link into the core). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

#include "../../plugins/notifications/notif_util.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses body and checks the result; returns 1 when it was accepted. */
static int check_create(const char *body, size_t len, int for_user, int64_t limit,
                        notif_create_t *c)
{
    char msg[160];
    const char *problem = notif_create_parse(body, len, for_user, limit, c, msg, sizeof(msg));
    if (problem) {
        if (c->root || !*problem || strlen(problem) >= sizeof(msg)) abort();
        return 0;
    }
    if (!c->root || c->message_len == 0 || memchr(c->message, '\0', c->message_len) ||
        !utf8_valid(c->message, c->message_len) ||
        (int64_t)notif_utf8_chars(c->message, c->message_len) > limit || c->type < 0 ||
        c->type >= NOTIF_TYPE_COUNT)
        abort();
    if (for_user != (c->user_id != NULL)) abort();
    if (c->user_id && (!*c->user_id || strlen(c->user_id) > NOTIF_MAX_USER_ID_BYTES)) abort();
    return 1;
}

static void check_query(const char *s)
{
    int limit = notif_parse_limit(s, 100);
    if (limit != -1 && (limit < 1 || limit > 100)) abort();
    int64_t id = notif_cursor_parse(s);
    if (id != -1) {
        char back[21];
        if (id < 1 || notif_cursor_format(id, back, sizeof(back)) != 0 || strcmp(back, s) != 0)
            abort(); /* one spelling per id */
    }
    (void)notif_is_json_content_type(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    static const int64_t limits[2] = {4, 1000};
    int accepted[2][2];
    for (int l = 0; l < 2; l++) {
        for (int for_user = 0; for_user < 2; for_user++) {
            notif_create_t c;
            accepted[l][for_user] = check_create(body, size, for_user, limits[l], &c);
            notif_create_clear(&c);
        }
        if (accepted[l][1] && !accepted[l][0]) abort();
    }
    if ((accepted[0][0] && !accepted[1][0]) || (accepted[0][1] && !accepted[1][1])) abort();

    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    check_query(text);
    free(text);
    return 0;
}
