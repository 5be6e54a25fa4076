/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * action_redirect.c — `redirect: { to, code, keep_path }`.  With keep_path
 * the request's (normalised) path and query are appended to `to`, less a
 * `to` that already ends with '/' (no "//").
 */
#include <string.h>

#include "proxy/action.h"
#include "proxy/exchange.h"

void
action_redirect_run(struct exchange *x)
{
	const struct conf_redirect *r = &x->route->redirect;
	int code = r->code ? r->code : 302;
	size_t tl = strlen(r->to);
	const char *path = x->path;
	size_t pl = x->path_len;

	exchange_resp_start(x, code);
	if (!r->keep_path) {
		exchange_resp_add_ref(x, "Location", 8, r->to, tl);
	} else {
		if (tl > 0 && r->to[tl - 1] == '/' && pl > 0 && path[0] == '/') {
			path++;
			pl--;
		}
		if (x->query != NULL)
			exchange_resp_addf(x, "Location", "%s%.*s?%.*s", r->to,
			    (int)pl, path, (int)x->query_len, x->query);
		else
			exchange_resp_addf(x, "Location", "%s%.*s", r->to,
			    (int)pl, path);
	}
	exchange_respond(x, code, NULL, NULL, 0);
}
