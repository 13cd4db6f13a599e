/* lg_util.c - clocks, pipe messages, tokens, WebSocket keys, /proc readings
 * and quantiles for iogate-loadgen. Nothing here touches the network. */
#include "loadgen.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

uint64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int lg_send_msg(int fd, uint32_t type, const void *data, size_t len)
{
    lg_msg_hdr_t h = {type, (uint32_t)len};
    if (write_all(fd, &h, sizeof h) != 0) return -1;
    return len ? write_all(fd, data, len) : 0;
}

uint64_t lg_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static size_t b64url(const unsigned char *in, size_t len, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
    }
    return o;
}

size_t lg_mint_token(const char *secret, const char *prefix, uint32_t user, int64_t exp, char *out,
                     size_t out_size)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char claims[128];
    int64_t now = (int64_t)time(NULL);
    int cl = snprintf(claims, sizeof claims, "{\"sub\":\"%s-%u\",\"iat\":%lld,\"exp\":%lld}",
                      prefix, user, (long long)now, (long long)exp);
    if (cl < 0 || (size_t)cl >= sizeof claims || out_size < 512) return 0;
    size_t o = b64url((const unsigned char *)header, sizeof header - 1, out);
    out[o++] = '.';
    o += b64url((const unsigned char *)claims, (size_t)cl, out + o);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)out, o, mac,
              &maclen))
        return 0;
    out[o++] = '.';
    o += b64url(mac, maclen, out + o);
    out[o] = '\0';
    return o;
}

void lg_ws_key(uint64_t *rng, char key[25], char accept[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char raw[16];
    uint64_t a = lg_rand(rng), b = lg_rand(rng);
    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 8);
    EVP_EncodeBlock((unsigned char *)key, raw, 16); /* 24 chars + NUL */
    char cat[24 + sizeof guid];
    memcpy(cat, key, 24);
    memcpy(cat + 24, guid, sizeof guid - 1);
    unsigned char sha[EVP_MAX_MD_SIZE];
    unsigned int shalen = 0;
    EVP_Digest(cat, 24 + sizeof guid - 1, sha, &shalen, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)accept, sha, (int)shalen); /* 28 chars + NUL */
}

int lg_is_loopback(char *host, size_t size)
{
    if (strcmp(host, "localhost") == 0) snprintf(host, size, "127.0.0.1");
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1) return 0;
    return (ntohl(a.s_addr) >> 24) == 127;
}

static char *read_small_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* A "Name:   123 kB" line of /proc/PID/status, in bytes; -1 when absent. */
static int64_t status_kb(const char *buf, const char *name)
{
    const char *p = strstr(buf, name);
    if (!p) return -1;
    return strtoll(p + strlen(name), NULL, 10) * 1024;
}

/* The process pid and its children (a server run with [server] workers is a supervisor and
 * its workers): at most cap pids into out; their number. */
#define LG_MAX_TREE 512
static int proc_tree(long pid, long *out, int cap)
{
    char path[96], buf[8192];
    int n = 0;
    out[n++] = pid;
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", pid, pid);
    if (!read_small_file(path, buf, sizeof buf)) return n;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \n", &save); tok && n < cap;
         tok = strtok_r(NULL, " \n", &save))
        out[n++] = strtol(tok, NULL, 10);
    return n;
}

static int proc_mem_one(long pid, lg_mem_t *out)
{
    char path[64], buf[4096];
    out->vm_rss = out->rss_anon = out->rss_file = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    if (pid <= 0 || !read_small_file(path, buf, sizeof buf)) return -1;
    out->vm_rss = status_kb(buf, "\nVmRSS:");
    out->rss_anon = status_kb(buf, "\nRssAnon:");
    out->rss_file = status_kb(buf, "\nRssFile:");
    return out->vm_rss < 0 ? -1 : 0;
}

int64_t lg_slab_bytes(void)
{
    char buf[8192];
    if (!read_small_file("/proc/meminfo", buf, sizeof buf)) return -1;
    return status_kb(buf, "\nSlab:");
}

int lg_proc_mem(long pid, lg_mem_t *out)
{
    long tree[LG_MAX_TREE];
    if (proc_mem_one(pid, out) != 0) return -1;
    int n = proc_tree(pid, tree, LG_MAX_TREE);
    for (int i = 1; i < n; i++) {
        lg_mem_t child;
        if (proc_mem_one(tree[i], &child) != 0) continue; /* gone meanwhile */
        out->vm_rss += child.vm_rss;
        if (out->rss_anon >= 0 && child.rss_anon >= 0) out->rss_anon += child.rss_anon;
        if (out->rss_file >= 0 && child.rss_file >= 0) out->rss_file += child.rss_file;
    }
    return 0;
}

static int proc_stat_times(long pid, int64_t *user_us, int64_t *sys_us)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (!read_small_file(path, buf, sizeof buf)) return -1;
    /* The command name may hold spaces and parentheses: fields restart after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p++;
    /* Fields after the name: 3 state, ... 14 utime, 15 stime. */
    unsigned long long utime = 0, stime = 0;
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 14) utime = strtoull(tok, NULL, 10);
        if (field == 15) {
            stime = strtoull(tok, NULL, 10);
            break;
        }
    }
    if (field != 15) return -1;
    long tck = sysconf(_SC_CLK_TCK);
    if (tck <= 0) tck = 100;
    *user_us = (int64_t)(utime * 1000000ull / (unsigned long long)tck);
    *sys_us = (int64_t)(stime * 1000000ull / (unsigned long long)tck);
    return 0;
}

static int64_t proc_sched_ns(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    int64_t total = 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 4096) {
        if (e->d_name[0] == '.') continue;
        char p2[320], buf[256];
        snprintf(p2, sizeof p2, "/proc/%ld/task/%s/schedstat", pid, e->d_name);
        if (!read_small_file(p2, buf, sizeof buf)) continue;
        total += strtoll(buf, NULL, 10);
        n++;
    }
    closedir(d);
    return n ? total : -1;
}

void lg_proc_cpu(long pid, lg_cpu_t *out)
{
    memset(out, 0, sizeof *out);
    out->sched_ns = -1;
    if (pid <= 0 || proc_stat_times(pid, &out->user_us, &out->sys_us) != 0) return;
    out->sched_ns = proc_sched_ns(pid);
    out->ok = 1;
    long tree[LG_MAX_TREE];
    int n = proc_tree(pid, tree, LG_MAX_TREE);
    for (int i = 1; i < n; i++) {
        int64_t user_us, sys_us, sched_ns;
        if (proc_stat_times(tree[i], &user_us, &sys_us) != 0) continue;
        out->user_us += user_us;
        out->sys_us += sys_us;
        sched_ns = proc_sched_ns(tree[i]);
        if (out->sched_ns >= 0 && sched_ns >= 0) out->sched_ns += sched_ns;
    }
}

int lg_proc_alive(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (!read_small_file(path, buf, sizeof buf)) return 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void lg_sort_u64(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u64);
}

uint64_t lg_quantile(uint64_t *v, size_t n, double q, int sorted)
{
    if (!sorted) lg_sort_u64(v, n);
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}
