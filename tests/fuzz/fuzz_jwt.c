/* fuzz_jwt.c - libFuzzer target: any bytes as a token and as a Cookie header.
 * Nothing may crash or leak, and no forged input may verify. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "auth/cookie.h"
#include "auth/jwt_verify.h"
#include "base/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jwt_verifier_t *v;
    if (!v) {
        static const char *const algs[] = {"HS256", "HS384"};
        static const char secret[] = "fuzz-secret-48-bytes-long-enough-for-hs384-01234";
        jwt_verifier_config_t cfg = {
            (const unsigned char *)secret, sizeof(secret) - 1, NULL, 0, algs, 2, 30, 1, NULL, NULL};
        char err[128];
        v = jwt_verifier_new(&cfg, err, sizeof(err));
        if (!v) abort();
    }
    jwt_principal_t p;
    const char *reason;
    /* Forging an HS256 signature by chance is not a thing fuzzing finds: OK means a bug. */
    if (jwt_verify(v, (const char *)data, size, 1700000000, &p, &reason) == JWT_OK) abort();
    buf_t value = BUF_INIT;
    cookie_get((const char *)data, size, "token", 1, &value);
    buf_free(&value);
    return 0;
}
