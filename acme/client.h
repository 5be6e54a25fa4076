/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * client.h — one ACME order for one name, as a state machine on the event
 * loop (RFC 8555 §7; STYLE-DETAILS "ACME order"):
 *
 *   DIRECTORY -> [RENEWAL_INFO] -> NONCE -> ACCOUNT -> NEW_ORDER
 *     -> AUTHZ (each) -> CHALLENGE_PUBLISH -> CHALLENGE_RESPOND
 *     -> AUTHZ_POLL -> FINALIZE -> ORDER_POLL -> DOWNLOAD -> INSTALL -> END
 *
 * A renewal starts as a check: after DIRECTORY (and RENEWAL_INFO when the
 * CA offers ARI) it ends as CLIENT_NOT_DUE unless renew.c says it is time.
 * Every state sends one request and handles its answer; badNonce is
 * re-signed at once with the nonce from the error (as often as the CA
 * sends it, up to a sanity bound), Retry-After is honoured for polls and
 * short overload answers, and anything else ends the order as
 * CLIENT_FAILED for the manager (acme.c) to back off and try again.
 * Nothing here blocks: the waits are timers, the requests acme_http.
 *
 * The shared part of the protocol — directory, account key and URL,
 * nonce pool, challenge publication — lives in struct client_ctx, owned
 * by the manager and shared by all orders on one loop.
 */
#ifndef LIMEN_ACME_CLIENT_H
#define LIMEN_ACME_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "acme/acme_json.h"
#include "acme/jws.h"
#include "acme/renew.h"

struct event_base;
struct acme_http;
struct client_order;

enum acme_state {
	ACME_ST_DIRECTORY,
	ACME_ST_RENEWAL_INFO,
	ACME_ST_NONCE,
	ACME_ST_ACCOUNT,
	ACME_ST_NEW_ORDER,
	ACME_ST_AUTHZ,
	ACME_ST_CHALLENGE_PUBLISH,
	ACME_ST_CHALLENGE_RESPOND,
	ACME_ST_AUTHZ_POLL,
	ACME_ST_FINALIZE,
	ACME_ST_ORDER_POLL,
	ACME_ST_DOWNLOAD,
	ACME_ST_INSTALL,
	ACME_ST_END,
	ACME_ST__MAX
};

#define CLIENT_NONCES		8
#define CLIENT_REQUEST_TIMEOUT_MS 30000
#define CLIENT_MAX_BAD_NONCE	100	/* in a row, for one request */
#define CLIENT_POLL_DEADLINE_S	300	/* validation or issuance */

struct client_ctx {
	struct event_base *base;
	struct acme_http *http;
	/* settings (copies owned by the ctx) */
	char *directory_url;
	char *email;
	char *profile;
	char *state_dir;
	enum jws_key_type cert_key_type;
	uint64_t renew_before_s;
	enum acme_chal_type challenges[2];	/* to try, in order */
	size_t n_challenges;
	/* shared protocol state */
	struct acme_directory dir;
	time_t dir_fetched;		/* 0 = none */
	EVP_PKEY *account_key;
	char *kid;			/* account URL, once known */
	char *nonces[CLIENT_NONCES];
	size_t n_nonces;
	/* how challenges are shown to the CA: the manager's */
	int (*publish)(void *arg, enum acme_chal_type type, const char *name,
	    const char *token, const char *key_authorization);
	void (*unpublish)(void *arg, enum acme_chal_type type,
	    const char *name, const char *token);
	void *publish_arg;
};

/* Forget the cached directory and account URL (settings changed). */
void client_ctx_reset(struct client_ctx *ctx);
/* Free what the ctx owns (not the http client, not the struct). */
void client_ctx_clear(struct client_ctx *ctx);

struct client_params {
	const char *name;
	bool have_cert;			/* a renewal: check first */
	struct renew_cert cert;
	const char *ari_id;		/* RFC 9773 certID, may be NULL */
	size_t first_challenge;		/* index into ctx->challenges */
	double rnd;			/* for renew_due */
};

enum client_outcome { CLIENT_INSTALLED, CLIENT_NOT_DUE, CLIENT_FAILED };

struct client_result {
	enum client_outcome outcome;
	enum acme_state failed_in;	/* CLIENT_FAILED */
	const char *error;		/* CLIENT_FAILED: what went wrong */
	long retry_after;		/* CLIENT_FAILED: the CA's, or -1 */
	bool authz_failed;		/* the CA could not validate a challenge */
	bool unreachable;		/* CLIENT_FAILED: no answer from the CA at
					 * all (connect, TLS, timeout) */
	time_t next_check;		/* CLIENT_NOT_DUE: when to look again */
};

typedef void client_done_fn(const struct client_result *res, void *arg);

/*
 * Start an order (or a renewal check) for p->name.  Nothing happens
 * before the loop runs; done is called exactly once, from the loop, after
 * which the order is freed by itself.  NULL on allocation failure.
 */
struct client_order *client_order_start(struct client_ctx *ctx,
    const struct client_params *p, client_done_fn *done, void *arg);
/* Stop an order now: withdraws its challenge, no callback. */
void client_order_cancel(struct client_order *o);

const char *client_state_name(enum acme_state st);

#endif
