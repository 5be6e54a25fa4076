/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * action.h — what a route does with an exchange once it passed the checks.
 * Each action answers through the exchange_* functions only, so the same
 * code serves HTTP/1.1 and (later) HTTP/2.
 */
#ifndef LIMEN_PROXY_ACTION_H
#define LIMEN_PROXY_ACTION_H

struct exchange;

void action_respond_run(struct exchange *x);	/* action_respond.c */
void action_redirect_run(struct exchange *x);	/* action_redirect.c */
void action_static_run(struct exchange *x);	/* action_static.c */
void action_proxy_run(struct exchange *x);	/* action_proxy.c */

#endif
