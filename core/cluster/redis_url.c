/* redis_url.c - parsing the redis_url setting (see redis_url.h). */
#include "cluster/redis_url.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/errbuf.h"
#include "http/url.h"

#define FORMS "redis://[:password@]host[:port][/db] or unix:///path/to/redis.sock"

/* Parses a non-empty run of decimal digits no greater than max. 0 or -1. */
static int parse_uint(const char *s, size_t len, long max, long *out)
{
    if (len == 0 || len > 10) return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max) return -1;
    *out = v;
    return 0;
}

/* Percent-decodes len bytes into dst (size dstsz). 0, or -1 with err set naming what. */
static int decode_into(char *dst, size_t dstsz, const char *src, size_t len, const char *what,
                       char *err, size_t errsz)
{
    buf_t b = BUF_INIT;
    int rc = -1;
    if (url_decode(&b, src, len, 0) != 0)
        errbuf_set(err, errsz, "bad percent-escape in the %s (%%XX with two hex digits)", what);
    else if (b.len >= dstsz)
        errbuf_set(err, errsz, "%s longer than %zu bytes", what, dstsz - 1);
    else {
        memcpy(dst, b.data, b.len + 1);
        rc = 0;
    }
    buf_free(&b);
    return rc;
}

/* "[user]:password" (the text before '@'). */
static int parse_userinfo(const char *s, size_t len, redis_url_t *out, char *err, size_t errsz)
{
    const char *colon = memchr(s, ':', len);
    if (!colon) {
        errbuf_set(err, errsz, "a user needs a password: user:password@ (or :password@ alone)");
        return -1;
    }
    size_t ulen = (size_t)(colon - s), plen = len - ulen - 1;
    if (plen == 0) {
        errbuf_set(err, errsz, "empty password after ':' (leave out ':@' for no password)");
        return -1;
    }
    if (decode_into(out->user, sizeof(out->user), s, ulen, "user name", err, errsz) != 0) return -1;
    return decode_into(out->password, sizeof(out->password), colon + 1, plen, "password", err,
                       errsz);
}

static int parse_port(const char *s, size_t len, redis_url_t *out, char *err, size_t errsz)
{
    long v;
    if (len == 0) {
        errbuf_set(err, errsz, "missing port after ':'");
        return -1;
    }
    if (parse_uint(s, len, 65535, &v) != 0 || v == 0) {
        errbuf_set(err, errsz, "port must be a number from 1 to 65535: '%.*s'",
                   (int)(len > 16 ? 16 : len), s);
        return -1;
    }
    out->port = (int)v;
    return 0;
}

static int parse_db(const char *s, size_t len, redis_url_t *out, char *err, size_t errsz)
{
    long v;
    if (parse_uint(s, len, INT_MAX, &v) != 0) {
        errbuf_set(err, errsz, "db must be a number from 0 to %d: '%.*s'", INT_MAX,
                   (int)(len > 16 ? 16 : len), s);
        return -1;
    }
    out->db = (int)v;
    return 0;
}

/* host[:port] or [v6][:port]. */
static int parse_hostport(const char *s, size_t len, redis_url_t *out, char *err, size_t errsz)
{
    const char *end = s + len, *port = NULL;
    size_t hlen;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) {
            errbuf_set(err, errsz, "unclosed '[' in the IPv6 address");
            return -1;
        }
        hlen = (size_t)(close - s - 1);
        if (hlen == 0 || hlen >= INET6_ADDRSTRLEN) {
            errbuf_set(err, errsz, "bad IPv6 address '%.*s'", (int)(hlen > 64 ? 64 : hlen), s + 1);
            return -1;
        }
        memcpy(out->host, s + 1, hlen);
        out->host[hlen] = '\0';
        unsigned char addr[16];
        if (inet_pton(AF_INET6, out->host, addr) != 1) {
            errbuf_set(err, errsz, "bad IPv6 address '%s'", out->host);
            return -1;
        }
        if (close + 1 < end) {
            if (close[1] != ':') {
                errbuf_set(err, errsz, "unexpected text after ']': expected ':port'");
                return -1;
            }
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        hlen = colon ? (size_t)(colon - s) : len;
        if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
            errbuf_set(err, errsz, "IPv6 addresses need brackets: redis://[::1]:6379");
            return -1;
        }
        if (hlen == 0) {
            errbuf_set(err, errsz, "missing host (expected " FORMS ")");
            return -1;
        }
        if (hlen >= sizeof(out->host) - 2) {
            errbuf_set(err, errsz, "host longer than 253 bytes");
            return -1;
        }
        for (size_t i = 0; i < hlen; i++) {
            char c = s[i];
            int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '-' || c == '_';
            if (!ok) {
                errbuf_set(err, errsz, "bad character '%c' in host",
                           c >= 0x20 && c < 0x7f ? c : '?');
                return -1;
            }
        }
        memcpy(out->host, s, hlen);
        out->host[hlen] = '\0';
        if (colon) port = colon + 1;
    }
    out->port = 6379;
    return port ? parse_port(port, (size_t)(end - port), out, err, errsz) : 0;
}

/* After "redis://": authority, then "" or "/" or "/db". */
static int parse_tcp(const char *s, redis_url_t *out, char *err, size_t errsz)
{
    size_t alen = strcspn(s, "/?");
    const char *at = NULL;
    for (const char *p = s; p < s + alen; p++)
        if (*p == '@') at = p; /* the last '@': the host never holds one */
    const char *hp = s;
    if (at) {
        if (parse_userinfo(s, (size_t)(at - s), out, err, errsz) != 0) return -1;
        hp = at + 1;
    }
    if (parse_hostport(hp, (size_t)(s + alen - hp), out, err, errsz) != 0) return -1;
    const char *rest = s + alen;
    if (strchr(rest, '?')) {
        errbuf_set(err, errsz,
                   "query parameters are not supported in redis:// (the db goes in the path: "
                   "redis://host:6379/2)");
        return -1;
    }
    if (*rest == '\0' || strcmp(rest, "/") == 0) return 0;
    rest++;
    const char *slash = strchr(rest, '/');
    if (slash) {
        errbuf_set(err, errsz, "unexpected text after the db number: '%.32s'", slash);
        return -1;
    }
    return parse_db(rest, strlen(rest), out, err, errsz);
}

/* "db=N" parameters after the '?' of a unix:// URL. */
static int parse_unix_query(const char *q, redis_url_t *out, char *err, size_t errsz)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        if (n > 3 && strncmp(q, "db=", 3) == 0) {
            if (parse_db(q + 3, n - 3, out, err, errsz) != 0) return -1;
        } else if (n > 0) {
            errbuf_set(err, errsz, "unknown parameter '%.*s' (only db=N)", (int)(n > 32 ? 32 : n),
                       q);
            return -1;
        }
        q += n;
        if (*q == '&') q++;
    }
    return 0;
}

/* After "unix://": "[userinfo@]/absolute/path[?db=N]". */
static int parse_unix(const char *s, redis_url_t *out, char *err, size_t errsz)
{
    out->is_unix = 1;
    size_t alen = strcspn(s, "/");
    if (alen > 0) {
        if (s[alen - 1] != '@' || s[alen] != '/') {
            errbuf_set(err, errsz, "unix:// needs an absolute path: unix:///path/to/redis.sock");
            return -1;
        }
        if (parse_userinfo(s, alen - 1, out, err, errsz) != 0) return -1;
    }
    const char *path = s + alen;
    size_t plen = strcspn(path, "?");
    if (plen <= 1) {
        errbuf_set(err, errsz, "missing socket path: unix:///path/to/redis.sock");
        return -1;
    }
    if (decode_into(out->path, sizeof(out->path), path, plen, "socket path", err, errsz) != 0)
        return -1;
    return path[plen] == '?' ? parse_unix_query(path + plen + 1, out, err, errsz) : 0;
}

int redis_url_parse(const char *url, redis_url_t *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof(*out));
    if (!url || !*url) {
        errbuf_set(err, errsz, "is empty (expected " FORMS ")");
        return -1;
    }
    const char *sep = strstr(url, "://");
    if (!sep) {
        errbuf_set(err, errsz, "has no scheme (expected " FORMS ")");
        return -1;
    }
    /* A '#' would be cut off by any other URL parser: refuse it rather than guess. */
    if (strchr(url, '#')) {
        errbuf_set(err, errsz, "unexpected '#' (percent-encode it as %%23 in a password)");
        return -1;
    }
    size_t slen = (size_t)(sep - url);
    if (slen == 6 && strncasecmp(url, "rediss", 6) == 0) {
        errbuf_set(err, errsz, "rediss:// (TLS) is not supported: use redis:// or unix://");
        return -1;
    }
    if (slen == 5 && strncasecmp(url, "redis", 5) == 0) return parse_tcp(sep + 3, out, err, errsz);
    if (slen == 4 && strncasecmp(url, "unix", 4) == 0) return parse_unix(sep + 3, out, err, errsz);
    errbuf_set(err, errsz, "unsupported scheme '%.*s' (expected " FORMS ")",
               (int)(slen > 16 ? 16 : slen), url);
    return -1;
}

void redis_url_describe(const redis_url_t *url, char *out, size_t outsz)
{
    char db[16] = "";
    if (url->db > 0) snprintf(db, sizeof(db), url->is_unix ? "?db=%d" : "/%d", url->db);
    if (url->is_unix)
        snprintf(out, outsz, "unix:%s%s", url->path, db);
    else if (strchr(url->host, ':'))
        snprintf(out, outsz, "[%s]:%d%s", url->host, url->port, db);
    else
        snprintf(out, outsz, "%s:%d%s", url->host, url->port, db);
}
