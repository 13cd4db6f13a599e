/* sio_recovery.c - the packets and sessions connection state recovery keeps, their bounds,
 * and the codec of offsets and pids (sio_recovery.h says what each means). */
#include "sio/sio_recovery.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/mem.h"
#include "base/objmap.h"
#include "base/random.h"
#include "base/strmap.h"

/* A kept packet: its references and who it went to (rooms then except, one block). */
typedef struct kept {
    uint64_t seq;
    uint64_t at_ms;
    const void *nsp;
    size_t bytes;
    rbuf_t *packet;
    rbuf_t **att;
    uint32_t natt;
    uint32_t nrooms, nexcept;
    int kind;
    sio_room_name_t *names;
} kept_t;

/* A closed socket's session. */
typedef struct rsession {
    struct rsession *prev, *next; /* oldest first */
    char sid[SIO_RECOVERY_SID_LEN + 1];
    const void *nsp;
    char *user_id; /* in the rooms' block; NULL when not authenticated */
    uint64_t start, last_sent, persisted_seq, at_ms;
    size_t bytes;
    sio_room_name_t *rooms; /* one block with the names and the user id */
    size_t nrooms;
} rsession_t;

typedef struct source {
    char name[SIO_RECOVERY_NAME_MAX + 1];
    char cursor_key[SIO_RECOVERY_NAME_MAX + 1];
    char max[SIO_RECOVERY_NAME_MAX + 1]; /* "" until one is seen */
} source_t;

struct sio_recovery {
    sio_recovery_options_t o;
    sio_recovery_stats_t stats;
    unsigned char secret[32];
    char node[SIO_RECOVERY_NODE_LEN + 1];
    uint64_t clock;           /* the last sequence number given */
    uint64_t dropped_upto;    /* the newest packet dropped */
    strmap_t not_recoverable; /* event name -> (void *)1 */
    source_t sources[SIO_RECOVERY_MAX_SOURCES];
    size_t nsources;
    kept_t **ring; /* packets, oldest first, from head */
    size_t cap, head, count;
    objmap_t sessions; /* by sid */
    rsession_t *oldest, *newest;
    strmap_t session_rooms; /* room -> number of sessions in it */
    size_t sessions_authenticated;
};

/* Roughly what the allocator holds besides the bytes themselves: headers and map slots. */
#define OVERHEAD 32

/* ------------------------------------------------------------------ names and cursors */

static int name_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

int sio_recovery_name_valid(const char *s, size_t len)
{
    if (!len || len > SIO_RECOVERY_NAME_MAX) return 0;
    for (size_t i = 0; i < len; i++)
        if (!name_char((unsigned char)s[i])) return 0;
    return 1;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

int sio_cursor_cmp(const char *a, const char *b)
{
    if (all_digits(a) && all_digits(b)) {
        while (*a == '0' && a[1])
            a++;
        while (*b == '0' && b[1])
            b++;
        size_t la = strlen(a), lb = strlen(b);
        if (la != lb) return la < lb ? -1 : 1;
    }
    return strcmp(a, b);
}

/* ------------------------------------------------------------------ parsing */

static int b64url_field(const char *s, size_t len, size_t want)
{
    if (len != want) return 0;
    for (size_t i = 0; i < len; i++)
        if (!base64url_is_char((unsigned char)s[i])) return 0;
    return 1;
}

static int parse_hex(const char *s, size_t len, uint64_t *out)
{
    if (!len || len > 16) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

/* The cursors after a position's head: ("~" name "=" cursor)*. */
static int parse_cursors(const char *s, size_t len, sio_position_t *out)
{
    out->ncursors = 0;
    size_t i = 0;
    while (i < len) {
        if (s[i] != '~' || out->ncursors == SIO_RECOVERY_MAX_SOURCES) return -1;
        i++;
        size_t name = i;
        while (i < len && s[i] != '=' && s[i] != '~')
            i++;
        if (i >= len || s[i] != '=') return -1;
        size_t name_len = i - name;
        size_t value = ++i;
        while (i < len && s[i] != '~')
            i++;
        size_t value_len = i - value;
        if (!sio_recovery_name_valid(s + name, name_len) ||
            !sio_recovery_name_valid(s + value, value_len))
            return -1;
        memcpy(out->cursors[out->ncursors].name, s + name, name_len);
        out->cursors[out->ncursors].name[name_len] = '\0';
        memcpy(out->cursors[out->ncursors].value, s + value, value_len);
        out->cursors[out->ncursors].value[value_len] = '\0';
        out->ncursors++;
    }
    return 0;
}

/* Splits s[0..len) at '.' into at most max fields before the first '~' (which starts *tail).
 * Returns the number of fields, or -1 for more. */
static int split_fields(const char *s, size_t len, const char **f, size_t *fl, int max,
                        size_t *tail)
{
    const char *tilde = memchr(s, '~', len);
    size_t head = tilde ? (size_t)(tilde - s) : len;
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= head; i++) {
        if (i == head || s[i] == '.') {
            if (n == max) return -1;
            f[n] = s + start;
            fl[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    *tail = head;
    return n;
}

static int position_from(const char *node, size_t node_len, const char *seq, size_t seq_len,
                         const char *tail, size_t tail_len, sio_position_t *out)
{
    if (!b64url_field(node, node_len, SIO_RECOVERY_NODE_LEN)) return -1;
    memcpy(out->node, node, node_len);
    out->node[node_len] = '\0';
    if (parse_hex(seq, seq_len, &out->seq) != 0) return -1;
    return parse_cursors(tail, tail_len, out);
}

int sio_position_parse(const char *s, size_t len, sio_position_t *out)
{
    const char *f[2];
    size_t fl[2], tail;
    if (split_fields(s, len, f, fl, 2, &tail) != 2) return -1;
    return position_from(f[0], fl[0], f[1], fl[1], s + tail, len - tail, out);
}

int sio_pid_parse(const char *s, size_t len, sio_pid_t *out)
{
    const char *f[5];
    size_t fl[5], tail;
    if (split_fields(s, len, f, fl, 5, &tail) != 5) return -1;
    if (!b64url_field(f[0], fl[0], SIO_RECOVERY_SID_LEN) ||
        !b64url_field(f[1], fl[1], SIO_RECOVERY_MAC_LEN) ||
        (fl[2] && !b64url_field(f[2], fl[2], SIO_RECOVERY_UHASH_LEN)))
        return -1;
    memcpy(out->sid, f[0], fl[0]);
    out->sid[fl[0]] = '\0';
    memcpy(out->mac, f[1], fl[1]);
    out->mac[fl[1]] = '\0';
    memcpy(out->uhash, f[2], fl[2]);
    out->uhash[fl[2]] = '\0';
    return position_from(f[3], fl[3], f[4], fl[4], s + tail, len - tail, &out->at);
}

/* ------------------------------------------------------------------ lifecycle */

static const char *session_key(const void *obj, size_t *len)
{
    *len = SIO_RECOVERY_SID_LEN;
    return ((const rsession_t *)obj)->sid;
}

sio_recovery_t *sio_recovery_new(const sio_recovery_options_t *o)
{
    sio_recovery_t *r = xcalloc(1, sizeof(*r));
    r->o = *o;
    random_bytes(r->secret, sizeof(r->secret));
    random_id(r->node, SIO_RECOVERY_NODE_LEN);
    strmap_init(&r->not_recoverable);
    strmap_init(&r->session_rooms);
    objmap_init(&r->sessions, session_key);
    return r;
}

static void kept_free(kept_t *k)
{
    rbuf_unref(k->packet);
    for (uint32_t i = 0; i < k->natt; i++)
        rbuf_unref(k->att[i]);
    free(k->att);
    free(k->names);
    free(k);
}

static void session_unindex(sio_recovery_t *r, rsession_t *s)
{
    for (size_t i = 0; i < s->nrooms; i++) {
        const sio_room_name_t *room = &s->rooms[i];
        uintptr_t n = (uintptr_t)strmap_get(&r->session_rooms, room->name, room->len);
        if (n > 1)
            strmap_put(&r->session_rooms, room->name, room->len, (void *)(n - 1));
        else
            strmap_remove(&r->session_rooms, room->name, room->len);
    }
    if (s->user_id) r->sessions_authenticated--;
}

/* Takes s out of the map, the list, the index and the byte count (not freed). */
static void session_detach(sio_recovery_t *r, rsession_t *s)
{
    objmap_remove(&r->sessions, s->sid, SIO_RECOVERY_SID_LEN);
    if (s->prev)
        s->prev->next = s->next;
    else
        r->oldest = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        r->newest = s->prev;
    session_unindex(r, s);
    r->stats.bytes -= s->bytes;
    r->stats.sessions--;
}

static void session_free(rsession_t *s)
{
    free(s->rooms);
    free(s);
}

void sio_recovery_free(sio_recovery_t *r)
{
    if (!r) return;
    while (r->count) {
        kept_free(r->ring[r->head]);
        r->head = (r->head + 1) % r->cap;
        r->count--;
    }
    free(r->ring);
    while (r->oldest) {
        rsession_t *s = r->oldest;
        session_detach(r, s);
        session_free(s);
    }
    objmap_free(&r->sessions);
    strmap_free(&r->session_rooms);
    strmap_free(&r->not_recoverable);
    OPENSSL_cleanse(r->secret, sizeof(r->secret));
    free(r);
}

const sio_recovery_stats_t *sio_recovery_stats(const sio_recovery_t *r)
{
    return &r->stats;
}

sio_recovery_stats_t *sio_recovery_stats_mut(sio_recovery_t *r)
{
    return &r->stats;
}

const sio_recovery_options_t *sio_recovery_options(const sio_recovery_t *r)
{
    return &r->o;
}

/* ------------------------------------------------------------------ events and sources */

void sio_recovery_set_recoverable(sio_recovery_t *r, const char *event, int recoverable)
{
    if (recoverable)
        strmap_remove(&r->not_recoverable, event, strlen(event));
    else
        strmap_put(&r->not_recoverable, event, strlen(event), (void *)1);
}

int sio_recovery_is_recoverable(const sio_recovery_t *r, const char *event)
{
    return !r->not_recoverable.count || !strmap_get(&r->not_recoverable, event, strlen(event));
}

int sio_recovery_add_source(sio_recovery_t *r, const char *event, const char *cursor_key)
{
    if (r->nsources == SIO_RECOVERY_MAX_SOURCES || !sio_recovery_name_valid(event, strlen(event)) ||
        !cursor_key || !cursor_key[0] || strlen(cursor_key) > SIO_RECOVERY_NAME_MAX ||
        sio_recovery_source_of(r, event, NULL) >= 0)
        return -1;
    source_t *s = &r->sources[r->nsources];
    memset(s, 0, sizeof(*s));
    strcpy(s->name, event);
    strcpy(s->cursor_key, cursor_key);
    return (int)r->nsources++;
}

int sio_recovery_source_of(const sio_recovery_t *r, const char *event, const char **cursor_key)
{
    for (size_t i = 0; i < r->nsources; i++) {
        if (strcmp(r->sources[i].name, event) == 0) {
            if (cursor_key) *cursor_key = r->sources[i].cursor_key;
            return (int)i;
        }
    }
    return -1;
}

size_t sio_recovery_source_count(const sio_recovery_t *r)
{
    return r->nsources;
}

const char *sio_recovery_source_name(const sio_recovery_t *r, int source)
{
    return r->sources[source].name;
}

void sio_recovery_note_cursor(sio_recovery_t *r, int source, const char *cursor)
{
    source_t *s = &r->sources[source];
    if (!s->max[0] || sio_cursor_cmp(cursor, s->max) > 0) strcpy(s->max, cursor);
}

/* ------------------------------------------------------------------ clock, offsets, pids */

uint64_t sio_recovery_next_seq(sio_recovery_t *r, uint64_t now_ms)
{
    uint64_t t = now_ms << SIO_RECOVERY_SEQ_SHIFT;
    r->clock = t > r->clock ? t : r->clock + 1;
    return r->clock;
}

uint64_t sio_recovery_now_seq(sio_recovery_t *r, uint64_t now_ms)
{
    uint64_t t = now_ms << SIO_RECOVERY_SEQ_SHIFT;
    if (t > r->clock) r->clock = t;
    return r->clock;
}

void sio_recovery_offset(const sio_recovery_t *r, buf_t *out, uint64_t seq, int source,
                         const char *cursor)
{
    buf_printf(out, "%s.%llx", r->node, (unsigned long long)seq);
    for (size_t i = 0; i < r->nsources; i++) {
        const char *max = r->sources[i].max;
        if ((int)i == source && cursor && (!max[0] || sio_cursor_cmp(cursor, max) > 0))
            max = cursor;
        if (max[0]) buf_printf(out, "~%s=%s", r->sources[i].name, max);
    }
}

static void mac_of(const sio_recovery_t *r, const char *sid, char out[SIO_RECOVERY_MAC_LEN + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), r->secret, (int)sizeof(r->secret), (const unsigned char *)sid,
         SIO_RECOVERY_SID_LEN, mac, &n);
    buf_t b = BUF_INIT;
    base64url_encode_append(&b, mac, SIO_RECOVERY_MAC_LEN * 6 / 8);
    memcpy(out, b.data, SIO_RECOVERY_MAC_LEN + 1);
    buf_free(&b);
}

void sio_recovery_user_hash(const char *user_id, char *out)
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)user_id, strlen(user_id), h);
    buf_t b = BUF_INIT;
    base64url_encode_append(&b, h, 8);
    memcpy(out, b.data, SIO_RECOVERY_UHASH_LEN + 1);
    buf_free(&b);
}

void sio_recovery_pid(const sio_recovery_t *r, buf_t *out, const char *sid, const char *user_id,
                      uint64_t start)
{
    char mac[SIO_RECOVERY_MAC_LEN + 1], uhash[SIO_RECOVERY_UHASH_LEN + 1] = "";
    mac_of(r, sid, mac);
    if (user_id) sio_recovery_user_hash(user_id, uhash);
    buf_printf(out, "%.*s.%s.%s.", SIO_RECOVERY_SID_LEN, sid, mac, uhash);
    sio_recovery_offset(r, out, start, -1, NULL);
}

int sio_recovery_pid_ours(const sio_recovery_t *r, const sio_pid_t *pid)
{
    char mac[SIO_RECOVERY_MAC_LEN + 1];
    mac_of(r, pid->sid, mac);
    return strcmp(pid->at.node, r->node) == 0 &&
           CRYPTO_memcmp(mac, pid->mac, SIO_RECOVERY_MAC_LEN) == 0;
}

/* ------------------------------------------------------------------ matching */

static int names_have(const sio_room_name_t *names, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (names[i].len == len && memcmp(names[i].name, name, len) == 0) return 1;
    return 0;
}

/* Whether a kept packet went to the session's rooms, as socket.io's shouldIncludePacket
 * decides: no rooms or one of them, and none of the except rooms. */
static int kept_matches(const kept_t *k, const rsession_t *s)
{
    if (k->nsp != s->nsp) return 0;
    if (k->kind == SIO_KEEP_AUTHENTICATED && !s->user_id) return 0;
    if (k->kind == SIO_KEEP_ROOMS) {
        int in = 0;
        for (uint32_t i = 0; i < k->nrooms && !in; i++)
            in = names_have(s->rooms, s->nrooms, k->names[i].name, k->names[i].len);
        if (!in) return 0;
    }
    for (uint32_t i = 0; i < k->nexcept; i++) {
        const sio_room_name_t *e = &k->names[k->nrooms + i];
        if (names_have(s->rooms, s->nrooms, e->name, e->len)) return 0;
    }
    return 1;
}

int sio_recovery_wants_room(const sio_recovery_t *r, const char *room, size_t len)
{
    return r->stats.sessions && strmap_get(&r->session_rooms, room, len) != NULL;
}

int sio_recovery_wants(const sio_recovery_t *r, const sio_keep_target_t *t)
{
    if (!r->stats.sessions) return 0;
    if (t->kind == SIO_KEEP_ALL) return 1;
    if (t->kind == SIO_KEEP_AUTHENTICATED) return r->sessions_authenticated > 0;
    for (size_t i = 0; i < t->nrooms; i++)
        if (sio_recovery_wants_room(r, t->rooms[i], t->room_lens[i])) return 1;
    return 0;
}

/* ------------------------------------------------------------------ dropping */

static kept_t *ring_at(const sio_recovery_t *r, size_t i)
{
    return r->ring[(r->head + i) % r->cap];
}

static void drop_oldest_packet(sio_recovery_t *r, int evicted)
{
    kept_t *k = r->ring[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
    if (k->seq > r->dropped_upto) r->dropped_upto = k->seq;
    r->stats.bytes -= k->bytes;
    r->stats.packets--;
    if (evicted)
        r->stats.packets_evicted++;
    else
        r->stats.packets_expired++;
    kept_free(k);
}

static void drop_oldest_session(sio_recovery_t *r, int evicted)
{
    rsession_t *s = r->oldest;
    session_detach(r, s);
    if (evicted)
        r->stats.sessions_evicted++;
    else
        r->stats.sessions_expired++;
    session_free(s);
}

/* Past max_bytes, the oldest of packets and sessions goes first: a session is then never
 * left without the packets emitted after it was persisted. */
static void make_room(sio_recovery_t *r, size_t incoming)
{
    while (r->stats.bytes + incoming > r->o.max_bytes && (r->count || r->oldest)) {
        int packet_first =
            r->count && (!r->oldest || r->ring[r->head]->seq <= r->oldest->persisted_seq);
        if (packet_first)
            drop_oldest_packet(r, 1);
        else
            drop_oldest_session(r, 1);
    }
}

int sio_recovery_sweep(sio_recovery_t *r, uint64_t now_ms)
{
    uint64_t window = r->o.max_disconnection_ms;
    while (r->count && r->ring[r->head]->at_ms + window < now_ms)
        drop_oldest_packet(r, 0);
    while (r->oldest && r->oldest->at_ms + window < now_ms)
        drop_oldest_session(r, 0);
    return r->count || r->oldest;
}

/* ------------------------------------------------------------------ keeping packets */

/* The names of rooms and except as one block: pointers first, then the bytes. */
static sio_room_name_t *names_copy(const char *const *a, const size_t *al, size_t na,
                                   const char *const *b, const size_t *bl, size_t nb, size_t extra,
                                   size_t *bytes)
{
    size_t total = (na + nb) * sizeof(sio_room_name_t) + extra;
    for (size_t i = 0; i < na; i++)
        total += al[i] + 1;
    for (size_t i = 0; i < nb; i++)
        total += bl[i] + 1;
    *bytes = total;
    if (!total) return NULL;
    sio_room_name_t *names = xmalloc(total);
    char *p = (char *)(names + na + nb);
    for (size_t i = 0; i < na + nb; i++) {
        const char *src = i < na ? a[i] : b[i - na];
        size_t len = i < na ? al[i] : bl[i - na];
        memcpy(p, src, len);
        p[len] = '\0';
        names[i].name = p;
        names[i].len = len;
        p += len + 1;
    }
    return names;
}

void sio_recovery_keep(sio_recovery_t *r, uint64_t seq, uint64_t now_ms, const sio_keep_target_t *t,
                       rbuf_t *packet, rbuf_t *const *attachments, size_t nattachments)
{
    sio_recovery_sweep(r, now_ms);
    size_t names_bytes = 0;
    size_t nrooms = t->kind == SIO_KEEP_ROOMS ? t->nrooms : 0;
    size_t bytes = sizeof(kept_t) + OVERHEAD + sizeof(kept_t *) + packet->len;
    for (size_t i = 0; i < nattachments; i++)
        bytes += attachments[i]->len + sizeof(rbuf_t *) + OVERHEAD;
    for (size_t i = 0; i < nrooms; i++)
        bytes += t->room_lens[i] + 1 + sizeof(sio_room_name_t);
    for (size_t i = 0; i < t->nexcept; i++)
        bytes += t->except_lens[i] + 1 + sizeof(sio_room_name_t);
    if (bytes > r->o.max_session_bytes || bytes > r->o.max_bytes) {
        /* Nobody could be given it: every session that needs it will be refused. */
        if (seq > r->dropped_upto) r->dropped_upto = seq;
        r->stats.packets_evicted++;
        return;
    }
    make_room(r, bytes);
    kept_t *k = xcalloc(1, sizeof(*k));
    k->seq = seq;
    k->at_ms = now_ms;
    k->nsp = t->nsp;
    k->kind = t->kind;
    k->bytes = bytes;
    k->packet = rbuf_ref(packet);
    if (nattachments) {
        k->att = xmalloc(nattachments * sizeof(*k->att));
        for (size_t i = 0; i < nattachments; i++)
            k->att[i] = rbuf_ref(attachments[i]);
        k->natt = (uint32_t)nattachments;
    }
    k->nrooms = (uint32_t)nrooms;
    k->nexcept = (uint32_t)t->nexcept;
    k->names = names_copy(t->rooms, t->room_lens, nrooms, t->except, t->except_lens, t->nexcept, 0,
                          &names_bytes);
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        kept_t **ring = xmalloc(cap * sizeof(*ring));
        for (size_t i = 0; i < r->count; i++)
            ring[i] = ring_at(r, i);
        free(r->ring);
        r->ring = ring;
        r->cap = cap;
        r->head = 0;
    }
    /* In order of seq, which emits nested in a delivery could break: from the tail back. */
    size_t at = r->count;
    while (at && ring_at(r, at - 1)->seq > seq) {
        r->ring[(r->head + at) % r->cap] = ring_at(r, at - 1);
        at--;
    }
    r->ring[(r->head + at) % r->cap] = k;
    r->count++;
    r->stats.packets++;
    r->stats.bytes += bytes;
}

/* ------------------------------------------------------------------ sessions */

int sio_recovery_persist(sio_recovery_t *r, const sio_session_in_t *in, uint64_t now_ms)
{
    sio_recovery_sweep(r, now_ms);
    size_t user_len = in->user_id ? strlen(in->user_id) + 1 : 0;
    size_t block = 0;
    size_t *lens = xmalloc((in->nrooms ? in->nrooms : 1) * sizeof(size_t));
    const char **names = xmalloc((in->nrooms ? in->nrooms : 1) * sizeof(char *));
    for (size_t i = 0; i < in->nrooms; i++) {
        names[i] = in->rooms[i].name;
        lens[i] = in->rooms[i].len;
    }
    size_t bytes = sizeof(rsession_t) + 2 * OVERHEAD + user_len;
    for (size_t i = 0; i < in->nrooms; i++)
        bytes += lens[i] + 1 + sizeof(sio_room_name_t) + OVERHEAD; /* and its index entry */
    if (bytes > r->o.max_session_bytes || bytes > r->o.max_bytes) {
        r->stats.sessions_too_large++;
        free(lens);
        free(names);
        return -1;
    }
    rsession_t *old = objmap_get(&r->sessions, in->sid, SIO_RECOVERY_SID_LEN);
    if (old) {
        session_detach(r, old);
        session_free(old);
    }
    make_room(r, bytes);
    rsession_t *s = xcalloc(1, sizeof(*s));
    memcpy(s->sid, in->sid, SIO_RECOVERY_SID_LEN);
    s->nsp = in->nsp;
    s->start = in->start;
    s->last_sent = in->last_sent;
    s->persisted_seq = sio_recovery_now_seq(r, now_ms);
    s->at_ms = now_ms;
    s->bytes = bytes;
    s->rooms = names_copy(names, lens, in->nrooms, NULL, NULL, 0, user_len, &block);
    s->nrooms = in->nrooms;
    free(lens);
    free(names);
    if (in->user_id) {
        s->user_id = (char *)s->rooms + block - user_len;
        memcpy(s->user_id, in->user_id, user_len);
        r->sessions_authenticated++;
    }
    for (size_t i = 0; i < s->nrooms; i++) {
        uintptr_t n = (uintptr_t)strmap_get(&r->session_rooms, s->rooms[i].name, s->rooms[i].len);
        strmap_put(&r->session_rooms, s->rooms[i].name, s->rooms[i].len, (void *)(n + 1));
    }
    objmap_add(&r->sessions, s);
    s->prev = r->newest;
    if (r->newest)
        r->newest->next = s;
    else
        r->oldest = s;
    r->newest = s;
    r->stats.sessions++;
    r->stats.bytes += bytes;
    r->stats.persisted++;
    return 0;
}

void sio_restored_free(sio_restored_t *out)
{
    for (size_t i = 0; i < out->npackets; i++) {
        sio_replay_packet_t *p = &out->packets[i];
        rbuf_unref(p->packet);
        for (size_t j = 0; j < p->nattachments; j++)
            rbuf_unref(p->attachments[j]);
        free(p->attachments);
    }
    free(out->packets);
    free(out->rooms);
    memset(out, 0, sizeof(*out));
}

/* The first kept packet numbered after seq (binary search: seq numbers increase). */
static size_t first_after(const sio_recovery_t *r, uint64_t seq)
{
    size_t lo = 0, hi = r->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_at(r, mid)->seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The packets to replay to s, after `from`: 0, or SIO_RESTORE_TOO_LARGE. */
static int collect(const sio_recovery_t *r, const rsession_t *s, uint64_t from, sio_restored_t *out)
{
    size_t bytes = s->bytes, cap = 0;
    for (size_t i = first_after(r, from); i < r->count; i++) {
        const kept_t *k = ring_at(r, i);
        if (!kept_matches(k, s)) continue;
        bytes += k->bytes;
        if (bytes > r->o.max_session_bytes) return SIO_RESTORE_TOO_LARGE;
        if (out->npackets == cap) {
            cap = cap ? cap * 2 : 8;
            out->packets = xrealloc(out->packets, cap * sizeof(*out->packets));
        }
        sio_replay_packet_t *p = &out->packets[out->npackets++];
        p->packet = rbuf_ref(k->packet);
        p->nattachments = k->natt;
        p->attachments = NULL;
        if (k->natt) {
            p->attachments = xmalloc(k->natt * sizeof(rbuf_t *));
            for (uint32_t j = 0; j < k->natt; j++)
                p->attachments[j] = rbuf_ref(k->att[j]);
        }
    }
    return 0;
}

static int user_differs(const char *a, const char *b)
{
    if (!a || !b) return a != b;
    return strcmp(a, b) != 0;
}

static int restore_outcome(sio_recovery_t *r, int rc)
{
    sio_recovery_stats_t *st = &r->stats;
    uint64_t *counts[] = {&st->restored,     &st->invalid, &st->unknown,  &st->expired,
                          &st->user_changed, &st->too_old, &st->too_large};
    (*counts[rc])++;
    return rc;
}

int sio_recovery_restore(sio_recovery_t *r, const void *nsp, const char *pid, size_t pid_len,
                         const char *offset, size_t offset_len, const char *user_id,
                         uint64_t now_ms, sio_restored_t *out)
{
    memset(out, 0, sizeof(*out));
    sio_pid_t p;
    if (sio_pid_parse(pid, pid_len, &p) != 0) return restore_outcome(r, SIO_RESTORE_INVALID);
    if (!sio_recovery_pid_ours(r, &p)) {
        /* Made by another node or before a restart: nothing of it is here. */
        return restore_outcome(r, strcmp(p.at.node, r->node) ? SIO_RESTORE_UNKNOWN
                                                             : SIO_RESTORE_INVALID);
    }
    rsession_t *s = objmap_get(&r->sessions, p.sid, SIO_RECOVERY_SID_LEN);
    if (!s || s->nsp != nsp) return restore_outcome(r, SIO_RESTORE_UNKNOWN);
    int expired = s->at_ms + r->o.max_disconnection_ms < now_ms;
    sio_recovery_sweep(r, now_ms); /* which drops it when expired */
    if (expired) return restore_outcome(r, SIO_RESTORE_EXPIRED);
    if (user_differs(s->user_id, user_id)) return restore_outcome(r, SIO_RESTORE_USER);
    /* What the client says it has: an offset of this node, else nothing. */
    sio_position_t at;
    int have =
        offset && sio_position_parse(offset, offset_len, &at) == 0 && strcmp(at.node, r->node) == 0;
    if (have && at.seq > s->persisted_seq) return restore_outcome(r, SIO_RESTORE_INVALID);
    uint64_t from;
    if (!s->last_sent || (have && at.seq >= s->last_sent))
        from = s->persisted_seq; /* it has all that was sent to it: it missed what came after */
    else
        from = have && at.seq > s->start ? at.seq : s->start; /* lost in transit: from there */
    /* Eviction takes the oldest first, so only packets before the session was persisted can
     * be gone (or one too large to keep, after). */
    if (from < r->dropped_upto) return restore_outcome(r, SIO_RESTORE_TOO_OLD);
    int rc = collect(r, s, from, out);
    if (rc) {
        sio_restored_free(out);
        return restore_outcome(r, rc);
    }
    memcpy(out->sid, s->sid, SIO_RECOVERY_SID_LEN + 1);
    out->start = s->start;
    out->last_sent = s->last_sent;
    size_t block;
    const char **names = xmalloc((s->nrooms ? s->nrooms : 1) * sizeof(char *));
    size_t *lens = xmalloc((s->nrooms ? s->nrooms : 1) * sizeof(size_t));
    for (size_t i = 0; i < s->nrooms; i++) {
        names[i] = s->rooms[i].name;
        lens[i] = s->rooms[i].len;
    }
    out->rooms = names_copy(names, lens, s->nrooms, NULL, NULL, 0, 0, &block);
    out->nrooms = s->nrooms;
    free(names);
    free(lens);
    session_detach(r, s);
    session_free(s);
    return restore_outcome(r, SIO_RESTORE_OK);
}

/* ------------------------------------------------------------------ stores */

int sio_recovery_store_hints(const sio_recovery_t *r, const char *pid, size_t pid_len,
                             const char *offset, size_t offset_len, const char *user_id,
                             sio_store_hint_t hints[SIO_RECOVERY_MAX_SOURCES])
{
    sio_pid_t p;
    char uhash[SIO_RECOVERY_UHASH_LEN + 1];
    if (!user_id || !r->nsources || sio_pid_parse(pid, pid_len, &p) != 0) return 0;
    sio_recovery_user_hash(user_id, uhash);
    if (strcmp(uhash, p.uhash) != 0) return 0;
    sio_position_t at;
    int have = offset && sio_position_parse(offset, offset_len, &at) == 0;
    for (size_t i = 0; i < r->nsources; i++) {
        const char *after = "";
        for (size_t j = 0; j < p.at.ncursors; j++)
            if (strcmp(p.at.cursors[j].name, r->sources[i].name) == 0)
                after = p.at.cursors[j].value;
        for (size_t j = 0; have && j < at.ncursors; j++)
            if (strcmp(at.cursors[j].name, r->sources[i].name) == 0 &&
                (!after[0] || sio_cursor_cmp(at.cursors[j].value, after) > 0))
                after = at.cursors[j].value;
        strcpy(hints[i].after, after);
        hints[i].since_ms = (int64_t)(p.at.seq >> SIO_RECOVERY_SEQ_SHIFT);
    }
    return 1;
}
