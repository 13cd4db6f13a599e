/* test_sio_packet.c - Socket.IO v5 packet encoding, decoding and binary attachments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_out.h"
#include "sio/sio_packet.h"

#define LIT(s) s, sizeof(s) - 1

static const sio_decoder_limits_t limits10 = {SIO_DEFAULT_MAX_ATTACHMENTS, 0};

/* Decodes one complete text packet through a fresh decoder. */
static int decode1(const char *text, sio_packet_t *p)
{
    sio_decoder_t d;
    sio_decoder_init(&d, &limits10);
    int rc = sio_decoder_feed(&d, 0, text, strlen(text), p);
    sio_decoder_free(&d);
    return rc;
}

/* Re-encodes a decoded packet with its JSON printed by json_out. */
static void reencode(const sio_packet_t *p, buf_t *out)
{
    buf_t json = BUF_INIT;
    if (p->data) json_out_append(&json, p->data);
    sio_encode(out, p->type, p->nsp, p->id, p->attachments, json.data, json.len);
    buf_free(&json);
}

/* Every example of the protocol document decodes as described and re-encodes identically. */
static void protocol_examples_round_trip(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        sio_type_t type;
        const char *nsp;
        int64_t id;
        size_t attachments;
        const char *json; /* NULL when absent */
    } cases[] = {
        {"0", SIO_CONNECT, "/", -1, 0, NULL},
        {"0/admin,{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}", SIO_CONNECT, "/admin", -1, 0,
         "{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}"},
        {"4{\"message\":\"Not authorized\"}", SIO_CONNECT_ERROR, "/", -1, 0,
         "{\"message\":\"Not authorized\"}"},
        {"2[\"foo\"]", SIO_EVENT, "/", -1, 0, "[\"foo\"]"},
        {"2/admin,[\"bar\"]", SIO_EVENT, "/admin", -1, 0, "[\"bar\"]"},
        {"51-[\"baz\",{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_EVENT, "/", -1, 1,
         "[\"baz\",{\"_placeholder\":true,\"num\":0}]"},
        {"52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
         SIO_BINARY_EVENT, "/admin", -1, 2,
         "[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"},
        {"212[\"foo\"]", SIO_EVENT, "/", 12, 0, "[\"foo\"]"},
        {"3/admin,13[\"bar\"]", SIO_ACK, "/admin", 13, 0, "[\"bar\"]"},
        {"61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_ACK, "/", 15, 1,
         "[\"bar\",{\"_placeholder\":true,\"num\":0}]"},
        {"1", SIO_DISCONNECT, "/", -1, 0, NULL},
        {"1/admin,", SIO_DISCONNECT, "/admin", -1, 0, NULL},
        {"0{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}", SIO_CONNECT, "/", -1, 0,
         "{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}"},
        {"2[\"hey\",\"Jude\"]", SIO_EVENT, "/", -1, 0, "[\"hey\",\"Jude\"]"},
        /* From the conformance suite. */
        {"2[\"message\",1,\"2\",{\"3\":[true]}]", SIO_EVENT, "/", -1, 0,
         "[\"message\",1,\"2\",{\"3\":[true]}]"},
        {"2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", SIO_EVENT, "/", 456, 0,
         "[\"message-with-ack\",1,\"2\",{\"3\":[false]}]"},
        {"0{\"token\":\"123\"}", SIO_CONNECT, "/", -1, 0, "{\"token\":\"123\"}"},
        {"0/custom,", SIO_CONNECT, "/custom", -1, 0, NULL},
        {"0/custom,{\"token\":\"abc\"}", SIO_CONNECT, "/custom", -1, 0, "{\"token\":\"abc\"}"},
        {"4\"Invalid namespace\"", SIO_CONNECT_ERROR, "/", -1, 0, "\"Invalid namespace\""},
        {"3/admin,0[]", SIO_ACK, "/admin", 0, 0, "[]"},
        {"2/a/b-c.d,7[42]", SIO_EVENT, "/a/b-c.d", 7, 0, "[42]"},
        {"50-[\"x\"]", SIO_BINARY_EVENT, "/", -1, 0, "[\"x\"]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sio_packet_t p;
        if (cases[i].attachments == 0) {
            assert_int_equal(decode1(cases[i].text, &p), SIO_DECODE_PACKET);
        } else {
            assert_int_equal(sio_packet_decode_text(cases[i].text, strlen(cases[i].text), 10, &p),
                             0);
        }
        assert_int_equal(p.type, cases[i].type);
        assert_string_equal(p.nsp, cases[i].nsp);
        assert_int_equal(p.id, cases[i].id);
        assert_int_equal(p.attachments, cases[i].attachments);
        buf_t out = BUF_INIT;
        if (cases[i].json) {
            assert_non_null(p.data);
            json_out_append(&out, p.data);
            assert_string_equal(out.data, cases[i].json);
        } else {
            assert_null(p.data);
        }
        buf_reset(&out);
        reencode(&p, &out);
        assert_string_equal(out.data, cases[i].text);
        buf_free(&out);
        sio_packet_free(&p);
        assert_null(p.nsp);
        assert_int_equal(p.id, -1);
    }
}

static void namespace_without_comma_runs_to_the_end(void **state)
{
    (void)state;
    static const char *const texts[] = {"0/custom", "1/custom", "0/random"};
    for (size_t i = 0; i < 3; i++) {
        sio_packet_t p;
        assert_int_equal(decode1(texts[i], &p), SIO_DECODE_PACKET);
        assert_string_equal(p.nsp, texts[i] + 1);
        assert_null(p.data);
        assert_int_equal(p.id, -1);
        sio_packet_free(&p);
    }
    /* Without a comma, what follows is part of the name, as in the reference parser. */
    sio_packet_t p;
    assert_int_equal(decode1("0/admin{}", &p), SIO_DECODE_PACKET);
    assert_string_equal(p.nsp, "/admin{}");
    assert_null(p.data);
    sio_packet_free(&p);
    /* The namespace may be just "/" written out. */
    assert_int_equal(decode1("2/,[\"a\"]", &p), SIO_DECODE_PACKET);
    assert_string_equal(p.nsp, "/");
    sio_packet_free(&p);
}

static void event_names_and_ids(void **state)
{
    (void)state;
    sio_packet_t p;
    /* A number is accepted as event name, as by the reference parser. */
    assert_int_equal(decode1("2[1,2]", &p), SIO_DECODE_PACKET);
    sio_packet_free(&p);
    assert_int_equal(decode1("2[1.5]", &p), SIO_DECODE_PACKET);
    sio_packet_free(&p);
    /* Leading zeros and the largest id. */
    assert_int_equal(decode1("2007[\"a\"]", &p), SIO_DECODE_PACKET);
    assert_int_equal(p.id, 7);
    sio_packet_free(&p);
    assert_int_equal(decode1("29007199254740991[\"a\"]", &p), SIO_DECODE_PACKET);
    assert_int_equal(p.id, SIO_MAX_ID);
    sio_packet_free(&p);
    /* An id on a CONNECT is parsed like any other. */
    assert_int_equal(decode1("05{}", &p), SIO_DECODE_PACKET);
    assert_int_equal(p.id, 5);
    sio_packet_free(&p);
    /* JSON whitespace around the payload is allowed, as by JSON.parse. */
    assert_int_equal(decode1("3/x,1 [ ] \n", &p), SIO_DECODE_PACKET);
    assert_int_equal(json_array_size(p.data), 0);
    sio_packet_free(&p);
    /* NUL inside a JSON string is fine. */
    assert_int_equal(decode1("2[\"a\\u0000b\"]", &p), SIO_DECODE_PACKET);
    assert_int_equal(json_string_length(json_array_get(p.data, 0)), 3);
    sio_packet_free(&p);
    /* Integers beyond int64 become reals, as JavaScript numbers. */
    assert_int_equal(decode1("2[\"n\",123456789012345678901234]", &p), SIO_DECODE_PACKET);
    assert_true(json_is_real(json_array_get(p.data, 1)));
    buf_t out = BUF_INIT;
    json_out_append(&out, p.data);
    assert_string_equal(out.data, "[\"n\",1.2345678901234569e+23]");
    buf_free(&out);
    sio_packet_free(&p);
}

static void reserved_event_names(void **state)
{
    (void)state;
    static const char *const names[] = {"connect",       "connect_error", "disconnect",
                                        "disconnecting", "newListener",   "removeListener"};
    for (size_t i = 0; i < 6; i++) {
        assert_true(sio_event_name_is_reserved(names[i], strlen(names[i])));
        char text[64];
        sio_packet_t p;
        snprintf(text, sizeof text, "2[\"%s\",1]", names[i]);
        assert_int_equal(decode1(text, &p), SIO_ERESERVED);
        snprintf(text, sizeof text, "51-[\"%s\",{\"_placeholder\":true,\"num\":0}]", names[i]);
        assert_int_equal(decode1(text, &p), SIO_ERESERVED);
    }
    assert_false(sio_event_name_is_reserved("connec", 6));
    assert_false(sio_event_name_is_reserved("connected", 9));
    assert_false(sio_event_name_is_reserved("Connect", 7));
    assert_false(sio_event_name_is_reserved("disconnect\0", 11));
    assert_false(sio_event_name_is_reserved("", 0));
    /* Reserved names are fine as arguments and in acks. */
    sio_packet_t p;
    assert_int_equal(decode1("2[\"ok\",\"connect\"]", &p), SIO_DECODE_PACKET);
    sio_packet_free(&p);
    assert_int_equal(decode1("31[\"disconnect\"]", &p), SIO_DECODE_PACKET);
    sio_packet_free(&p);
}

static void malformed_packets(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int err;
    } cases[] = {
        {"", SIO_ETYPE},
        {"abc", SIO_ETYPE},
        {"7", SIO_ETYPE},
        {"9[\"a\"]", SIO_ETYPE},
        {" 2[\"a\"]", SIO_ETYPE},
        {"-1", SIO_ETYPE},
        /* attachments */
        {"5", SIO_EATTACHMENTS},
        {"6", SIO_EATTACHMENTS},
        {"5[\"a\"]", SIO_EATTACHMENTS},
        {"5-[\"a\"]", SIO_EATTACHMENTS},
        {"51[\"a\"]", SIO_EATTACHMENTS},
        {"51", SIO_EATTACHMENTS},
        {"5-1-[\"a\"]", SIO_EATTACHMENTS},
        {"5x-[\"a\"]", SIO_EATTACHMENTS},
        {"51e1-[\"a\"]", SIO_EATTACHMENTS},
        {"511-[\"a\"]", SIO_ETOOMANY},
        {"699999999999999999999999999999-[]", SIO_ETOOMANY},
        /* ids */
        {"29007199254740992[\"a\"]", SIO_EID},
        {"299999999999999999999999999999[\"a\"]", SIO_EID},
        {"3/a,99999999999999999999[]", SIO_EID},
        /* JSON */
        {"2abc[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", SIO_EJSON},
        {"2[\"a\"", SIO_EJSON},
        {"2[\"a\"]x", SIO_EJSON},
        {"2[\"a\"][\"b\"]", SIO_EJSON},
        {"2[\"a\",]", SIO_EJSON},
        {"2['a']", SIO_EJSON},
        {"0{\"a\":1}}", SIO_EJSON},
        {"2[\"a\",1e400]", SIO_EJSON},
        {"0{\"a\\u0000\":1}", SIO_EJSON},
        {"2-[\"a\"]", SIO_EJSON},
        {"2/admin,x", SIO_EJSON},
        {"2 ", SIO_EJSON},
        /* payload type per packet type */
        {"2{}", SIO_EPAYLOAD},
        {"2", SIO_EPAYLOAD},
        {"2[]", SIO_EPAYLOAD},
        {"2[null]", SIO_EPAYLOAD},
        {"2[[\"a\"]]", SIO_EPAYLOAD},
        {"2[{}]", SIO_EPAYLOAD},
        {"2[true]", SIO_EPAYLOAD},
        {"2\"a\"", SIO_EPAYLOAD},
        {"2/admin,", SIO_EPAYLOAD},
        {"212", SIO_EPAYLOAD},
        {"0[]", SIO_EPAYLOAD},
        {"0\"x\"", SIO_EPAYLOAD},
        {"0null", SIO_EPAYLOAD},
        {"1{}", SIO_EPAYLOAD},
        {"1/admin,[]", SIO_EPAYLOAD},
        {"1\"bye\"", SIO_EPAYLOAD},
        {"3{}", SIO_EPAYLOAD},
        {"3", SIO_EPAYLOAD},
        {"3\"a\"", SIO_EPAYLOAD},
        {"4", SIO_EPAYLOAD},
        {"4[]", SIO_EPAYLOAD},
        {"41", SIO_EPAYLOAD},
        {"4null", SIO_EPAYLOAD},
        {"51-{}", SIO_EPAYLOAD},
        {"61-{}", SIO_EPAYLOAD},
        {"61-", SIO_EPAYLOAD},
        /* placeholders */
        {"51-[\"a\",{\"_placeholder\":true,\"num\":1}]", SIO_EPLACEHOLDER},
        {"51-[\"a\",{\"_placeholder\":true,\"num\":-1}]", SIO_EPLACEHOLDER},
        {"51-[\"a\",{\"_placeholder\":true,\"num\":0.5}]", SIO_EPLACEHOLDER},
        {"51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]", SIO_EPLACEHOLDER},
        {"51-[\"a\",{\"_placeholder\":true}]", SIO_EPLACEHOLDER},
        {"50-[\"a\",{\"_placeholder\":true,\"num\":0}]", SIO_EPLACEHOLDER},
        {"61-[{\"x\":[{\"_placeholder\":true,\"num\":3}]}]", SIO_EPLACEHOLDER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sio_packet_t p;
        int rc = decode1(cases[i].text, &p);
        if (rc != cases[i].err)
            fail_msg("\"%s\": got %d, want %d", cases[i].text, rc, cases[i].err);
        if (rc == SIO_DECODE_PACKET) sio_packet_free(&p);
    }
    sio_packet_t p;
    /* "01" is a CONNECT with id 1 and no payload: valid. */
    assert_int_equal(decode1("01", &p), SIO_DECODE_PACKET);
    assert_int_equal(p.id, 1);
    sio_packet_free(&p);
    /* A NUL in the namespace would alias another namespace once used as a C string. */
    assert_int_equal(sio_packet_decode_text(LIT("2/ad\0min,[\"a\"]"), 10, &p), SIO_ENSP);
    assert_null(p.nsp);
    assert_null(p.data);
    /* Raw NUL elsewhere is simply bad JSON or a bad type. */
    assert_int_equal(sio_packet_decode_text(LIT("2[\"a\"]\0"), 10, &p), SIO_EJSON);
    assert_int_equal(sio_packet_decode_text(LIT("\0"), 10, &p), SIO_ETYPE);
    assert_string_equal(sio_strerror(SIO_EID), "ack id out of range");
    assert_string_equal(sio_strerror(-100), "unknown Socket.IO error");
}

static void truncations_never_crash(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "52-/admin,7[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
        "3/admin,13[\"bar\",{\"a\":[1,2.5,null,true,\"x\\n\"]}]",
        "0/custom,{\"token\":\"abc\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(texts[i]);
        for (size_t k = 0; k <= n; k++) {
            char *copy = malloc(k ? k : 1); /* exact size: ASan catches any overread */
            memcpy(copy, texts[i], k);
            sio_packet_t p;
            int rc = sio_packet_decode_text(copy, k, 10, &p);
            if (rc == 0)
                sio_packet_free(&p);
            else
                assert_true(rc < 0);
            free(copy);
        }
    }
}

static void binary_event_reassembly(void **state)
{
    (void)state;
    sio_decoder_t d;
    sio_decoder_init(&d, &limits10);
    sio_packet_t p;
    const char *text =
        "52-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
    assert_int_equal(sio_decoder_feed(&d, 0, text, strlen(text), &p), SIO_DECODE_MORE);
    assert_true(sio_decoder_awaiting(&d));
    assert_int_equal(sio_decoder_feed(&d, 1, "\x01\x02\x03", 3, &p), SIO_DECODE_MORE);
    assert_int_equal(sio_decoder_feed(&d, 1, "\x04\x05\x06", 3, &p), SIO_DECODE_PACKET);
    assert_false(sio_decoder_awaiting(&d));
    assert_int_equal(p.type, SIO_BINARY_EVENT);
    assert_int_equal(p.attachments, 2);
    assert_int_equal(p.bin_len, 2);
    assert_memory_equal(p.bin[0].data, "\x01\x02\x03", 3);
    assert_memory_equal(p.bin[1].data, "\x04\x05\x06", 3);
    assert_int_equal(p.bin[1].len, 3);
    /* Placeholders are still in the tree. */
    size_t num = 99;
    assert_int_equal(sio_placeholder_num(json_array_get(p.data, 2), &num), 1);
    assert_int_equal(num, 1);

    /* Echo as the conformance server does: ["message-back", ...args]. */
    json_t *args = json_array();
    json_array_append_new(args, json_string("message-back"));
    for (size_t i = 1; i < json_array_size(p.data); i++)
        json_array_append(args, json_array_get(p.data, i));
    buf_t out = BUF_INIT, json = BUF_INIT;
    size_t *order, order_len;
    assert_int_equal(sio_binary_serialize(&json, args, p.bin_len, &order, &order_len), 0);
    sio_encode(&out, SIO_BINARY_EVENT, "/", -1, order_len, json.data, json.len);
    assert_string_equal(out.data, "52-[\"message-back\",{\"_placeholder\":true,\"num\":0},{\"_"
                                  "placeholder\":true,\"num\":1}]");
    assert_int_equal(order_len, 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    free(order);
    json_decref(args);
    buf_free(&json);
    buf_free(&out);
    sio_packet_free(&p);

    /* A binary ack with an id, re-sent as the ack of the same id. */
    text = "52-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0},"
           "{\"_placeholder\":true,\"num\":1}]";
    assert_int_equal(sio_decoder_feed(&d, 0, text, strlen(text), &p), SIO_DECODE_MORE);
    assert_int_equal(sio_decoder_feed(&d, 1, "\x01\x02\x03", 3, &p), SIO_DECODE_MORE);
    assert_int_equal(sio_decoder_feed(&d, 1, "\x04\x05\x06", 3, &p), SIO_DECODE_PACKET);
    assert_int_equal(p.id, 789);
    json_array_remove(p.data, 0);
    assert_int_equal(sio_binary_serialize(&json, p.data, p.bin_len, &order, &order_len), 0);
    sio_encode(&out, SIO_BINARY_ACK, p.nsp, p.id, order_len, json.data, json.len);
    assert_string_equal(
        out.data, "62-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
    free(order);
    buf_free(&json);
    buf_free(&out);
    sio_packet_free(&p);

    /* One attachment in a custom namespace, empty attachment bytes allowed. */
    text = "61-/admin,15[\"bar\",{\"_placeholder\":true,\"num\":0}]";
    assert_int_equal(sio_decoder_feed(&d, 0, text, strlen(text), &p), SIO_DECODE_MORE);
    assert_int_equal(sio_decoder_feed(&d, 1, "", 0, &p), SIO_DECODE_PACKET);
    assert_int_equal(p.type, SIO_BINARY_ACK);
    assert_string_equal(p.nsp, "/admin");
    assert_int_equal(p.id, 15);
    assert_int_equal(p.bin[0].len, 0);
    assert_string_equal(p.bin[0].data, "");
    sio_packet_free(&p);

    /* Zero attachments: complete at once, and the decoder takes text again. */
    assert_int_equal(sio_decoder_feed(&d, 0, LIT("50-[\"x\",1]"), &p), SIO_DECODE_PACKET);
    assert_int_equal(p.bin_len, 0);
    assert_null(p.bin);
    sio_packet_free(&p);
    assert_int_equal(sio_decoder_feed(&d, 0, LIT("2[\"y\"]"), &p), SIO_DECODE_PACKET);
    sio_packet_free(&p);

    /* Attachment limit is the decoder's. */
    sio_decoder_t small;
    static const sio_decoder_limits_t limits1 = {1, 0};
    sio_decoder_init(&small, &limits1);
    assert_int_equal(sio_decoder_feed(&small, 0, LIT("52-[\"a\"]"), &p), SIO_ETOOMANY);
    assert_int_equal(sio_decoder_feed(&small, 0, LIT("51-[\"a\"]"), &p), SIO_DECODE_MORE);
    sio_decoder_free(&small); /* drops the partial packet: ASan would report a leak */
    assert_false(sio_decoder_awaiting(&small));
    sio_decoder_free(&d);
}

static void attachments_in_the_wrong_state(void **state)
{
    (void)state;
    sio_decoder_t d;
    sio_decoder_init(&d, &limits10);
    sio_packet_t p;
    /* Binary data with nothing awaited. */
    assert_int_equal(sio_decoder_feed(&d, 1, "\x01", 1, &p), SIO_EUNEXPECTED_BINARY);
    assert_int_equal(sio_decoder_feed(&d, 0, LIT("2[\"a\"]"), &p), SIO_DECODE_PACKET);
    sio_packet_free(&p);
    assert_int_equal(sio_decoder_feed(&d, 1, "\x01", 1, &p), SIO_EUNEXPECTED_BINARY);
    /* Text while attachments are awaited: error, and the partial packet is dropped. */
    assert_int_equal(
        sio_decoder_feed(&d, 0, LIT("52-[\"a\",{\"_placeholder\":true,\"num\":1}]"), &p),
        SIO_DECODE_MORE);
    assert_int_equal(sio_decoder_feed(&d, 1, "\x01", 1, &p), SIO_DECODE_MORE);
    assert_int_equal(sio_decoder_feed(&d, 0, LIT("2[\"a\"]"), &p), SIO_EUNEXPECTED_TEXT);
    assert_false(sio_decoder_awaiting(&d));
    /* Back to idle: binary is unexpected again, text works. */
    assert_int_equal(sio_decoder_feed(&d, 1, "\x01", 1, &p), SIO_EUNEXPECTED_BINARY);
    assert_int_equal(sio_decoder_feed(&d, 0, LIT("2[\"a\"]"), &p), SIO_DECODE_PACKET);
    sio_packet_free(&p);
    /* Even a malformed text while awaiting reports the state error. */
    assert_int_equal(sio_decoder_feed(&d, 0, LIT("51-[\"a\"]"), &p), SIO_DECODE_MORE);
    assert_int_equal(sio_decoder_feed(&d, 0, LIT("zzz"), &p), SIO_EUNEXPECTED_TEXT);
    /* Error on a binary header leaves the decoder idle. */
    assert_int_equal(sio_decoder_feed(&d, 0, LIT("51-{}"), &p), SIO_EPAYLOAD);
    assert_false(sio_decoder_awaiting(&d));
    sio_decoder_free(&d);
    sio_decoder_free(&d); /* idempotent */
}

static void binary_packet_bytes_are_bounded(void **state)
{
    (void)state;
    /* The text and each attachment count; one byte past the bound is refused. */
    static const sio_decoder_limits_t lim = {10, 40};
    sio_decoder_t d;
    sio_decoder_init(&d, &lim);
    sio_packet_t p;
    const char text[] = "53-[\"a\",{\"_placeholder\":true,\"num\":0}]"; /* 38 bytes */
    assert_int_equal(sio_decoder_pending_bytes(&d), 0);
    assert_int_equal(sio_decoder_feed(&d, 0, LIT(text), &p), SIO_DECODE_MORE);
    assert_int_equal(sio_decoder_pending_bytes(&d), 38);
    assert_int_equal(sio_decoder_feed(&d, 1, "\x01\x02", 2, &p), SIO_DECODE_MORE);
    assert_int_equal(sio_decoder_pending_bytes(&d), 40);
    assert_int_equal(sio_decoder_feed(&d, 1, "\x01", 1, &p), SIO_ETOOLARGE);
    assert_false(sio_decoder_awaiting(&d)); /* dropped (ASan would report a leak) */
    assert_int_equal(sio_decoder_pending_bytes(&d), 0);
    /* Exactly at the bound completes. */
    assert_int_equal(sio_decoder_feed(&d, 0, LIT("51-[\"a\"]"), &p), SIO_DECODE_MORE);
    char bin[32] = {0};
    assert_int_equal(sio_decoder_feed(&d, 1, bin, sizeof(bin), &p), SIO_DECODE_PACKET);
    sio_packet_free(&p);
    /* A text part alone over the bound is refused before anything is kept. */
    char big[64];
    memset(big, ' ', sizeof(big));
    memcpy(big, "51-[\"a\"]", 8);
    assert_int_equal(sio_decoder_feed(&d, 0, big, sizeof(big), &p), SIO_ETOOLARGE);
    assert_false(sio_decoder_awaiting(&d));
    /* Without a bound, nothing is refused for size. */
    sio_decoder_init(&d, &limits10);
    assert_int_equal(sio_decoder_feed(&d, 0, big, sizeof(big), &p), SIO_DECODE_MORE);
    sio_decoder_free(&d);
    assert_string_equal(sio_strerror(SIO_ETOOLARGE), "binary packet too large");
}

static void the_deadline_lives_with_the_partial_packet(void **state)
{
    (void)state;
    sio_decoder_t d;
    sio_decoder_init(&d, &limits10);
    sio_packet_t p;
    sio_decoder_set_deadline(&d, 500); /* idle: nothing to attach it to */
    assert_int_equal(sio_decoder_deadline(&d), 0);
    assert_int_equal(sio_decoder_feed(&d, 0, LIT("52-[\"a\"]"), &p), SIO_DECODE_MORE);
    assert_int_equal(sio_decoder_deadline(&d), 0);
    sio_decoder_set_deadline(&d, 500);
    assert_int_equal(sio_decoder_feed(&d, 1, "x", 1, &p), SIO_DECODE_MORE);
    assert_int_equal(sio_decoder_deadline(&d), 500);
    assert_int_equal(sio_decoder_feed(&d, 1, "y", 1, &p), SIO_DECODE_PACKET);
    assert_int_equal(sio_decoder_deadline(&d), 0);
    sio_packet_free(&p);
    sio_decoder_free(&d);
}

static void serialize_renumbers_placeholders(void **state)
{
    (void)state;
    json_error_t err;
    /* Out of order and repeated references are renumbered in order of appearance. */
    json_t *v =
        json_loads("[\"e\",{\"a\":{\"num\":2,\"_placeholder\":true},\"b\":[{\"_placeholder\":"
                   "true,\"num\":0}]},{\"_placeholder\":true,\"num\":2},"
                   "{\"_placeholder\":false,\"num\":9}]",
                   0, &err);
    assert_non_null(v);
    buf_t out = BUF_INIT;
    buf_append_str(&out, "keep:");
    size_t *order, n;
    assert_int_equal(sio_binary_serialize(&out, v, 3, &order, &n), 0);
    assert_string_equal(out.data, "keep:[\"e\",{\"a\":{\"_placeholder\":true,\"num\":0},\"b\":[{"
                                  "\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,"
                                  "\"num\":2},{\"_placeholder\":false,\"num\":9}]");
    assert_int_equal(n, 3);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 0);
    assert_int_equal(order[2], 2);
    free(order);
    /* A reference past the attachments: error, output untouched. */
    buf_reset(&out);
    buf_append_str(&out, "keep:");
    assert_int_equal(sio_binary_serialize(&out, v, 2, &order, &n), SIO_EPLACEHOLDER);
    assert_string_equal(out.data, "keep:");
    assert_null(order);
    assert_int_equal(n, 0);
    /* No attachments: placeholder-shaped objects are plain data. */
    buf_reset(&out);
    assert_int_equal(sio_binary_serialize(&out, v, 0, &order, &n), 0);
    assert_null(order);
    assert_int_equal(n, 0);
    assert_string_equal(out.data, "[\"e\",{\"a\":{\"num\":2,\"_placeholder\":true},\"b\":[{"
                                  "\"_placeholder\":true,\"num\":0}]},{\"_placeholder\":true,"
                                  "\"num\":2},{\"_placeholder\":false,\"num\":9}]");
    json_decref(v);
    /* A bare placeholder at the root, and a built one. */
    json_t *ph = sio_placeholder_new(4);
    buf_reset(&out);
    json_out_append(&out, ph);
    assert_string_equal(out.data, "{\"_placeholder\":true,\"num\":4}");
    buf_reset(&out);
    assert_int_equal(sio_binary_serialize(&out, ph, 5, &order, &n), 0);
    assert_string_equal(out.data, "{\"_placeholder\":true,\"num\":0}");
    assert_int_equal(order[0], 4);
    free(order);
    json_decref(ph);
    buf_free(&out);
}

static void placeholder_classification(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int rc;
        size_t num;
    } cases[] = {
        {"{\"_placeholder\":true,\"num\":3}", 1, 3},
        {"{\"num\":3,\"_placeholder\":true,\"extra\":1}", 1, 3},
        {"{\"_placeholder\":true,\"num\":2.0}", 1, 2},
        {"{\"_placeholder\":false,\"num\":3}", 0, 0},
        {"{\"_placeholder\":\"true\",\"num\":3}", 0, 0},
        {"{\"_placeholder\":1,\"num\":3}", 0, 0},
        {"{\"num\":3}", 0, 0},
        {"[true]", 0, 0},
        {"\"_placeholder\"", 0, 0},
        {"{\"_placeholder\":true}", SIO_EPLACEHOLDER, 0},
        {"{\"_placeholder\":true,\"num\":-1}", SIO_EPLACEHOLDER, 0},
        {"{\"_placeholder\":true,\"num\":1.5}", SIO_EPLACEHOLDER, 0},
        {"{\"_placeholder\":true,\"num\":null}", SIO_EPLACEHOLDER, 0},
        {"{\"_placeholder\":true,\"num\":1e300}", SIO_EPLACEHOLDER, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_error_t err;
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, &err);
        assert_non_null(v);
        size_t num = 0;
        assert_int_equal(sio_placeholder_num(v, &num), cases[i].rc);
        if (cases[i].rc == 1) assert_int_equal(num, cases[i].num);
        json_decref(v);
    }
}

static void encoder_forms(void **state)
{
    (void)state;
    buf_t out = BUF_INIT;
    sio_encode(&out, SIO_CONNECT, NULL, -1, 0, NULL, 0);
    assert_string_equal(out.data, "0");
    buf_reset(&out);
    sio_encode(&out, SIO_CONNECT, "/", -1, 0, LIT("{\"sid\":\"abc\"}"));
    assert_string_equal(out.data, "0{\"sid\":\"abc\"}");
    buf_reset(&out);
    sio_encode(&out, SIO_DISCONNECT, "/admin", -1, 0, "", 0);
    assert_string_equal(out.data, "1/admin,");
    buf_reset(&out);
    sio_encode(&out, SIO_EVENT, "/", 0, 0, LIT("[\"a\"]"));
    assert_string_equal(out.data, "20[\"a\"]");
    buf_reset(&out);
    /* The count is written for binary types only, even when zero. */
    sio_encode(&out, SIO_EVENT, "/", -1, 3, LIT("[\"a\"]"));
    assert_string_equal(out.data, "2[\"a\"]");
    buf_reset(&out);
    sio_encode(&out, SIO_BINARY_EVENT, "/", -1, 0, LIT("[\"a\"]"));
    assert_string_equal(out.data, "50-[\"a\"]");
    buf_reset(&out);
    sio_encode(&out, SIO_BINARY_ACK, "/x", SIO_MAX_ID, 10, LIT("[]"));
    assert_string_equal(out.data, "610-/x,9007199254740991[]");
    buf_reset(&out);
    sio_encode(&out, SIO_CONNECT_ERROR, "/admin", -1, 0, LIT("{\"message\":\"Not authorized\"}"));
    assert_string_equal(out.data, "4/admin,{\"message\":\"Not authorized\"}");
    assert_true(sio_type_is_binary(SIO_BINARY_EVENT));
    assert_true(sio_type_is_binary(SIO_BINARY_ACK));
    assert_false(sio_type_is_binary(SIO_EVENT));
    buf_free(&out);
}

static void deep_and_large_payloads(void **state)
{
    (void)state;
    /* Nesting past the parser's depth limit is rejected, not a stack overflow. */
    size_t depth = 100000;
    buf_t text = BUF_INIT;
    buf_append_str(&text, "2[\"deep\",");
    for (size_t i = 0; i < depth; i++)
        buf_append_byte(&text, '[');
    for (size_t i = 0; i < depth; i++)
        buf_append_byte(&text, ']');
    buf_append_byte(&text, ']');
    sio_packet_t p;
    assert_int_equal(sio_packet_decode_text(text.data, text.len, 10, &p), SIO_EJSON);
    /* A long payload round-trips. */
    buf_reset(&text);
    buf_append_str(&text, "2[\"big\"");
    for (int i = 0; i < 20000; i++)
        buf_printf(&text, ",{\"k%d\":[%d,\"v\\n\"]}", i, i);
    buf_append_byte(&text, ']');
    assert_int_equal(sio_packet_decode_text(text.data, text.len, 10, &p), 0);
    buf_t out = BUF_INIT;
    reencode(&p, &out);
    assert_int_equal(out.len, text.len);
    assert_memory_equal(out.data, text.data, text.len);
    sio_packet_free(&p);
    buf_free(&out);
    buf_free(&text);
}

/* JavaScript strings may hold lone surrogates, written by JSON.stringify as escapes;
 * UTF-8 cannot hold them, so each becomes U+FFFD and the packet is still delivered.
 * Proper pairs and escaped backslashes are left alone. */
static void lone_surrogates_become_replacement_characters(void **state)
{
    (void)state;
    sio_packet_t p;
    const char *text = "2[\"a\\ud800b\",\"\\udc00\",\"\\ud83d\\ude00\",\"\\\\ud800\"]";
    assert_int_equal(sio_packet_decode_text(text, strlen(text), 10, &p), 0);
    assert_string_equal(json_string_value(json_array_get(p.data, 0)), "a\xef\xbf\xbd"
                                                                      "b");
    assert_string_equal(json_string_value(json_array_get(p.data, 1)), "\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_array_get(p.data, 2)), "\xf0\x9f\x98\x80");
    assert_string_equal(json_string_value(json_array_get(p.data, 3)), "\\ud800");
    sio_packet_free(&p);
    /* Still invalid JSON otherwise. */
    const char *bad = "2[\"\\ud800\",]";
    assert_int_equal(sio_packet_decode_text(bad, strlen(bad), 10, &p), SIO_EJSON);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(protocol_examples_round_trip),
        cmocka_unit_test(namespace_without_comma_runs_to_the_end),
        cmocka_unit_test(event_names_and_ids),
        cmocka_unit_test(reserved_event_names),
        cmocka_unit_test(malformed_packets),
        cmocka_unit_test(lone_surrogates_become_replacement_characters),
        cmocka_unit_test(truncations_never_crash),
        cmocka_unit_test(binary_event_reassembly),
        cmocka_unit_test(attachments_in_the_wrong_state),
        cmocka_unit_test(binary_packet_bytes_are_bounded),
        cmocka_unit_test(the_deadline_lives_with_the_partial_packet),
        cmocka_unit_test(serialize_renumbers_placeholders),
        cmocka_unit_test(placeholder_classification),
        cmocka_unit_test(encoder_forms),
        cmocka_unit_test(deep_and_large_payloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
