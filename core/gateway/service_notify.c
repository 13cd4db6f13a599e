/* service_notify.c - READY/STOPPING/WATCHDOG/STATUS messages to the service manager through
 * libsystemd's sd_notify(), and the loop timer that sends the pings. */
#include "gateway/service_notify.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#ifdef IOGATE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#else
/* Built without libsystemd: nothing is ever sent (init leaves the notifier disabled). */
static int sd_notify(int unset_environment, const char *state)
{
    (void)unset_environment, (void)state;
    return 0;
}
#endif

static void send_state(service_notify_t *sn, const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0 && !sn->warned) {
        sn->warned = 1;
        log_warn("systemd", "cannot notify the service manager at NOTIFY_SOCKET: %s",
                 strerror(-rc));
    }
}

/* Sends head ("READY=1", "WATCHDOG=1", ... or NULL) and the status when it changed (always
 * when force), as one datagram. */
static void notify(service_notify_t *sn, const char *head, int force)
{
    buf_t msg = BUF_INIT, status = BUF_INIT;
    if (head) buf_append_str(&msg, head);
    if (sn->status) {
        sn->status(sn->user, &status);
        int same = sn->last_status.data && status.len == sn->last_status.len &&
                   memcmp(status.data, sn->last_status.data, status.len) == 0;
        if (status.len && (force || !same)) {
            buf_printf(&msg, "%sSTATUS=%s", msg.len ? "\n" : "", status.data);
            buf_reset(&sn->last_status);
            buf_append(&sn->last_status, status.data, status.len);
        }
    }
    if (msg.len) send_state(sn, msg.data);
    buf_free(&status);
    buf_free(&msg);
}

static void on_tick(uv_timer_t *t)
{
    service_notify_t *sn = t->data;
    notify(sn, sn->watchdog_usec ? "WATCHDOG=1" : NULL, 0);
}

void service_notify_init(service_notify_t *sn, uv_loop_t *loop, service_status_fn status,
                         void *user)
{
    memset(sn, 0, sizeof(*sn));
    sn->loop = loop;
    sn->status = status;
    sn->user = user;
#ifdef IOGATE_HAVE_SYSTEMD
    const char *where = getenv("NOTIFY_SOCKET");
    sn->enabled = where && where[0];
    uint64_t usec = 0;
    /* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, names this process. */
    if (sn->enabled && sd_watchdog_enabled(0, &usec) > 0) sn->watchdog_usec = usec;
#endif
}

void service_notify_ready(service_notify_t *sn)
{
    if (!sn->enabled || sn->timer_open) return;
    notify(sn, "READY=1", 1);
    uint64_t every = SERVICE_STATUS_REFRESH_MS;
    if (sn->watchdog_usec) {
        every = sn->watchdog_usec / 2000; /* half the interval, as sd_watchdog_enabled(3) asks */
        if (every == 0) every = 1;
        log_info("systemd", "watchdog: pinging every %llu ms", (unsigned long long)every);
    }
    uv_timer_init(sn->loop, &sn->timer);
    sn->timer.data = sn;
    sn->timer_open = 1;
    uv_timer_start(&sn->timer, on_tick, every, every);
}

void service_notify_stopping(service_notify_t *sn)
{
    if (sn->enabled) notify(sn, "STOPPING=1", 1);
}

void service_notify_close(service_notify_t *sn)
{
    if (!sn->timer_open) return;
    sn->timer_open = 0;
    uv_close((uv_handle_t *)&sn->timer, NULL);
}

void service_notify_free(service_notify_t *sn)
{
    buf_free(&sn->last_status);
}

int service_notify_send(const char *state)
{
    const char *where = getenv("NOTIFY_SOCKET");
    if (!where || !where[0]) return 0;
    int rc = sd_notify(0, state);
    return rc < 0 ? rc : 0;
}

uint64_t service_notify_watchdog_ms(void)
{
    uint64_t usec = 0;
#ifdef IOGATE_HAVE_SYSTEMD
    const char *where = getenv("NOTIFY_SOCKET");
    if (!where || !where[0] || sd_watchdog_enabled(0, &usec) <= 0) usec = 0;
#endif
    return usec ? (usec / 2000 ? usec / 2000 : 1) : 0;
}
