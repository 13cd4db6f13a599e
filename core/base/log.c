/* log.c - text or JSON log lines on stderr with UTC timestamps. */
#include "base/log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"

/* Written once by log_setup() before the event loop starts; read-only after. */
static struct {
    log_level_t level;
    log_format_t format;
} settings = {LOG_INFO, LOG_FORMAT_TEXT};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(log_level_t level, log_format_t format)
{
    settings.level = level;
    settings.format = format;
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

static void append_json_escaped(buf_t *line, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': buf_append(line, "\\\"", 2); break;
        case '\\': buf_append(line, "\\\\", 2); break;
        case '\n': buf_append(line, "\\n", 2); break;
        case '\r': buf_append(line, "\\r", 2); break;
        case '\t': buf_append(line, "\\t", 2); break;
        default:
            if (c < 0x20)
                buf_printf(line, "\\u%04x", c);
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
        buf_printf(&line, "\",\"level\":\"%s\",\"component\":\"", log_level_name(level));
        append_json_escaped(&line, component, strlen(component));
        buf_append_str(&line, "\",\"msg\":\"");
        append_json_escaped(&line, msg.data ? msg.data : "", msg.len);
        buf_append_str(&line, "\"}\n");
    } else {
        append_timestamp(&line);
        buf_printf(&line, " %-5s [%s] %s\n", log_level_name(level), component,
                   msg.data ? msg.data : "");
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
