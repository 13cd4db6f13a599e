/* origin.c - classifying a request's page origin against the server and the allowed origins
 * (see origin.h for the rule and why). */
#include "auth/origin.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"

void origin_policy_init(origin_policy_t *p, const char *const *origins, size_t n)
{
    p->allowed = xcalloc(n ? n : 1, sizeof(char *));
    p->nallowed = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(origins[i], "*") == 0) continue;
        size_t len = strlen(origins[i]);
        while (len && origins[i][len - 1] == '/') /* "https://app.example/" means the origin */
            len--;
        p->allowed[p->nallowed++] = xmemdup0(origins[i], len);
    }
}

void origin_policy_free(origin_policy_t *p)
{
    for (size_t i = 0; i < p->nallowed; i++)
        free(p->allowed[i]);
    free(p->allowed);
    p->allowed = NULL;
    p->nallowed = 0;
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int origin_parse(const char *v, size_t len, size_t *origin_len, const char **auth,
                 size_t *auth_len)
{
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://" */
    size_t i = 0;
    if (!len || !is_alpha(v[0])) return 0;
    while (i < len && (is_alpha(v[i]) || (v[i] >= '0' && v[i] <= '9') || v[i] == '+' ||
                       v[i] == '-' || v[i] == '.'))
        i++;
    if (len - i < 3 || memcmp(v + i, "://", 3) != 0) return 0;
    size_t start = i + 3, end = start;
    while (end < len && v[end] != '/' && v[end] != '?' && v[end] != '#')
        end++;
    if (end == start) return 0;
    for (size_t k = start; k < end; k++) /* no userinfo, blanks or control bytes */
        if (v[k] == '@' || (unsigned char)v[k] <= ' ' || v[k] == 0x7f) return 0;
    *origin_len = end;
    *auth = v + start;
    *auth_len = end - start;
    return 1;
}

origin_verdict_t origin_classify(const origin_policy_t *p, const http_request_t *req)
{
    const char *v = http_request_header(req, "origin");
    if (!v) v = http_request_header(req, "referer");
    if (!v) return ORIGIN_ABSENT;
    size_t len = strlen(v), origin_len, auth_len;
    const char *auth;
    if (!origin_parse(v, len, &origin_len, &auth, &auth_len)) return ORIGIN_FOREIGN; /* "null" */
    const char *host = http_request_header(req, "host");
    if (host && strlen(host) == auth_len && strncasecmp(host, auth, auth_len) == 0)
        return ORIGIN_SAME;
    for (size_t i = 0; i < p->nallowed; i++)
        if (strlen(p->allowed[i]) == origin_len && strncasecmp(p->allowed[i], v, origin_len) == 0)
            return ORIGIN_LISTED;
    return ORIGIN_FOREIGN;
}

int origin_allows_cookie(const origin_policy_t *p, const http_request_t *req)
{
    return origin_classify(p, req) != ORIGIN_FOREIGN;
}
