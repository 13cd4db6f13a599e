/* sio_packet.c - Socket.IO v5 packet codec and per-connection attachment reassembly. */
#include "sio/sio_packet.h"

#include "base/json_in.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_out.h"
#include "base/mem.h"

static const char *const reserved_events[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

int sio_event_name_is_reserved(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof reserved_events / sizeof reserved_events[0]; i++)
        if (strlen(reserved_events[i]) == len && memcmp(reserved_events[i], name, len) == 0)
            return 1;
    return 0;
}

int sio_type_is_binary(sio_type_t type)
{
    return type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK;
}

void sio_packet_free(sio_packet_t *p)
{
    free(p->nsp);
    json_decref(p->data);
    for (size_t i = 0; i < p->bin_len; i++)
        free(p->bin[i].data);
    free(p->bin);
    memset(p, 0, sizeof *p);
    p->id = -1;
}

/* ---- placeholders ---- */

int sio_placeholder_num(const json_t *v, size_t *num)
{
    if (!json_is_object(v) || !json_is_true(json_object_get(v, "_placeholder"))) return 0;
    const json_t *n = json_object_get(v, "num");
    if (json_is_integer(n)) {
        if (json_integer_value(n) < 0) return SIO_EPLACEHOLDER;
        *num = (size_t)json_integer_value(n);
        return 1;
    }
    /* A real such as 1.0 is the same JavaScript number as 1. */
    if (json_is_real(n)) {
        double d = json_real_value(n);
        if (!(d >= 0 && d < 9007199254740992.0) || floor(d) != d) return SIO_EPLACEHOLDER;
        *num = (size_t)d;
        return 1;
    }
    return SIO_EPLACEHOLDER;
}

json_t *sio_placeholder_new(size_t num)
{
    json_t *o = json_object();
    json_object_set_new(o, "_placeholder", json_true());
    json_object_set_new(o, "num", json_integer((json_int_t)num));
    return o;
}

/* Checks every placeholder in v names an attachment below count. Placeholders are leaves. */
static int check_placeholders(const json_t *v, size_t count)
{
    size_t num;
    int rc = sio_placeholder_num(v, &num);
    if (rc < 0) return rc;
    if (rc == 1) return num < count ? 0 : SIO_EPLACEHOLDER;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((rc = check_placeholders(json_array_get(v, i), count))) return rc;
    } else if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)v, key, child)
        {
            if ((rc = check_placeholders(child, count))) return rc;
        }
    }
    return 0;
}

typedef struct ser {
    size_t bin_len;
    size_t *order;
    size_t order_len, order_cap;
} ser_t;

/* json_out hook: rewrites each placeholder, numbering them in order of appearance. */
static int ser_hook(void *user, buf_t *out, const json_t *v)
{
    ser_t *s = user;
    size_t num;
    int rc = sio_placeholder_num(v, &num);
    if (rc <= 0) return rc;
    if (num >= s->bin_len) return SIO_EPLACEHOLDER;
    if (s->order_len == s->order_cap) {
        s->order_cap = s->order_cap ? s->order_cap * 2 : 4;
        s->order = xrealloc(s->order, s->order_cap * sizeof *s->order);
    }
    buf_printf(out, "{\"_placeholder\":true,\"num\":%zu}", s->order_len);
    s->order[s->order_len++] = num;
    return 1;
}

int sio_binary_serialize(buf_t *out, const json_t *value, size_t bin_len, size_t **order,
                         size_t *order_len)
{
    *order = NULL;
    *order_len = 0;
    if (bin_len == 0) {
        json_out_append(out, value);
        return 0;
    }
    size_t mark = out->len;
    ser_t s = {bin_len, NULL, 0, 0};
    int rc = json_out_append_hook(out, value, ser_hook, &s);
    if (rc) {
        out->len = mark;
        if (out->data) out->data[mark] = '\0';
        free(s.order);
        return rc;
    }
    *order = s.order;
    *order_len = s.order_len;
    return 0;
}

/* ---- text packets ---- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int payload_valid(sio_type_t type, const json_t *v)
{
    switch (type) {
    case SIO_CONNECT:
        return json_is_object(v) ? 0 : SIO_EPAYLOAD;
    case SIO_DISCONNECT:
        return SIO_EPAYLOAD; /* must be absent */
    case SIO_CONNECT_ERROR:
        return json_is_object(v) || json_is_string(v) ? 0 : SIO_EPAYLOAD;
    case SIO_EVENT:
    case SIO_BINARY_EVENT: {
        const json_t *name = json_array_get(v, 0); /* NULL unless a non-empty array */
        if (json_is_number(name)) return 0;
        if (!json_is_string(name)) return SIO_EPAYLOAD;
        if (sio_event_name_is_reserved(json_string_value(name), json_string_length(name)))
            return SIO_ERESERVED;
        return 0;
    }
    case SIO_ACK:
    case SIO_BINARY_ACK:
        return json_is_array(v) ? 0 : SIO_EPAYLOAD;
    }
    return SIO_ETYPE;
}

int sio_packet_decode_text(const char *data, size_t len, size_t max_attachments, sio_packet_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = -1;
    if (len == 0 || data[0] < '0' || data[0] > '6') return SIO_ETYPE;
    sio_type_t type = (sio_type_t)(data[0] - '0');
    size_t i = 1;

    size_t attachments = 0;
    if (sio_type_is_binary(type)) {
        size_t start = i;
        for (; i < len && is_digit(data[i]); i++)
            attachments = attachments > (SIZE_MAX - 9) / 10
                              ? SIZE_MAX /* saturate: still too many, never wraps */
                              : attachments * 10 + (size_t)(data[i] - '0');
        if (i == start || i == len || data[i] != '-') return SIO_EATTACHMENTS;
        if (attachments > max_attachments) return SIO_ETOOMANY;
        i++;
    }

    const char *nsp = "/";
    size_t nsp_len = 1;
    if (i < len && data[i] == '/') {
        const char *comma = memchr(data + i, ',', len - i);
        nsp = data + i;
        nsp_len = comma ? (size_t)(comma - nsp) : len - i;
        if (memchr(nsp, '\0', nsp_len)) return SIO_ENSP;
        i += nsp_len + (comma ? 1 : 0);
    }

    int64_t id = -1;
    if (i < len && is_digit(data[i])) {
        id = 0;
        for (; i < len && is_digit(data[i]); i++) {
            id = id * 10 + (data[i] - '0');
            if (id > SIO_MAX_ID) return SIO_EID;
        }
    }

    json_t *payload = NULL;
    if (i < len) {
        payload = json_parse_js(data + i, len - i);
        if (!payload) return SIO_EJSON;
        int rc = payload_valid(type, payload);
        if (rc == 0 && sio_type_is_binary(type)) rc = check_placeholders(payload, attachments);
        if (rc) {
            json_decref(payload);
            return rc;
        }
    } else if (type != SIO_CONNECT && type != SIO_DISCONNECT) {
        return SIO_EPAYLOAD;
    }

    out->type = type;
    out->nsp = xmemdup0(nsp, nsp_len);
    out->id = id;
    out->data = payload;
    out->attachments = attachments;
    return 0;
}

/* ---- decoder ---- */

/* A binary packet awaiting its attachments. */
struct sio_pending {
    sio_packet_t packet;
    size_t bytes;      /* its text and the attachments received */
    uint64_t deadline; /* the caller's */
};

void sio_decoder_init(sio_decoder_t *d, const sio_decoder_limits_t *limits)
{
    d->limits = limits;
    d->pending = NULL;
}

void sio_decoder_free(sio_decoder_t *d)
{
    if (d->pending) {
        sio_packet_free(&d->pending->packet);
        free(d->pending);
        d->pending = NULL;
    }
}

int sio_decoder_awaiting(const sio_decoder_t *d)
{
    return d->pending != NULL;
}

size_t sio_decoder_pending_bytes(const sio_decoder_t *d)
{
    return d->pending ? d->pending->bytes : 0;
}

void sio_decoder_set_deadline(sio_decoder_t *d, uint64_t deadline)
{
    if (d->pending) d->pending->deadline = deadline;
}

uint64_t sio_decoder_deadline(const sio_decoder_t *d)
{
    return d->pending ? d->pending->deadline : 0;
}

/* 1 when len more bytes take the packet past the bound. */
static int too_large(const sio_decoder_t *d, size_t held, size_t len)
{
    size_t max = d->limits->max_binary_bytes;
    return max && (held > max || len > max - held);
}

int sio_decoder_feed(sio_decoder_t *d, int is_binary, const char *data, size_t len,
                     sio_packet_t *out)
{
    if (is_binary) {
        struct sio_pending *pend = d->pending;
        if (!pend) return SIO_EUNEXPECTED_BINARY;
        if (too_large(d, pend->bytes, len)) {
            sio_decoder_free(d);
            return SIO_ETOOLARGE;
        }
        sio_packet_t *p = &pend->packet;
        p->bin[p->bin_len].data = xmemdup0(data, len);
        p->bin[p->bin_len].len = len;
        pend->bytes += len;
        if (++p->bin_len < p->attachments) return SIO_DECODE_MORE;
        *out = *p;
        free(pend);
        d->pending = NULL;
        return SIO_DECODE_PACKET;
    }
    if (d->pending) {
        sio_decoder_free(d);
        return SIO_EUNEXPECTED_TEXT;
    }
    sio_packet_t p;
    int rc = sio_packet_decode_text(data, len, d->limits->max_attachments, &p);
    if (rc < 0) return rc;
    if (p.attachments == 0) {
        *out = p;
        return SIO_DECODE_PACKET;
    }
    if (too_large(d, 0, len)) {
        sio_packet_free(&p);
        return SIO_ETOOLARGE;
    }
    p.bin = xcalloc(p.attachments, sizeof *p.bin);
    d->pending = xmalloc(sizeof *d->pending);
    d->pending->packet = p;
    d->pending->bytes = len;
    d->pending->deadline = 0;
    return SIO_DECODE_MORE;
}

/* ---- encoder ---- */

void sio_encode(buf_t *out, sio_type_t type, const char *nsp, int64_t id, size_t attachments,
                const char *json, size_t json_len)
{
    buf_append_byte(out, (uint8_t)('0' + type));
    if (sio_type_is_binary(type)) buf_printf(out, "%zu-", attachments);
    if (nsp && strcmp(nsp, "/") != 0) {
        buf_append_str(out, nsp);
        buf_append_byte(out, ',');
    }
    if (id >= 0) buf_printf(out, "%" PRId64, id);
    if (json && json_len) buf_append(out, json, json_len);
}

const char *sio_strerror(int err)
{
    switch (err) {
    case SIO_DECODE_MORE:
        return "awaiting attachments";
    case SIO_DECODE_PACKET:
        return "packet complete";
    case SIO_ETYPE:
        return "unknown Socket.IO packet type";
    case SIO_EATTACHMENTS:
        return "illegal attachment count";
    case SIO_ETOOMANY:
        return "too many attachments";
    case SIO_ENSP:
        return "invalid namespace";
    case SIO_EID:
        return "ack id out of range";
    case SIO_EJSON:
        return "invalid JSON payload";
    case SIO_EPAYLOAD:
        return "invalid payload for packet type";
    case SIO_ERESERVED:
        return "reserved event name";
    case SIO_EPLACEHOLDER:
        return "invalid attachment placeholder";
    case SIO_EUNEXPECTED_TEXT:
        return "text packet while awaiting attachments";
    case SIO_EUNEXPECTED_BINARY:
        return "binary data when no attachment was expected";
    case SIO_ETOOLARGE:
        return "binary packet too large";
    default:
        return "unknown Socket.IO error";
    }
}
