/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * accesslog.h — one line per exchange (SPEC §6: time, client, host,
 * method, path, status, bytes in and out, duration, route, pool, upstream
 * server, request id), json or text, written without blocking any event
 * loop.
 *
 * Each worker formats lines into its own buffer (no lock per request).  A
 * full buffer, or one that waited ACCESSLOG_FLUSH_MS, is handed to the
 * writer thread through a queue guarded by a mutex taken once per buffer,
 * not per line; the writer thread does the write(2)s.  If the disk stalls
 * and the queue passes ACCESSLOG_QUEUE_MAX bytes, new buffers are dropped
 * and counted (memory stays bounded; the drop count is logged).
 * accesslog_reopen() (SIGUSR1) makes the writer reopen the file, for log
 * rotation.
 */
#ifndef LIMEN_PROXY_ACCESSLOG_H
#define LIMEN_PROXY_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/log.h"

#define ACCESSLOG_BUF_SIZE (32 * 1024)
#define ACCESSLOG_FLUSH_MS 200
#define ACCESSLOG_QUEUE_MAX (16 * 1024 * 1024)

struct worker;
struct exchange;
struct accesslog_buf;

/* Control thread: start the writer on path ("-" = stderr, NULL = off).
 * Called again on reload with the new path (reopens if it changed). */
int accesslog_configure(const char *path);
void accesslog_reopen(void);
/* Stop the writer after everything queued was written. */
void accesslog_shutdown(void);

/* Worker thread. */
struct accesslog_buf *accesslog_buf_new(struct worker *w);
void accesslog_buf_free(struct accesslog_buf *b);	/* flushes first */
void accesslog_exchange(struct worker *w, const struct exchange *x);
void accesslog_flush(struct accesslog_buf *b);

#endif
