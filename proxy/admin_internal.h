/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * admin_internal.h — what the admin thread's files share (admin.c,
 * admin_status.c, admin_page.c, admin_rates.c, admin_backup.c,
 * admin_certs.c).  Everything here runs in the admin thread only.
 *
 * The status page is a rendering of the same JSON document that
 * /api/v1/status returns (admin_status_json), so both always agree.
 */
#ifndef LIMEN_PROXY_ADMIN_INTERNAL_H
#define LIMEN_PROXY_ADMIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

struct config;
struct event_base;
struct snapshot;

/* The whole status document for snapshot s (a new reference). */
json_t *admin_status_json(struct snapshot *s);
/* RFC 3339 UTC ("2026-01-02T03:04:05Z") into out (>= 32 bytes). */
void admin_time_text(time_t t, char *out, size_t cap);

/* The status page for a status document; malloc'd, its length in *len. */
char *admin_page_render(const json_t *status, size_t *len);

/* Request rates over the last minute, sampled every ADMIN_RATE_PERIOD_MS. */
#define ADMIN_RATE_PERIOD_MS 5000
#define ADMIN_RATE_WINDOW_S 60
void admin_rates_sample(struct snapshot *s);
/* Per second over the window, for counter `key` whose value is now
 * `current` (0 until two samples exist). */
double admin_rate(const char *key, double current);
void admin_rates_free(void);

/* limen-backup's /metrics (backup.listen), polled every
 * ADMIN_BACKUP_POLL_S; admin_backup_json() is the last result. */
#define ADMIN_BACKUP_POLL_S 10
#define ADMIN_BACKUP_TIMEOUT_S 2
void admin_backup_configure(struct event_base *base, const struct config *c);
json_t *admin_backup_json(void);
void admin_backup_free(void);

/* Static certificates of c's listeners into the metrics' certificate
 * table (names and notAfter read from the PEM files). */
void admin_certs_scan(const struct config *c);

#endif
