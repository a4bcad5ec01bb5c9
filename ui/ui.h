/* SPDX-License-Identifier: MIT */
/* ui: the web console's static assets (ui/assets/), compiled into the binary at make time. */
#ifndef CAIRN_UI_H
#define CAIRN_UI_H

#include <stddef.h>

typedef struct ui_asset {
	const char *name;         /* file name under ui/assets/, e.g. "app.js" */
	const char *content_type; /* static */
	const unsigned char *data;
	size_t len;
} ui_asset_t;

/* The asset called name ("" = index.html), or NULL. Static data; thread-safe. */
const ui_asset_t *ui_asset_find(const char *name);

/* Every header a console page is served with: name, value pairs, NULL-terminated. The
 * Content-Security-Policy allows nothing but the daemon itself, and no inline script. */
extern const char *const ui_headers[];

#endif
