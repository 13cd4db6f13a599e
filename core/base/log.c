/* log.c - text or JSON log lines on stderr with UTC timestamps. */
#include "base/log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/utf8.h"

/* Written once by log_setup() before the event loop starts; read-only after. */
static struct {
    log_level_t level;
    log_format_t format;
    int worker; /* -1: not a worker process */
} settings = {LOG_INFO, LOG_FORMAT_TEXT, -1};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(log_level_t level, log_format_t format)
{
    settings.level = level;
    settings.format = format;
}

void log_set_worker(int index)
{
    settings.worker = index;
}

int log_enabled(log_level_t level)
{
    return level >= settings.level;
}

int log_level_parse(const char *name, log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(log_level_t level)
{
    return (unsigned)level < 4 ? level_names[level] : "?";
}

static void append_timestamp(buf_t *line)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    buf_printf(line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes there are not one. */
static size_t utf8_sequence(const char *s, size_t len)
{
    unsigned char c = (unsigned char)s[0];
    size_t n = c < 0x80             ? 1
               : (c & 0xE0) == 0xC0 ? 2
               : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4
                                    : 0;
    if (n == 0 || n > len) return 0;
    return utf8_valid(s, n) ? n : 0;
}

/* Appends a message or component so that a log line stays one well-formed line whatever
 * the text holds (client-supplied paths, say): in JSON, escaped as JSON strings; in text,
 * control characters escaped so nothing can start a forged line. Invalid UTF-8 becomes
 * U+FFFD in both. */
static void append_escaped(buf_t *line, const char *s, size_t len, int json)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t n = utf8_sequence(s + i, len - i);
            if (n) {
                buf_append(line, s + i, n);
                i += n;
            } else {
                buf_append_str(line, json ? "\\ufffd" : "\xef\xbf\xbd");
                i++;
            }
            continue;
        }
        i++;
        switch (c) {
        case '"':
            buf_append_str(line, json ? "\\\"" : "\"");
            break;
        case '\\':
            buf_append_str(line, json ? "\\\\" : "\\");
            break;
        case '\n':
            buf_append_str(line, "\\n");
            break;
        case '\r':
            buf_append_str(line, "\\r");
            break;
        case '\t':
            buf_append_str(line, json ? "\\t" : "\t");
            break;
        default:
            if (c < 0x20 || (c == 0x7f && !json))
                buf_printf(line, json ? "\\u%04x" : "\\x%02x", c);
            else
                buf_append_byte(line, c);
        }
    }
}

void log_vwrite(log_level_t level, const char *component, const char *fmt, va_list ap)
{
    if (!log_enabled(level)) return;
    buf_t msg = BUF_INIT, line = BUF_INIT;
    buf_vprintf(&msg, fmt, ap);
    if (settings.format == LOG_FORMAT_JSON) {
        buf_append_str(&line, "{\"ts\":\"");
        append_timestamp(&line);
        buf_printf(&line, "\",\"level\":\"%s\",", log_level_name(level));
        if (settings.worker >= 0) buf_printf(&line, "\"worker\":%d,", settings.worker);
        buf_append_str(&line, "\"component\":\"");
        append_escaped(&line, component, strlen(component), 1);
        buf_append_str(&line, "\",\"msg\":\"");
        append_escaped(&line, msg.data ? msg.data : "", msg.len, 1);
        buf_append_str(&line, "\"}\n");
    } else {
        append_timestamp(&line);
        buf_printf(&line, " %-5s ", log_level_name(level));
        if (settings.worker >= 0) buf_printf(&line, "w%d ", settings.worker);
        buf_append_byte(&line, '[');
        append_escaped(&line, component, strlen(component), 0);
        buf_append_str(&line, "] ");
        append_escaped(&line, msg.data ? msg.data : "", msg.len, 0);
        buf_append_byte(&line, '\n');
    }
    /* One write per line so concurrent writers never interleave inside a line. */
    ssize_t ignored = write(STDERR_FILENO, line.data, line.len);
    (void)ignored;
    buf_free(&msg);
    buf_free(&line);
}

void log_write(log_level_t level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, component, fmt, ap);
    va_end(ap);
}
