/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * server_internal.h — what the workers tell the control thread (server.c).
 * Both functions are safe to call from a worker thread.
 */
#ifndef LIMEN_PROXY_SERVER_INTERNAL_H
#define LIMEN_PROXY_SERVER_INTERNAL_H

struct worker;
struct worker_msg;

/* The worker applied message m (and frees it after this returns). */
void server_worker_ack(struct worker *w, struct worker_msg *m);
/* The worker's loop ended (graceful shutdown complete, or forced). */
void server_worker_exited(struct worker *w);

#endif
