/* ws_frame.c - RFC 6455 frame reader and writer, server side; see ws_frame.h.
 *
 * The reader is a byte-driven state machine: it gathers a frame header (2 to 14 bytes, kept
 * in the reader so a header may be split anywhere), checks every rule it can as soon as the
 * bytes that decide it are in, then unmasks the payload straight into its destination: the
 * small inline control buffer, or the message buffer for data. Input is const, so unmasking is
 * the one copy every payload byte needs; nothing is copied twice. */
#include "ws/ws_frame.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* Payload bytes reserved ahead of arrival are capped, so a header alone cannot make us
   allocate a large buffer; bigger frames grow the buffer as their bytes come in. */
#define WS_MSG_RESERVE_AHEAD 65536

static const ws_reader_callbacks_t no_callbacks;

void ws_reader_init(ws_reader_t *r, size_t max_message_size, const ws_reader_callbacks_t *cb,
                    void *user)
{
    memset(r, 0, sizeof(*r));
    r->cb = cb ? cb : &no_callbacks;
    r->user = user;
    r->max_message = max_message_size;
    r->hdr_need = 2;
    buf_init(&r->msg);
    utf8_stream_init(&r->utf8);
}

void ws_reader_free(ws_reader_t *r)
{
    buf_free(&r->msg);
    free(r->ctrl);
    r->ctrl = NULL;
}

static char *ctrl_buffer(ws_reader_t *r)
{
    if (!r->ctrl) r->ctrl = xmalloc(WS_MAX_CONTROL_PAYLOAD + 1);
    return r->ctrl;
}

const char *ws_reader_error(const ws_reader_t *r)
{
    return r->error;
}

int ws_reader_done(const ws_reader_t *r)
{
    return r->err != 0 || r->done;
}

int ws_close_code_valid(int code)
{
    /* 1004-1006 and 1015 are reserved and must never be sent; 1016-2999 are reserved for
       future RFCs, 3000-4999 belong to libraries and applications. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static int is_control(uint8_t opcode)
{
    return (opcode & 0x08) != 0;
}

static int fail(ws_reader_t *r, int err, int close_code, const char *msg)
{
    r->err = err;
    r->err_close = close_code;
    r->error = msg;
    buf_free(&r->msg); /* nothing more will be delivered */
    return err;
}

static int fail_protocol(ws_reader_t *r, const char *msg)
{
    return fail(r, WS_ERR_PROTOCOL, WS_CLOSE_PROTOCOL_ERROR, msg);
}

/* A callback asked to stop: the reader ignores everything from now on. */
static int stopped(ws_reader_t *r, int rc)
{
    if (rc != 0) r->done = 1;
    return rc;
}

/* XORs n bytes of src with the mask into dst; offset is the payload position of src[0]. */
static void unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4],
                   uint64_t offset)
{
    uint8_t m8[8];
    for (int i = 0; i < 8; i++)
        m8[i] = mask[(offset + (uint64_t)i) & 3];
    uint64_t m;
    memcpy(&m, m8, sizeof(m));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, sizeof(w));
        w ^= m;
        memcpy(dst + i, &w, sizeof(w));
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ m8[i & 7];
}

/* The first two header bytes decide almost every framing rule: check them before waiting
   for the rest. */
static int parse_base(ws_reader_t *r)
{
    uint8_t b0 = r->hdr[0], b1 = r->hdr[1];
    uint8_t opcode = b0 & 0x0f;
    uint8_t len7 = b1 & 0x7f;

    if (b0 & 0x70) return fail_protocol(r, "reserved bits set");
    switch (opcode) {
    case WS_OP_CONTINUATION:
    case WS_OP_TEXT:
    case WS_OP_BINARY:
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        break;
    default:
        return fail_protocol(r, "unknown opcode");
    }
    if (!(b1 & 0x80)) return fail_protocol(r, "unmasked client frame");
    r->opcode = opcode;
    r->fin = (b0 & 0x80) != 0;
    if (is_control(opcode)) {
        if (!r->fin) return fail_protocol(r, "fragmented control frame");
    } else if (opcode == WS_OP_CONTINUATION) {
        if (!r->msg_opcode) return fail_protocol(r, "continuation frame without a message");
    } else if (r->msg_opcode) {
        return fail_protocol(r, "new data frame inside a fragmented message");
    }
    r->hdr_need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
    return 0;
}

/* The whole header is in: length, limit, mask. */
static int parse_rest(ws_reader_t *r)
{
    uint8_t len7 = r->hdr[1] & 0x7f;
    const uint8_t *p = r->hdr + 2;
    uint64_t len = len7;

    if (len7 == 126) {
        len = ((uint64_t)p[0] << 8) | p[1];
        p += 2;
    } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | p[i];
        p += 8;
        if (len >> 63) return fail_protocol(r, "64-bit payload length with the top bit set");
    }
    if (is_control(r->opcode)) {
        /* Checked on the decoded length: a non-minimal encoding of a short length is legal. */
        if (len > WS_MAX_CONTROL_PAYLOAD) return fail_protocol(r, "control frame too long");
    } else {
        /* Refuse on the announcement, before buffering a byte of it. */
        if (len > (uint64_t)(r->max_message - r->msg.len))
            return fail(r, WS_ERR_TOO_BIG, WS_CLOSE_TOO_BIG, "message too big");
        if (r->opcode != WS_OP_CONTINUATION) {
            r->msg_opcode = r->opcode;
            utf8_stream_init(&r->utf8);
        }
    }
    memcpy(r->mask, p, 4);
    r->frame_len = len;
    r->frame_got = 0;
    r->in_payload = 1;
    return 0;
}

static int read_payload(ws_reader_t *r, const uint8_t *src, size_t n)
{
    if (is_control(r->opcode)) {
        unmask((uint8_t *)ctrl_buffer(r) + r->frame_got, src, n, r->mask, r->frame_got);
        r->frame_got += n;
        return 0;
    }
    uint64_t left = r->frame_len - r->frame_got;
    buf_reserve(&r->msg, left <= WS_MSG_RESERVE_AHEAD ? (size_t)left : n);
    uint8_t *dst = (uint8_t *)r->msg.data + r->msg.len;
    unmask(dst, src, n, r->mask, r->frame_got);
    r->msg.len += n;
    r->msg.data[r->msg.len] = '\0';
    r->frame_got += n;
    /* Fail fast: reject bad text at the first bad byte, not at the end of the message. */
    if (r->msg_opcode == WS_OP_TEXT && utf8_stream_feed(&r->utf8, (const char *)dst, n) != 0)
        return fail(r, WS_ERR_INVALID_DATA, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
    return 0;
}

static int finish_close(ws_reader_t *r, size_t len)
{
    int code = WS_CLOSE_NO_STATUS;
    const char *reason = r->ctrl;
    size_t reason_len = 0;

    if (len == 1) return fail_protocol(r, "close frame with a 1-byte body");
    if (len >= 2) {
        code = ((uint8_t)r->ctrl[0] << 8) | (uint8_t)r->ctrl[1];
        if (!ws_close_code_valid(code)) return fail_protocol(r, "invalid close code");
        reason = r->ctrl + 2;
        reason_len = len - 2;
        if (!utf8_valid(reason, reason_len))
            return fail_protocol(r, "invalid UTF-8 in close reason");
    }
    r->done = 1; /* nothing may follow a close frame */
    buf_free(&r->msg);
    if (!r->cb->on_close) return 0;
    return stopped(r, r->cb->on_close(r->user, code, reason, reason_len));
}

static int finish_frame(ws_reader_t *r)
{
    r->in_payload = 0;
    r->hdr_len = 0;
    r->hdr_need = 2;

    if (is_control(r->opcode)) {
        size_t len = (size_t)r->frame_len;
        ctrl_buffer(r)[len] = '\0';
        if (r->opcode == WS_OP_CLOSE) return finish_close(r, len);
        int (*fn)(void *, const char *, size_t) =
            r->opcode == WS_OP_PING ? r->cb->on_ping : r->cb->on_pong;
        int rc = fn ? fn(r->user, r->ctrl, len) : 0;
        free(r->ctrl); /* pings are rare: an idle reader holds no control buffer */
        r->ctrl = NULL;
        return stopped(r, rc);
    }
    if (!r->fin) return 0;

    if (r->msg_opcode == WS_OP_TEXT && utf8_stream_finish(&r->utf8) != 0)
        return fail(r, WS_ERR_INVALID_DATA, WS_CLOSE_INVALID_DATA,
                    "truncated UTF-8 sequence at the end of a text message");
    int rc = 0;
    if (r->cb->on_message) {
        const char *data = r->msg.data ? r->msg.data : "";
        rc = r->cb->on_message(r->user, r->msg_opcode == WS_OP_BINARY, data, r->msg.len);
    }
    r->msg_opcode = 0;
    /* Released, not kept for the next message: most connections are idle most of the time,
       and an idle reader then holds no memory (a small allocation per message is cheap). */
    buf_free(&r->msg);
    return stopped(r, rc);
}

int ws_reader_feed(ws_reader_t *r, const char *data, size_t len, int *close_code)
{
    const uint8_t *p = (const uint8_t *)data;
    const uint8_t *end = len ? p + len : p; /* data may be NULL when len is 0 */
    int rc = 0;

    if (close_code) *close_code = 0;
    if (r->err) goto out;
    if (r->done) return 0;

    while (p < end && rc == 0 && !r->done) {
        if (r->in_payload) {
            uint64_t left = r->frame_len - r->frame_got;
            size_t n = (size_t)(end - p);
            if ((uint64_t)n > left) n = (size_t)left;
            rc = read_payload(r, p, n);
            p += n;
            if (rc == 0 && r->frame_got == r->frame_len) rc = finish_frame(r);
            continue;
        }
        size_t n = (size_t)(r->hdr_need - r->hdr_len);
        if (n > (size_t)(end - p)) n = (size_t)(end - p);
        memcpy(r->hdr + r->hdr_len, p, n);
        r->hdr_len = (uint8_t)(r->hdr_len + n);
        p += n;
        if (r->hdr_len < r->hdr_need) break;
        if (r->hdr_need == 2) {
            /* hdr_need grows past 2 here (client frames always carry a mask). */
            rc = parse_base(r);
            continue;
        }
        rc = parse_rest(r);
        if (rc == 0 && r->frame_len == 0) rc = finish_frame(r);
    }
out:
    if (r->err) {
        if (close_code) *close_code = r->err_close;
        return r->err;
    }
    return rc;
}

size_t ws_frame_header(uint8_t hdr[10], ws_opcode_t opcode, size_t payload_len)
{
    hdr[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (payload_len < 126) {
        hdr[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xffff) {
        hdr[1] = 126;
        hdr[2] = (uint8_t)(payload_len >> 8);
        hdr[3] = (uint8_t)payload_len;
        return 4;
    }
    hdr[1] = 127;
    uint64_t len = payload_len;
    for (int i = 9; i >= 2; i--) {
        hdr[i] = (uint8_t)len;
        len >>= 8;
    }
    return 10;
}

void ws_write_frame(buf_t *out, ws_opcode_t opcode, const void *payload, size_t len)
{
    uint8_t hdr[10];
    size_t n = ws_frame_header(hdr, opcode, len);
    buf_reserve(out, n + len);
    buf_append(out, hdr, n);
    buf_append(out, payload, len);
}

void ws_write_close(buf_t *out, int code, const char *reason)
{
    uint8_t body[WS_MAX_CONTROL_PAYLOAD];
    size_t len = 0;

    if (code > 0) {
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        len = 2;
        if (reason) {
            size_t rlen = strlen(reason);
            if (rlen > sizeof(body) - 2) {
                /* Cut before a continuation byte so the reason stays valid UTF-8: a peer
                   would otherwise fail the connection with 1007. */
                rlen = sizeof(body) - 2;
                while (rlen > 0 && ((uint8_t)reason[rlen] & 0xc0) == 0x80)
                    rlen--;
            }
            memcpy(body + 2, reason, rlen);
            len += rlen;
        }
    }
    ws_write_frame(out, WS_OP_CLOSE, body, len);
}
