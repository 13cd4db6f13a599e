/* service_notify.h - the process's side of systemd's notification protocol (sd_notify(3)),
 * for a Type=notify unit: READY=1 once the server listens, STOPPING=1 when it drains,
 * WATCHDOG=1 every half of WATCHDOG_USEC, and a STATUS= line (what systemctl status shows).
 *
 * The pings come from a libuv timer on the loop, so a loop that hangs stops pinging and the
 * service manager (WatchdogSec=) kills and restarts the process. Everything is a no-op when
 * NOTIFY_SOCKET is not set (not started by systemd, or not Type=notify) and when iogate was
 * built without libsystemd (IOGATE_HAVE_SYSTEMD undefined). Loop thread only. */
#ifndef IOGATE_SERVICE_NOTIFY_H
#define IOGATE_SERVICE_NOTIFY_H

#include <stdint.h>
#include <uv.h>

#include "base/buf.h"

/* Writes the current status text (one line, no "STATUS=") into out, which is empty. */
typedef void (*service_status_fn)(void *user, buf_t *out);

/* When no watchdog is asked for, the status text is refreshed this often. */
#define SERVICE_STATUS_REFRESH_MS 5000

typedef struct service_notify {
    uv_loop_t *loop;
    uv_timer_t timer;       /* pings and status refreshes, from service_notify_ready on */
    int enabled;            /* NOTIFY_SOCKET was set at init */
    int timer_open;         /* timer initialised and not yet closed */
    uint64_t watchdog_usec; /* WATCHDOG_USEC meant for this process, 0 when none */
    int warned;             /* one warning for a socket that refuses our messages */
    service_status_fn status;
    void *user;
    buf_t last_status; /* the STATUS= text last sent, to send only changes */
} service_notify_t;

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. status may be NULL (no STATUS=). */
void service_notify_init(service_notify_t *sn, uv_loop_t *loop, service_status_fn status,
                         void *user);
/* READY=1 with the status; starts the timer. Call once the server accepts connections. */
void service_notify_ready(service_notify_t *sn);
/* STOPPING=1 with the status; the watchdog keeps pinging while the loop drains. */
void service_notify_stopping(service_notify_t *sn);
/* Closes the timer (the loop can then end). Safe to call when it never started. */
void service_notify_close(service_notify_t *sn);
void service_notify_free(service_notify_t *sn);

/* For the supervisor of [server] workers, which runs no loop: sends state as one message
 * ("READY=1\nSTATUS=...") when NOTIFY_SOCKET is set, else nothing. 0, or a negative errno. */
int service_notify_send(const char *state);
/* How often this process must send WATCHDOG=1 (half of WATCHDOG_USEC) in ms; 0 when no
 * watchdog is asked of it. */
uint64_t service_notify_watchdog_ms(void);

#endif
