/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * admin.h — the admin listener (SPEC §6): /healthz, /metrics,
 * /api/v1/status, drain/enable, and the status page at /.
 *
 * It runs in its own thread with its own event_base (libevent's evhttp),
 * so a busy data path never delays a health probe or a scrape, and it
 * only reads what the workers publish (metrics.h counters, pool atomics).
 * The same thread hosts the config file watcher (global.watch_config,
 * confwatch.h) and polls limen-backup's /metrics for the status page.
 *
 * The control thread (server.c) calls, in this order:
 *   admin_open(conf)        before the privilege drop: bind admin.listen
 *   admin_start(snap, path) after the workers started: serve, ready
 *   admin_publish(snap)     after every reload that went live
 *   admin_stopping()        graceful shutdown began: /healthz says 503
 *   admin_stop()            at exit
 * Each is a no-op when the previous step did not happen.
 */
#ifndef LIMEN_PROXY_ADMIN_H
#define LIMEN_PROXY_ADMIN_H

struct config;
struct snapshot;

/* Bind admin.listen if the section is present.  0, or -1 (logged). */
int admin_open(const struct config *c);
/* Start the admin thread on snapshot s (it takes a reference); path is
 * the configuration file (for the watcher). 0 or -1 (logged). */
int admin_start(struct snapshot *s, const char *config_path);
/* A new configuration is live (takes a reference). */
void admin_publish(struct snapshot *s);
void admin_stopping(void);
void admin_stop(void);

#endif
