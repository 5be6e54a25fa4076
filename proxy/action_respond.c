/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * action_respond.c — `respond: { status, body, content_type }`: a fixed
 * answer from the configuration.
 */
#include "proxy/action.h"
#include "proxy/exchange.h"

void
action_respond_run(struct exchange *x)
{
	const struct conf_respond *r = &x->route->respond;
	int status = r->status ? r->status : 200;

	exchange_resp_start(x, status);
	if (r->body == NULL)
		exchange_respond(x, status, r->content_type, "", 0);
	else
		exchange_respond(x, status, r->content_type, r->body,
		    r->body_len);
}
