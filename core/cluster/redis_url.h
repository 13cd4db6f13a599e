/* redis_url.h - the redis_url setting: where the cluster's Redis server is and how to log in.
 *
 * Accepted forms (scheme case-insensitive):
 *   redis://[[user]:password@]host[:port][/db]     host: name, IPv4, or [IPv6]; port 6379
 *   unix://[[user]:password@]/absolute/path.sock[?db=N]
 * user and password are percent-decoded ("p%40ss" is "p@ss"); with a user, AUTH sends both
 * (Redis 6 ACL). rediss:// is refused: TLS is not supported. Anything else (a query on
 * redis://, a fragment, a path after the db, a user without a password) is an error too, so a
 * typo never silently connects somewhere else.
 *
 * Pure: no I/O, no allocation, no logging. Messages never include the password. */
#ifndef IOGATE_REDIS_URL_H
#define IOGATE_REDIS_URL_H

#include <stddef.h>

/* Fixed sizes keep the parsed value free of ownership; longer values are errors. */
#define REDIS_URL_HOST_MAX 256   /* a DNS name is at most 253 bytes */
#define REDIS_URL_PATH_MAX 108   /* sizeof(sockaddr_un.sun_path) */
#define REDIS_URL_SECRET_MAX 512 /* user and password, each */

typedef struct redis_url {
    int is_unix;                         /* 1: path is set; 0: host and port are */
    char host[REDIS_URL_HOST_MAX];       /* without brackets for IPv6 */
    int port;                            /* 1..65535 */
    char path[REDIS_URL_PATH_MAX];       /* absolute path of the socket */
    char user[REDIS_URL_SECRET_MAX];     /* "" when none */
    char password[REDIS_URL_SECRET_MAX]; /* "" when none (no AUTH) */
    int db;                              /* SELECT n when > 0 */
} redis_url_t;

/* Parses url into *out. Returns 0, or -1 with a message in err (e.g. "port must be a number
 * from 1 to 65535: '0'"), suitable for the config layer to prefix with file:line:column;
 * *out is then unspecified. */
int redis_url_parse(const char *url, redis_url_t *out, char *err, size_t errsz);

/* Writes where url points, without credentials ("127.0.0.1:6379/2", "[::1]:6379",
 * "unix:/run/redis.sock?db=2"), for log lines. */
void redis_url_describe(const redis_url_t *url, char *out, size_t outsz);

#endif
