/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * waf.h — the web application firewall: libmodsecurity v3 with the OWASP
 * Core Rule Set (SPEC §2 routes[].waf, §3 Gateway checks).  Off unless a
 * route has a `waf:` section.
 *
 * Rules are loaded once per configuration (waf_rules_load, while the
 * config is built; the CRS takes about half a second) and shared by every
 * worker; routes naming the same `rules` path share one loaded set.  Each
 * request that reaches a WAF route gets a transaction:
 *
 *   tx = waf_tx_new(rules, mode, request_id)
 *   waf_tx_connection(tx, client ip/port, local ip/port)
 *   waf_tx_request_line(tx, method, target, "1.1")
 *   waf_tx_header(tx, name, value)            for every request header
 *   v = waf_tx_headers_done(tx)               phase 1
 *   waf_tx_body(tx, piece)                    while waf_tx_body_wanted(tx)
 *   v = waf_tx_body_done(tx)                  phase 2 (the CRS decides here)
 *   waf_tx_free(tx)                           logging phase, cleanup
 *
 * A verdict WAF_DENY means "answer waf_tx_status(tx) (403) now and do not
 * forward"; it is only ever given in `block` mode.  In `detect` mode the
 * same findings are logged and the verdict is WAF_PASS.  The log line
 * (warn level) names the request id, the first attack rule that matched
 * (id and message) and the CRS's verdict; it never quotes request data.
 *
 * Bodies are inspected up to WAF_BODY_MAX bytes: the runtime holds the
 * first bytes of a body (at most WAF_BODY_MAX + 1) before forwarding
 * anything, feeds them, then calls waf_tx_body_done().  A longer body is
 * inspected on its first part only (ModSecurity's ProcessPartial); a
 * request without a body calls waf_tx_body_done() right after the head.
 *
 * Threading: a transaction belongs to one thread; rules are read-only
 * after loading and may be used by any number of threads at once.
 */
#ifndef LIMEN_PROXY_WAF_H
#define LIMEN_PROXY_WAF_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"

struct diag;
struct waf_rules;
struct waf_tx;

#define WAF_BODY_MAX 131072		/* 128 KiB; a literal for the preamble */
#define WAF_MSG_MAX 160

enum waf_verdict { WAF_PASS, WAF_DENY };

/*
 * Load a rule set.  `path` is a file of ModSecurity directives, or a
 * directory: with Debian's modsecurity-crs (/usr/share/modsecurity-crs)
 * the rules its owasp-crs.load names (crs-setup.conf and the exclusion
 * files from /etc/modsecurity/crs, then the .conf files of rules/); with
 * an upstream CRS checkout (crs-setup.conf + rules/) the same order;
 * otherwise every .conf file in it.  limen's own engine settings come first (engine on,
 * request bodies on with the limits above, JSON and XML body parsers,
 * 400 for an unparsable body that fitted the limit, no audit log).
 * Problems go to d; NULL on failure.
 */
struct waf_rules *waf_rules_load(const char *path, struct diag *d);
void waf_rules_free(struct waf_rules *r);
/* Number of rules loaded (for the startup log). */
int waf_rules_count(const struct waf_rules *r);

/* request_id is copied (for the log line); NULL on out-of-memory. */
struct waf_tx *waf_tx_new(const struct waf_rules *r, enum conf_waf_mode mode,
    const char *request_id);
void waf_tx_free(struct waf_tx *tx);

int waf_tx_connection(struct waf_tx *tx, const char *client_ip,
    int client_port, const char *server_ip, int server_port);
/* method and target as sent (target with its query), version "1.1". */
int waf_tx_request_line(struct waf_tx *tx, const char *method,
    size_t method_len, const char *target, size_t target_len,
    const char *version);
int waf_tx_header(struct waf_tx *tx, const char *name, size_t name_len,
    const char *value, size_t value_len);
enum waf_verdict waf_tx_headers_done(struct waf_tx *tx);
/* How many more body bytes are worth feeding (0: stop buffering). */
size_t waf_tx_body_wanted(const struct waf_tx *tx);
/* Feed a body piece; bytes beyond waf_tx_body_wanted() are ignored. */
int waf_tx_body(struct waf_tx *tx, const void *data, size_t len);
enum waf_verdict waf_tx_body_done(struct waf_tx *tx);

/* After WAF_DENY: the status to answer (403 unless a rule said else). */
int waf_tx_status(const struct waf_tx *tx);
/* Whether any rule matched, and the first attack rule (0 / "" if none). */
bool waf_tx_flagged(const struct waf_tx *tx);
unsigned waf_tx_rule_id(const struct waf_tx *tx);
const char *waf_tx_rule_msg(const struct waf_tx *tx);

#endif
