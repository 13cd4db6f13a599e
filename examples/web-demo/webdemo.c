/* webdemo.c - the web demo example plugin: a small browser app for the
 * notifications plugin, served on the server's own port.
 *
 * DEVELOPMENT ONLY: POST /demo/login signs a token for any user id it is given,
 * admin included. Never load this plugin on a server that real users can reach.
 *
 * Routes:
 *   GET  /demo                   the page (page/index.html, compiled in)
 *   GET  /demo/app.js, style.css its script and style (compiled in)
 *   GET  /demo/socket.io.min.js  the official browser client, read from the file
 *                                [plugin.webdemo] client_js (404 when missing)
 *   GET  /demo/me                {"userId", "admin", "expiresAt"} of the token, or 401
 *   POST /demo/login             {"userId": "alice", "admin": false}: sets the auth
 *                                cookie to an HS256 token signed with jwt_secret
 *   POST /demo/logout            clears the cookie
 *
 * Config ([plugin.webdemo]):
 *   jwt_secret     required; must equal [auth] jwt_secret, or the server refuses the tokens
 *   client_js      "tests/node/node_modules/socket.io-client/dist/socket.io.min.js"
 *   cookie_name    "token" (must equal [auth] cookie_name)
 *   token_ttl_s    3600
 *   allow_remote   false: logins from other hosts than loopback are refused
 *
 * The login body is parsed with jansson and the token signed with libcrypto, both
 * linked by this plugin. The client file is read on a worker thread (work_queue). */
#define _POSIX_C_SOURCE 200809L /* strncasecmp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <iogate/iogate.h>

#include "webdemo_assets.h"

#define MAX_USER_ID_CHARS 64
#define MAX_CLIENT_JS_BYTES (8u * 1024u * 1024u)

static const iog_host_api_t *api;
static iog_plugin_t *self;
static const char *jwt_secret; /* host-owned config strings, valid until unload */
static const char *client_js;
static const char *cookie_name;
static int64_t token_ttl_s;
static int allow_remote;

/* ---- the compiled-in page ---- */

/* The page loads nothing from elsewhere and runs no inline script: a strict policy
 * turns an escaping mistake into a blocked script rather than an injection. */
static const char CSP[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static const char *content_type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot && strcmp(dot, ".html") == 0) return "text/html; charset=utf-8";
    if (dot && strcmp(dot, ".js") == 0) return "text/javascript; charset=utf-8";
    if (dot && strcmp(dot, ".css") == 0) return "text/css; charset=utf-8";
    return "application/octet-stream";
}

static const webdemo_asset_t *asset(const char *name)
{
    for (size_t i = 0; i < webdemo_assets_len; i++)
        if (strcmp(webdemo_assets[i].name, name) == 0) return &webdemo_assets[i];
    return NULL;
}

static void common_headers(iog_request_t *req)
{
    api->response_header(req, "Cache-Control", "no-store");
    api->response_header(req, "X-Content-Type-Options", "nosniff");
    api->response_header(req, "Referrer-Policy", "no-referrer");
}

/* GET /demo, /demo/app.js, /demo/style.css; user is the asset. */
static void route_asset(void *user, iog_request_t *req)
{
    const webdemo_asset_t *a = user;
    common_headers(req);
    api->response_header(req, "Content-Security-Policy", CSP);
    api->respond_bytes(req, 200, content_type_of(a->name), a->data, a->len);
}

/* ---- the browser client, read from disk off the loop ---- */

typedef struct file_job {
    iog_request_t *req;
    char *data;
    size_t len;
    const char *error; /* static text; NULL on success */
} file_job_t;

static void read_client_work(void *user)
{
    file_job_t *job = user;
    FILE *f = fopen(client_js, "rb");
    if (!f) {
        job->error = "not found";
        return;
    }
    size_t cap = 64 * 1024;
    job->data = malloc(cap);
    for (;;) {
        if (!job->data) {
            job->error = "out of memory";
            break;
        }
        size_t n = fread(job->data + job->len, 1, cap - job->len, f);
        job->len += n;
        if (n == 0) {
            if (ferror(f)) job->error = "read error";
            break;
        }
        if (job->len == cap) {
            if (cap >= MAX_CLIENT_JS_BYTES) {
                job->error = "larger than 8 MiB";
                break;
            }
            char *bigger = realloc(job->data, cap * 2);
            if (!bigger) free(job->data);
            job->data = bigger;
            cap *= 2;
        }
    }
    fclose(f);
}

static void read_client_done(void *user, int status)
{
    file_job_t *job = user;
    if (status != 0) {
        api->respond_error(job->req, 503, "service_unavailable", "shutting down");
    } else if (job->error) {
        char msg[1200];
        snprintf(msg, sizeof(msg),
                 "the socket.io browser client '%s' ([plugin.webdemo] client_js) cannot be "
                 "served: %s; run `npm ci` in tests/node or point client_js at socket.io.min.js",
                 client_js, job->error);
        api->log(self, IOG_LOG_WARN, "%s", msg);
        api->respond_error(job->req, 404, "client_js_missing", msg);
    } else {
        common_headers(job->req);
        api->respond_bytes(job->req, 200, "text/javascript; charset=utf-8", job->data, job->len);
    }
    free(job->data);
    free(job);
}

/* GET /demo/socket.io.min.js */
static void route_client_js(void *user, iog_request_t *req)
{
    (void)user;
    file_job_t *job = calloc(1, sizeof(*job));
    if (!job) {
        api->respond_error(req, 500, "internal_error", "out of memory");
        return;
    }
    job->req = req;
    int rc = api->work_queue(self, read_client_work, read_client_done, job);
    if (rc != 0) {
        free(job);
        api->respond_error(req, 503, "service_unavailable", api->strerror(rc));
    }
}

/* ---- development tokens ---- */

/* Writes the unpadded base64url of in[0..n) at out (room for 4 * (n + 2) / 3 + 1); returns
 * its length. */
static size_t base64url(char *out, const unsigned char *in, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

/* An HS256 JWT "header.payload.signature" for claims_json, malloc'd; NULL on failure. */
static char *sign_hs256(const char *claims_json, size_t claims_len)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t cap = 4 * (sizeof(header) + claims_len + 32 + 6) / 3 + 8;
    char *tok = malloc(cap);
    if (!tok) return NULL;
    size_t n = base64url(tok, (const unsigned char *)header, sizeof(header) - 1);
    tok[n++] = '.';
    n += base64url(tok + n, (const unsigned char *)claims_json, claims_len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), jwt_secret, (int)strlen(jwt_secret), (const unsigned char *)tok, n, mac,
              &mac_len)) {
        free(tok);
        return NULL;
    }
    tok[n++] = '.';
    base64url(tok + n, mac, mac_len);
    return tok;
}

/* NULL when s (valid UTF-8, from jansson) is a usable user id, else why not. */
static const char *check_user_id(const char *s, size_t len)
{
    if (len == 0) return "userId must not be empty";
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return "userId must not contain control characters";
        if ((c & 0xC0) != 0x80) chars++;
    }
    if (chars > MAX_USER_ID_CHARS) return "userId is longer than 64 characters";
    return NULL;
}

static int is_loopback(const char *addr)
{
    return addr && (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
                    strncmp(addr, "::ffff:127.", 11) == 0);
}

static int is_json(const char *content_type)
{
    static const char want[] = "application/json";
    if (!content_type) return 0;
    while (*content_type == ' ')
        content_type++;
    size_t n = sizeof(want) - 1;
    return strncasecmp(content_type, want, n) == 0 &&
           (content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' ');
}

/* Writes {"userId": ..., "admin": ..., "expiresAt": ...} and answers it. */
static void respond_identity(iog_request_t *req, int status, const char *user_id, int admin,
                             int64_t expires_at)
{
    iog_json_writer_t *w = api->json_new();
    const char *text = NULL;
    size_t len = 0;
    if (w) {
        api->json_object_begin(w);
        api->json_key(w, "userId");
        api->json_string(w, user_id);
        api->json_key(w, "admin");
        api->json_bool(w, admin);
        api->json_key(w, "expiresAt");
        api->json_int(w, expires_at);
        api->json_object_end(w);
        text = api->json_text(w, &len);
    }
    if (text)
        api->respond(req, status, text, len);
    else
        api->respond_error(req, 500, "internal_error", "could not write the answer");
    if (w) api->json_free(w);
}

/* POST /demo/login {"userId": "alice", "admin": false} */
static void route_login(void *user, iog_request_t *req)
{
    (void)user;
    if (!allow_remote && !is_loopback(api->request_remote_addr(req))) {
        api->respond_error(req, 403, "forbidden",
                           "the development login only accepts loopback clients "
                           "([plugin.webdemo] allow_remote = false)");
        return;
    }
    /* Also what keeps other sites from logging a visitor in with a plain form post. */
    if (!is_json(api->request_header(req, "content-type"))) {
        api->respond_error(req, 415, "unsupported_media_type",
                           "the body must be JSON (Content-Type: application/json)");
        return;
    }
    size_t len;
    const char *body = api->request_body(req, &len);
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *uid = json_object_get(doc, "userId");
    json_t *admin = json_object_get(doc, "admin");
    const char *error = NULL;
    if (!json_is_object(doc))
        error = "the body must be a JSON object {\"userId\": \"...\", \"admin\": false}";
    else if (!json_is_string(uid))
        error = "userId must be a string";
    else if (admin && !json_is_boolean(admin))
        error = "admin must be true or false";
    else
        error = check_user_id(json_string_value(uid), json_string_length(uid));
    if (error) {
        api->respond_error(req, 400, "bad_request", error);
        json_decref(doc);
        return;
    }
    const char *user_id = json_string_value(uid);
    int is_admin = json_is_true(admin);
    int64_t now = (int64_t)time(NULL);
    int64_t exp = now + token_ttl_s;

    iog_json_writer_t *w = api->json_new();
    char *token = NULL;
    if (w) {
        api->json_object_begin(w);
        api->json_key(w, "sub");
        api->json_string(w, user_id);
        if (is_admin) {
            api->json_key(w, "role");
            api->json_string(w, "admin");
        }
        api->json_key(w, "iat");
        api->json_int(w, now);
        api->json_key(w, "exp");
        api->json_int(w, exp);
        api->json_object_end(w);
        size_t claims_len;
        const char *claims = api->json_text(w, &claims_len);
        if (claims) token = sign_hs256(claims, claims_len);
        api->json_free(w);
    }
    size_t cookie_cap = token ? strlen(cookie_name) + strlen(token) + 96 : 0;
    char *cookie = token ? malloc(cookie_cap) : NULL;
    if (!cookie) {
        api->respond_error(req, 500, "internal_error", "could not sign the token");
    } else {
        snprintf(cookie, cookie_cap, "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Lax",
                 cookie_name, token, (long long)token_ttl_s);
        api->response_header(req, "Set-Cookie", cookie);
        api->response_header(req, "Cache-Control", "no-store");
        api->log(self, IOG_LOG_INFO, "development login: \"%s\"%s", user_id,
                 is_admin ? " (admin)" : "");
        respond_identity(req, 200, user_id, is_admin, exp);
    }
    free(cookie);
    free(token);
    json_decref(doc);
}

/* POST /demo/logout */
static void route_logout(void *user, iog_request_t *req)
{
    (void)user;
    char cookie[160];
    snprintf(cookie, sizeof(cookie), "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax", cookie_name);
    api->response_header(req, "Set-Cookie", cookie);
    api->response_header(req, "Cache-Control", "no-store");
    static const char ok[] = "{\"ok\":true}";
    api->respond(req, 200, ok, sizeof(ok) - 1);
}

/* GET /demo/me: who the auth cookie (or bearer token) says the caller is. */
static void route_me(void *user, iog_request_t *req)
{
    (void)user;
    const iog_principal_t *me = api->request_principal(req);
    api->response_header(req, "Cache-Control", "no-store");
    if (!me) {
        api->respond_error(req, 401, "unauthorized", "not signed in");
        return;
    }
    const char *role = api->principal_claim(self, me, "role");
    respond_identity(req, 200, me->user_id, role && strcmp(role, "admin") == 0, me->expires_at);
}

/* ---- init ---- */

static int fail(iog_plugin_t *p, int rc, char *err, size_t err_size)
{
    snprintf(err, err_size, "%s", api->plugin_error(p));
    return rc;
}

static int webdemo_init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;
    if (api->abi_minor < 1) {
        snprintf(err, err_size, "webdemo needs iogate ABI 1.1 (respond_bytes)");
        return IOG_EVERSION;
    }

    static const char *const known[] = {"jwt_secret", "client_js", "cookie_name", "token_ttl_s",
                                        "allow_remote"};
    int rc = api->config_check_keys(p, known, sizeof(known) / sizeof(known[0]));
    if (rc == 0) rc = api->config_string(p, "jwt_secret", NULL, &jwt_secret);
    if (rc == 0)
        rc = api->config_string(p, "client_js",
                                "tests/node/node_modules/socket.io-client/dist/socket.io.min.js",
                                &client_js);
    if (rc == 0) rc = api->config_string(p, "cookie_name", "token", &cookie_name);
    if (rc == 0) rc = api->config_int(p, "token_ttl_s", 3600, &token_ttl_s);
    if (rc == 0) rc = api->config_bool(p, "allow_remote", 0, &allow_remote);
    if (rc != 0) return fail(p, rc, err, err_size);
    if (!jwt_secret || !jwt_secret[0]) {
        snprintf(err, err_size,
                 "[plugin.webdemo] jwt_secret is required (the same value as [auth] jwt_secret)");
        return IOG_EINVAL;
    }
    if (token_ttl_s < 60 || token_ttl_s > 7 * 86400) {
        snprintf(err, err_size, "[plugin.webdemo] token_ttl_s must be 60..604800");
        return IOG_ERANGE;
    }
    size_t cn = strlen(cookie_name);
    if (cn == 0 || cn > 64 ||
        strspn(cookie_name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                            "rstuvwxyz0123456789_-") != cn) {
        snprintf(err, err_size, "[plugin.webdemo] cookie_name must be 1..64 of [A-Za-z0-9_-]");
        return IOG_EINVAL;
    }

    static const struct {
        const char *path, *file;
    } pages[] = {
        {"/demo", "index.html"}, {"/demo/app.js", "app.js"}, {"/demo/style.css", "style.css"}};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        const webdemo_asset_t *a = asset(pages[i].file);
        if (!a) {
            snprintf(err, err_size, "webdemo: %s was not compiled in", pages[i].file);
            return IOG_EIO;
        }
        if ((rc = api->register_route(p, "GET", pages[i].path, IOG_ROUTE_PUBLIC, route_asset,
                                      (void *)a)) != 0)
            return fail(p, rc, err, err_size);
    }
    if ((rc = api->register_route(p, "GET", "/demo/socket.io.min.js", IOG_ROUTE_PUBLIC,
                                  route_client_js, NULL)) != 0 ||
        (rc = api->register_route(p, "GET", "/demo/me", IOG_ROUTE_PUBLIC, route_me, NULL)) != 0 ||
        (rc = api->register_route(p, "POST", "/demo/login", IOG_ROUTE_PUBLIC, route_login, NULL)) !=
            0 ||
        (rc = api->register_route(p, "POST", "/demo/logout", IOG_ROUTE_PUBLIC, route_logout,
                                  NULL)) != 0)
        return fail(p, rc, err, err_size);

    api->log(p, IOG_LOG_WARN,
             "DEVELOPMENT ONLY: POST /demo/login signs a token for any user, admin included; "
             "never load this plugin in production");
    api->log(p, IOG_LOG_INFO, "serving the demo page at /demo (client: %s)", client_js);
    return 0;
}

IOG_PLUGIN("webdemo", "1.0.0", webdemo_init, NULL)
