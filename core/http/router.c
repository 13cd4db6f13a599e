/* router.c - segment trie of REST routes (see router.h for the matching rules).
 *
 * Each trie node is one path position: literal children in a sorted array (binary search on
 * the decoded segment), at most one parameter child, and the routes ending there (one per
 * method). Parameter names live in the routes, not the nodes, so "/a/:id" and "/a/:x/b" share
 * a node. A node is only reachable at one depth, so matching visits each node at most once
 * even with backtracking. */
#include "base/errbuf.h"
#include "http/router.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "http/url.h"

typedef struct rnode rnode_t;

typedef struct route {
    char *method;
    char *pattern;
    void *handler;
    rnode_t *node;
    size_t nparams;
    char *names[ROUTER_MAX_PARAMS]; /* in path order */
} route_t;

struct rnode {
    rnode_t *parent;
    char *seg; /* decoded literal; NULL for the root and parameter nodes */
    rnode_t **statics;
    size_t nstatics;
    rnode_t *param;
    route_t **routes; /* at most one per method, unordered */
    size_t nroutes;
};

struct router {
    rnode_t root;
    route_t **routes; /* registration order */
    size_t nroutes;
};

router_t *router_new(void)
{
    return xcalloc(1, sizeof(router_t));
}

static void route_free(route_t *rt)
{
    free(rt->method);
    free(rt->pattern);
    for (size_t i = 0; i < rt->nparams; i++)
        free(rt->names[i]);
    free(rt);
}

/* Frees what node owns, not node itself (the root is embedded in the router). */
static void node_clear(rnode_t *n)
{
    for (size_t i = 0; i < n->nstatics; i++) {
        node_clear(n->statics[i]);
        free(n->statics[i]);
    }
    free(n->statics);
    if (n->param) {
        node_clear(n->param);
        free(n->param);
    }
    free(n->routes);
    free(n->seg);
}

void router_free(router_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nroutes; i++)
        route_free(r->routes[i]);
    free(r->routes);
    node_clear(&r->root);
    free(r);
}

/* Index of the literal child seg in n, or where it would be inserted (*found says which). */
static size_t static_index(const rnode_t *n, const char *seg, int *found)
{
    size_t lo = 0, hi = n->nstatics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(n->statics[mid]->seg, seg);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static rnode_t *static_child(const rnode_t *n, const char *seg)
{
    int found;
    size_t i = static_index(n, seg, &found);
    return found ? n->statics[i] : NULL;
}

static rnode_t *static_child_add(rnode_t *n, char *seg_take)
{
    int found;
    size_t i = static_index(n, seg_take, &found);
    if (found) {
        free(seg_take);
        return n->statics[i];
    }
    rnode_t *c = xcalloc(1, sizeof(*c));
    c->parent = n;
    c->seg = seg_take;
    n->statics = xrealloc(n->statics, (n->nstatics + 1) * sizeof(*n->statics));
    memmove(n->statics + i + 1, n->statics + i, (n->nstatics - i) * sizeof(*n->statics));
    n->statics[i] = c;
    n->nstatics++;
    return c;
}

static route_t *node_route(const rnode_t *n, const char *method)
{
    for (size_t i = 0; i < n->nroutes; i++) {
        if (strcmp(n->routes[i]->method, method) == 0) return n->routes[i];
    }
    return NULL;
}

/* The route of n serving method; HEAD falls back to GET on the same node. */
static route_t *node_route_for(const rnode_t *n, const char *method)
{
    route_t *rt = node_route(n, method);
    if (!rt && strcmp(method, "HEAD") == 0) rt = node_route(n, "GET");
    return rt;
}

static int valid_method(const char *m)
{
    if (!m || !*m) return 0;
    for (const char *p = m; *p; p++) {
        char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
        if (strchr("!#$%&'*+-.^_`|~", c)) continue;
        return 0; /* lower case is refused: methods are case-sensitive, "get" would never match */
    }
    return 1;
}

static int valid_param_name(const char *s, size_t len)
{
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return 0;
    }
    return 1;
}

/* One parsed pattern segment: a decoded literal, or a parameter (lit == NULL). */
typedef struct pseg {
    char *lit;
} pseg_t;

typedef struct parsed {
    pseg_t *segs;
    size_t nsegs;
    size_t nparams;
    char *names[ROUTER_MAX_PARAMS];
} parsed_t;

static void parsed_free(parsed_t *p)
{
    for (size_t i = 0; i < p->nsegs; i++)
        free(p->segs[i].lit);
    free(p->segs);
    for (size_t i = 0; i < p->nparams; i++)
        free(p->names[i]);
}

static int parse_pattern(const char *pattern, parsed_t *p, char *err, size_t err_size)
{
    memset(p, 0, sizeof(*p));
    if (pattern[0] != '/') {
        errbuf_set(err, err_size, "pattern \"%s\" must start with '/'", pattern);
        return -1;
    }
    for (const char *c = pattern; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u <= 0x20 || u == 0x7f || u == '?' || u == '#') {
            errbuf_set(err, err_size, "pattern \"%s\" contains a space, control byte, '?' or '#'",
                       pattern);
            return -1;
        }
    }
    if (strcmp(pattern, "/") == 0) return 0; /* the root: no segments */
    const char *s = pattern + 1;
    for (;;) {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t)(slash - s) : strlen(s);
        if (len == 0) {
            errbuf_set(err, err_size, "pattern \"%s\" has an empty segment or a trailing '/'",
                       pattern);
            goto fail;
        }
        p->segs = xrealloc(p->segs, (p->nsegs + 1) * sizeof(*p->segs));
        pseg_t *seg = &p->segs[p->nsegs++];
        seg->lit = NULL;
        if (s[0] == ':') {
            if (!valid_param_name(s + 1, len - 1)) {
                errbuf_set(err, err_size, "pattern \"%s\": bad parameter name \"%.*s\"", pattern,
                           (int)len, s);
                goto fail;
            }
            for (size_t i = 0; i < p->nparams; i++) {
                if (strlen(p->names[i]) == len - 1 && memcmp(p->names[i], s + 1, len - 1) == 0) {
                    errbuf_set(err, err_size, "pattern \"%s\": duplicate parameter \"%.*s\"",
                               pattern, (int)len, s);
                    goto fail;
                }
            }
            if (p->nparams == ROUTER_MAX_PARAMS) {
                errbuf_set(err, err_size, "pattern \"%s\" has more than %d parameters", pattern,
                           ROUTER_MAX_PARAMS);
                goto fail;
            }
            p->names[p->nparams++] = xstrndup(s + 1, len - 1);
        } else if (s[0] == '*') {
            errbuf_set(err, err_size, "pattern \"%s\": wildcard segments are not supported",
                       pattern);
            goto fail;
        } else {
            buf_t b = BUF_INIT;
            if (url_decode(&b, s, len, 0) != 0) {
                buf_free(&b);
                errbuf_set(err, err_size, "pattern \"%s\": malformed escape in \"%.*s\"", pattern,
                           (int)len, s);
                goto fail;
            }
            seg->lit = buf_steal(&b, NULL);
        }
        if (!slash) break;
        s = slash + 1;
    }
    return 0;
fail:
    parsed_free(p);
    memset(p, 0, sizeof(*p));
    return -1;
}

int router_add(router_t *r, const char *method, const char *pattern, void *handler, char *err,
               size_t err_size)
{
    if (!valid_method(method)) {
        errbuf_set(err, err_size, "method \"%s\" is not an upper-case HTTP token",
                   method ? method : "(null)");
        return ROUTER_EINVAL;
    }
    if (!pattern) {
        errbuf_set(err, err_size, "%s route without a pattern", method);
        return ROUTER_EINVAL;
    }
    if (!handler) {
        errbuf_set(err, err_size, "%s %s: the handler is NULL", method, pattern);
        return ROUTER_EINVAL;
    }
    parsed_t p;
    if (parse_pattern(pattern, &p, err, err_size) != 0) return ROUTER_EINVAL;

    /* Find the node without creating anything, so a conflict leaves the trie untouched. */
    rnode_t *n = &r->root;
    for (size_t i = 0; i < p.nsegs && n; i++)
        n = p.segs[i].lit ? static_child(n, p.segs[i].lit) : n->param;
    route_t *existing = n ? node_route(n, method) : NULL;
    if (existing) {
        errbuf_set(err, err_size, "route %s %s conflicts with %s %s", method, pattern,
                   existing->method, existing->pattern);
        parsed_free(&p);
        return ROUTER_ECONFLICT;
    }

    n = &r->root;
    for (size_t i = 0; i < p.nsegs; i++) {
        if (p.segs[i].lit) {
            n = static_child_add(n, p.segs[i].lit);
            p.segs[i].lit = NULL; /* taken */
        } else {
            if (!n->param) {
                n->param = xcalloc(1, sizeof(*n->param));
                n->param->parent = n;
            }
            n = n->param;
        }
    }
    route_t *rt = xcalloc(1, sizeof(*rt));
    rt->method = xstrdup(method);
    rt->pattern = xstrdup(pattern);
    rt->handler = handler;
    rt->node = n;
    rt->nparams = p.nparams;
    for (size_t i = 0; i < p.nparams; i++) {
        rt->names[i] = p.names[i];
        p.names[i] = NULL;
    }
    p.nparams = 0;
    parsed_free(&p);

    n->routes = xrealloc(n->routes, (n->nroutes + 1) * sizeof(*n->routes));
    n->routes[n->nroutes++] = rt;
    r->routes = xrealloc(r->routes, (r->nroutes + 1) * sizeof(*r->routes));
    r->routes[r->nroutes++] = rt;
    return 0;
}

/* State of one lookup: the decoded segments and the parameter bindings on the current path. */
typedef struct mctx {
    const char *method;
    const char *text;  /* decoded segments, each NUL-terminated */
    const size_t *off; /* start of segment i in text */
    size_t nsegs;
    size_t bound[ROUTER_MAX_PARAMS]; /* segment index of each parameter on the current path */
    size_t nbound;
    route_t *found;
    const char **methods; /* allowed methods, when collecting */
    size_t nmethods;
} mctx_t;

static int find(mctx_t *c, const rnode_t *n, size_t i)
{
    if (i == c->nsegs) {
        c->found = node_route_for(n, c->method);
        return c->found != NULL;
    }
    const char *seg = c->text + c->off[i];
    const rnode_t *lit = static_child(n, seg);
    if (lit && find(c, lit, i + 1)) return 1;
    /* The bound check cannot fail (no pattern has more parameters), it guards the array. */
    if (n->param && seg[0] != '\0' && c->nbound < ROUTER_MAX_PARAMS) {
        c->bound[c->nbound++] = i;
        if (find(c, n->param, i + 1)) return 1;
        c->nbound--;
    }
    return 0;
}

/* Gathers the methods of every node the path reaches (only on the failure path). */
static void collect(mctx_t *c, const rnode_t *n, size_t i)
{
    if (i == c->nsegs) {
        if (n->nroutes == 0) return;
        c->methods = xrealloc(c->methods, (c->nmethods + n->nroutes) * sizeof(*c->methods));
        for (size_t k = 0; k < n->nroutes; k++)
            c->methods[c->nmethods++] = n->routes[k]->method;
        return;
    }
    const char *seg = c->text + c->off[i];
    const rnode_t *lit = static_child(n, seg);
    if (lit) collect(c, lit, i + 1);
    if (n->param && seg[0] != '\0') collect(c, n->param, i + 1);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void write_allow(mctx_t *c, buf_t *allow)
{
    int has_get = 0, has_head = 0;
    for (size_t i = 0; i < c->nmethods; i++) {
        has_get |= strcmp(c->methods[i], "GET") == 0;
        has_head |= strcmp(c->methods[i], "HEAD") == 0;
    }
    if (has_get && !has_head) {
        c->methods = xrealloc(c->methods, (c->nmethods + 1) * sizeof(*c->methods));
        c->methods[c->nmethods++] = "HEAD";
    }
    qsort(c->methods, c->nmethods, sizeof(*c->methods), cmp_str);
    buf_reset(allow);
    for (size_t i = 0; i < c->nmethods; i++) {
        if (i > 0 && strcmp(c->methods[i], c->methods[i - 1]) == 0) continue;
        if (allow->len) buf_append(allow, ", ", 2);
        buf_append_str(allow, c->methods[i]);
    }
}

router_result_t router_match(const router_t *r, const char *method, const char *path,
                             size_t path_len, router_match_t *m, buf_t *allow)
{
    memset(m, 0, sizeof(*m));
    if (path_len == 0 || path[0] != '/') return ROUTER_BAD_PATH;

    /* Split on raw '/', then decode each segment: "%2F" stays inside its segment. "/" is the
       root (no segments); otherwise n slashes make n segments. */
    size_t nsegs = 0;
    if (path_len > 1) {
        for (size_t i = 0; i < path_len; i++)
            nsegs += path[i] == '/';
    }
    size_t *off = xmalloc((nsegs ? nsegs : 1) * sizeof(*off));
    buf_t text = BUF_INIT;
    buf_reserve(&text, path_len);
    const char *s = path + 1, *end = path + path_len;
    for (size_t k = 0; k < nsegs; k++) {
        const char *slash = memchr(s, '/', (size_t)(end - s));
        const char *seg_end = slash ? slash : end;
        off[k] = text.len;
        if (url_decode(&text, s, (size_t)(seg_end - s), 0) != 0) {
            free(off);
            buf_free(&text);
            return ROUTER_BAD_PATH;
        }
        buf_append_byte(&text, 0);
        s = seg_end + 1;
    }

    mctx_t c = {.method = method, .text = text.data, .off = off, .nsegs = nsegs};
    router_result_t res;
    if (find(&c, &r->root, 0)) {
        route_t *rt = c.found;
        m->handler = rt->handler;
        m->pattern = rt->pattern;
        m->nparams = c.nbound;
        for (size_t k = 0; k < c.nbound; k++) {
            m->params[k].name = rt->names[k];
            m->params[k].value = xstrdup(text.data + off[c.bound[k]]);
        }
        res = ROUTER_FOUND;
    } else {
        collect(&c, &r->root, 0);
        if (c.nmethods == 0) {
            res = ROUTER_NOT_FOUND;
        } else {
            res = ROUTER_METHOD_NOT_ALLOWED;
            if (allow) write_allow(&c, allow);
        }
        free(c.methods);
    }
    free(off);
    buf_free(&text);
    return res;
}

const char *router_match_param(const router_match_t *m, const char *name)
{
    for (size_t i = 0; i < m->nparams; i++) {
        if (strcmp(m->params[i].name, name) == 0) return m->params[i].value;
    }
    return NULL;
}

void router_match_free(router_match_t *m)
{
    for (size_t i = 0; i < m->nparams; i++)
        free(m->params[i].value);
    memset(m, 0, sizeof(*m));
}

void router_foreach(const router_t *r,
                    void (*cb)(void *user, const char *method, const char *pattern, void *handler),
                    void *user)
{
    for (size_t i = 0; i < r->nroutes; i++) {
        const route_t *rt = r->routes[i];
        cb(user, rt->method, rt->pattern, rt->handler);
    }
}

/* Frees n and its now-useless ancestors, so removals leave the trie as if never added to. */
static void prune(rnode_t *n)
{
    while (n->parent && n->nroutes == 0 && n->nstatics == 0 && !n->param) {
        rnode_t *parent = n->parent;
        if (parent->param == n) {
            parent->param = NULL;
        } else {
            int found;
            size_t i = static_index(parent, n->seg, &found);
            memmove(parent->statics + i, parent->statics + i + 1,
                    (parent->nstatics - i - 1) * sizeof(*parent->statics));
            parent->nstatics--;
        }
        node_clear(n);
        free(n);
        n = parent;
    }
}

size_t router_remove_handler(router_t *r, void *handler)
{
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i < r->nroutes; i++) {
        route_t *rt = r->routes[i];
        if (rt->handler != handler) {
            r->routes[kept++] = rt;
            continue;
        }
        rnode_t *n = rt->node;
        for (size_t k = 0; k < n->nroutes; k++) {
            if (n->routes[k] == rt) {
                n->routes[k] = n->routes[--n->nroutes];
                break;
            }
        }
        route_free(rt);
        prune(n);
        removed++;
    }
    r->nroutes = kept;
    return removed;
}
