/* webdemo_assets.h - the page's files, compiled into the plugin by embed.cmake. */
#ifndef WEBDEMO_ASSETS_H
#define WEBDEMO_ASSETS_H

#include <stddef.h>

typedef struct webdemo_asset {
    const char *name;          /* the file name in page/ ("app.js") */
    const unsigned char *data; /* its bytes (followed by a NUL not counted in len) */
    size_t len;
} webdemo_asset_t;

extern const webdemo_asset_t webdemo_assets[];
extern const size_t webdemo_assets_len;

#endif
