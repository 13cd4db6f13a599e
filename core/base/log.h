/* log.h - leveled logging to stderr, as text or JSON lines.
 *
 * The settings are written once at startup, before the loop runs, and only
 * read afterwards; every log call happens on the loop thread or in a worker
 * that formats its whole line before one write(), so lines never interleave. */
#ifndef IOGATE_LOG_H
#define IOGATE_LOG_H

#include <stdarg.h>

typedef enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO = 1,
    LOG_WARN = 2,
    LOG_ERROR = 3,
} log_level_t;

typedef enum log_format {
    LOG_FORMAT_TEXT = 0,
    LOG_FORMAT_JSON = 1,
} log_format_t;

void log_setup(log_level_t level, log_format_t format);
int log_enabled(log_level_t level);
/* Parses "debug" | "info" | "warn" | "error"; returns 0 or -1. */
int log_level_parse(const char *name, log_level_t *out);
const char *log_level_name(log_level_t level);
/* Marks every line of this process as a worker's (index >= 0; -1: none), once at its start. */
void log_set_worker(int index);

/* component names the part of the program speaking: "http", "eio", a plugin name ... */
void log_write(log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(log_level_t level, const char *component, const char *fmt, va_list ap);

#define log_debug(component, ...)                                                                  \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, component, __VA_ARGS__);                  \
    } while (0)
#define log_info(component, ...) log_write(LOG_INFO, component, __VA_ARGS__)
#define log_warn(component, ...) log_write(LOG_WARN, component, __VA_ARGS__)
#define log_error(component, ...) log_write(LOG_ERROR, component, __VA_ARGS__)

#endif
