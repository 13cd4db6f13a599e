/* host_principal.c - the principals plugins are handed (a request's or a socket's user), which
 * ones are still valid, and principal_claim(). */
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

/* The principals plugins may pass back to principal_claim(), by address: those handed to
 * a callback running now and those of requests not answered yet. A pointer the plugin
 * passes in is looked up here before anything is read through it, so a copy, or a
 * principal kept past its lifetime, is refused instead of being read as the host's struct
 * and written into. Process-wide like live_requests in host_rest.c (loop thread only): the
 * adapters that make principals would otherwise need the host passed down for this alone. */
static objmap_t live_principals;

static const char *principal_key(const void *obj, size_t *len)
{
    *len = sizeof(const iog_principal_t *);
    return (const char *)&((const host_principal_t *)obj)->addr;
}

static void principal_register(host_principal_t *hp)
{
    if (!live_principals.key_of) objmap_init(&live_principals, principal_key);
    hp->addr = &hp->pub;
    objmap_add(&live_principals, hp);
}

void principal_fill(host_principal_t *hp, const jwt_principal_t *jp)
{
    memset(hp, 0, sizeof(*hp));
    hp->pub.struct_size = sizeof(hp->pub);
    hp->pub.user_id = jp->user_id;
    hp->claims = jp->claims;
    hp->claims_json = jp->claims ? json_dumps(jp->claims, JSON_COMPACT) : NULL;
    hp->pub.claims_json = hp->claims_json ? hp->claims_json : "{}";
    hp->pub.expires_at = jp->exp;
    principal_register(hp);
}

const char *api_principal_claim(iog_plugin_t *p, const iog_principal_t *pr, const char *name)
{
    if (!pr || !name) return NULL;
    host_principal_t *hp = objmap_get(&live_principals, (const char *)&pr, sizeof(pr));
    if (!hp) {
        if (p)
            plugin_fail(p, IOG_EINVAL,
                        "principal_claim: not a principal the host handed out, or one past its "
                        "lifetime (a copy is never one: keep the claims you need instead)");
        return NULL;
    }
    if (!hp->claims && !hp->parsed && hp->pub.claims_json)
        hp->parsed = json_loads(hp->pub.claims_json, 0, NULL);
    return json_string_value(json_object_get(hp->claims ? hp->claims : hp->parsed, name));
}

/* A socket's principal: its identity's text as is, parsed only if a claim is asked for. */
void principal_fill_socket(host_principal_t *hp, sio_socket_t *s)
{
    memset(hp, 0, sizeof(*hp));
    hp->pub.struct_size = sizeof(hp->pub);
    hp->pub.user_id = sio_socket_user_id(s);
    const char *claims = sio_socket_claims_json(s);
    hp->pub.claims_json = claims ? claims : "{}";
    hp->pub.expires_at = sio_socket_expires_at(s);
    principal_register(hp);
}

void principal_release(host_principal_t *hp)
{
    if (hp->addr) objmap_remove(&live_principals, (const char *)&hp->addr, sizeof(hp->addr));
    free(hp->claims_json);
    json_decref(hp->parsed);
}
