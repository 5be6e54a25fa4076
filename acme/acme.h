/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * acme.h — the ACME manager: the interface between the proxy and the
 * built-in ACME client (SPEC §4).
 *
 * The manager decides which names need certificates (acme_names()), keeps
 * one timer per name, runs one order at a time per name (client.c),
 * stores what it gets (store.c) and tells the proxy through hooks.  It
 * lives on one event loop (the caller's) and never blocks it; every hook
 * is called from that loop's thread.  Only the HTTP-01 lookup may be
 * called from any thread (the proxy's workers).  Like any network code
 * here, it expects SIGPIPE to be ignored by the process.
 *
 * Typical use by the proxy:
 *
 *   struct acme_hooks h = { .arg = srv, .cert_installed = install, ... };
 *   m = acme_manager_new(base, dns, cfg, &h);   // installs stored certs
 *   ... on reload: acme_manager_update_config(m, newcfg);
 *   ... plaintext listener, GET /.well-known/acme-challenge/TOKEN:
 *       n = acme_manager_http01_lookup(m, token, buf, sizeof buf);
 *   acme_manager_free(m);
 */
#ifndef LIMEN_ACME_ACME_H
#define LIMEN_ACME_ACME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct evdns_base;
struct config;
struct acme_manager;

/* Where a name stands, for logs, metrics and the one-shot command. */
struct acme_name_status {
	bool has_cert;		/* a usable certificate is installed */
	time_t not_after;	/* its expiry (0 without one) */
	bool busy;		/* an order or a renewal check is running */
	unsigned attempts;	/* attempts finished since the start */
	unsigned failures;	/* attempts failed in a row */
	bool gave_up;		/* max_attempts reached: nothing scheduled */
	time_t next_attempt;	/* 0 when nothing is scheduled */
	const char *last_error;	/* of the last failed attempt, or NULL */
};

/*
 * What the proxy provides.  Every member except cert_installed may be
 * NULL.  Without tlsalpn01_set the manager does not use TLS-ALPN-01.
 * Strings passed to hooks are valid during the call only.
 */
struct acme_hooks {
	void *arg;
	/* HTTP-01: also kept in the manager's own token store */
	void (*http01_set)(void *arg, const char *token,
	    const char *key_authorization);
	void (*http01_clear)(void *arg, const char *token);
	/* TLS-ALPN-01 (RFC 8737): present cert_pem/key_pem to clients of
	 * `name` that offer ALPN "acme-tls/1"; 0 or -1 */
	int (*tlsalpn01_set)(void *arg, const char *name,
	    const char *cert_pem, const char *key_pem);
	void (*tlsalpn01_clear)(void *arg, const char *name);
	/* A certificate for `name` is on disk: at start for every stored
	 * one, then after each issuance.  Install it without a restart. */
	void (*cert_installed)(void *arg, const char *name,
	    const char *cert_path, const char *key_path);
	/* After every attempt (order, renewal check, failure). */
	void (*name_status)(void *arg, const char *name,
	    const struct acme_name_status *st);
};

/*
 * Start managing the certificates `cfg` asks for.  Loads the account key
 * (creating it once), calls cert_installed for every stored certificate
 * before returning, and schedules orders for names without one and
 * renewal checks for the others.  The config is not kept: what is needed
 * is copied.  NULL (with a logged reason) if ACME cannot work with this
 * configuration (no way to answer any challenge, unusable state_dir or
 * CA roots).
 */
struct acme_manager *acme_manager_new(struct event_base *base,
    struct evdns_base *dns, const struct config *cfg,
    const struct acme_hooks *hooks);

/*
 * A reload: names added are ordered, names removed stop being renewed
 * (their files stay), changed ACME settings apply to the next order (a
 * new directory or trust store restarts running orders).  0, or -1 with
 * the old settings kept.
 */
int acme_manager_update_config(struct acme_manager *m,
    const struct config *cfg);

/* Cancels running orders (their challenges are withdrawn). */
void acme_manager_free(struct acme_manager *m);

/*
 * The key authorization to serve for an HTTP-01 token, copied into out:
 * its length, or -1 if the token is unknown.  Thread-safe.
 */
int acme_manager_http01_lookup(struct acme_manager *m, const char *token,
    char *out, size_t outsize);

/* Status of one managed name; -1 if it is not managed. */
int acme_manager_status(struct acme_manager *m, const char *name,
    struct acme_name_status *st);

/*
 * Retry policy after failures: exponential from base_ms to max_ms with
 * jitter; max_attempts 0 = forever (the default for `limen run`: base
 * 60 s, max 6 h).  When the CA did not answer at all the base is 5 s (or
 * base_ms if smaller).  The one-shot `limen certs` gives up after a few.
 */
void acme_manager_set_retry(struct acme_manager *m, uint64_t base_ms,
    uint64_t max_ms, unsigned max_attempts);

/*
 * The names to certify: every route host that is a plain DNS name (not
 * "*", no wildcard, not an IP address) when some listener has
 * tls.acme: true; lower-case, sorted, without duplicates.  Returns the
 * count and a malloc'd array of malloc'd strings in *out (free with
 * acme_names_free), or -1 on allocation failure.
 */
int acme_names(const struct config *cfg, char ***out);
void acme_names_free(char **names, int n);
/* Whether s is a DNS name limen can order: LDH labels of 1-63
 * characters, at least two labels, at most 253 characters, lower-case. */
bool acme_name_valid(const char *s);

#endif
