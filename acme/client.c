/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * client.c — see client.h.
 *
 * Shape (HAProxy acme.c): client_step() sends the request of the current
 * state (the REQ half); on_response() takes the answer, does what every
 * state shares — keep the nonce, re-sign on badNonce, wait on
 * Retry-After, fail on a problem — and hands a good answer to the state's
 * handler (the RES half), which moves on with set_state() and either
 * steps again at once or after a timer.  All exits from an order go
 * through finish(), which withdraws the challenge it published.
 */
#include "acme/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "acme/acme_http.h"
#include "acme/store.h"
#include "common/log.h"

static const char *const state_names[ACME_ST__MAX] = {
	[ACME_ST_DIRECTORY] = "DIRECTORY",
	[ACME_ST_RENEWAL_INFO] = "RENEWAL_INFO",
	[ACME_ST_NONCE] = "NONCE",
	[ACME_ST_ACCOUNT] = "ACCOUNT",
	[ACME_ST_NEW_ORDER] = "NEW_ORDER",
	[ACME_ST_AUTHZ] = "AUTHZ",
	[ACME_ST_CHALLENGE_PUBLISH] = "CHALLENGE_PUBLISH",
	[ACME_ST_CHALLENGE_RESPOND] = "CHALLENGE_RESPOND",
	[ACME_ST_AUTHZ_POLL] = "AUTHZ_POLL",
	[ACME_ST_FINALIZE] = "FINALIZE",
	[ACME_ST_ORDER_POLL] = "ORDER_POLL",
	[ACME_ST_DOWNLOAD] = "DOWNLOAD",
	[ACME_ST_INSTALL] = "INSTALL",
	[ACME_ST_END] = "END",
};

#define B(s) (1u << (s))
/* Allowed transitions; every state may also go to END (done or failed)
 * and to itself (a poll or a re-sent request). */
static const unsigned transitions[ACME_ST__MAX] = {
	[ACME_ST_DIRECTORY] = B(ACME_ST_RENEWAL_INFO) | B(ACME_ST_NONCE),
	[ACME_ST_RENEWAL_INFO] = B(ACME_ST_NONCE),
	[ACME_ST_NONCE] = B(ACME_ST_ACCOUNT),
	[ACME_ST_ACCOUNT] = B(ACME_ST_NEW_ORDER),
	[ACME_ST_NEW_ORDER] = B(ACME_ST_AUTHZ) | B(ACME_ST_FINALIZE) |
	    B(ACME_ST_ORDER_POLL) | B(ACME_ST_DOWNLOAD) |
	    B(ACME_ST_ACCOUNT),		/* the CA forgot the account */
	[ACME_ST_AUTHZ] = B(ACME_ST_CHALLENGE_PUBLISH) | B(ACME_ST_FINALIZE),
	[ACME_ST_CHALLENGE_PUBLISH] = B(ACME_ST_CHALLENGE_RESPOND),
	[ACME_ST_CHALLENGE_RESPOND] = B(ACME_ST_AUTHZ_POLL),
	[ACME_ST_AUTHZ_POLL] = B(ACME_ST_AUTHZ) | B(ACME_ST_FINALIZE),
	[ACME_ST_FINALIZE] = B(ACME_ST_ORDER_POLL) | B(ACME_ST_DOWNLOAD),
	[ACME_ST_ORDER_POLL] = B(ACME_ST_DOWNLOAD),
	[ACME_ST_DOWNLOAD] = B(ACME_ST_INSTALL),
	[ACME_ST_INSTALL] = 0,
	[ACME_ST_END] = 0,
};
#undef B

/* A directory younger than this is not fetched again. */
#define DIRECTORY_TTL_S 600
/* Transport failures retried inside one order before giving up. */
#define TRANSIENT_RETRIES 2
/* Overload answers (503/429 with a short Retry-After) waited out inside
 * the order; longer ones end it and the manager waits. */
#define SHORT_RETRY_AFTER_S 60

struct client_order {
	struct client_ctx *ctx;
	enum acme_state st;
	char *name;
	struct client_params p;
	char *ari_id;
	client_done_fn *done;
	void *arg;

	struct acme_http_req *req;
	struct event *timer;
	bool fetching_nonce;		/* a HEAD newNonce before a POST */
	unsigned bad_nonces;		/* in a row, for the current request */
	unsigned retries;		/* transient / overload, per state */
	unsigned polls;
	time_t poll_deadline;

	char *replaces;			/* ARI: the certificate we renew */
	char *order_url;
	struct acme_order order;
	size_t authz_i;
	struct acme_authz authz;
	size_t chal_pref;		/* index into ctx->challenges */
	enum acme_chal_type chal_type;
	char *chal_url;
	char *chal_token;
	char *keyauth;
	bool published;
	bool unreachable;		/* the last request got no answer */
	bool account_again;		/* looked the account up again */
	EVP_PKEY *cert_key;
	char *chain;			/* the downloaded chain, clean PEM */
	char errbuf[512];
};

static void client_step(struct client_order *o);
static void on_response(const struct acme_http_response *r, void *arg);

const char *
client_state_name(enum acme_state st)
{
	return (unsigned)st < ACME_ST__MAX ? state_names[st] : "?";
}

/* ---- the shared context ------------------------------------------------ */

static void
nonce_push(struct client_ctx *ctx, const char *nonce)
{
	char *n;

	if (nonce == NULL || nonce[0] == '\0' || strlen(nonce) > 256 ||
	    (n = strdup(nonce)) == NULL)
		return;
	if (ctx->n_nonces == CLIENT_NONCES) {
		free(ctx->nonces[0]);
		memmove(ctx->nonces, ctx->nonces + 1,
		    (CLIENT_NONCES - 1) * sizeof *ctx->nonces);
		ctx->n_nonces--;
	}
	ctx->nonces[ctx->n_nonces++] = n;
}

/* The freshest nonce (most likely still valid); the caller frees it. */
static char *
nonce_pop(struct client_ctx *ctx)
{
	if (ctx->n_nonces == 0)
		return NULL;
	return ctx->nonces[--ctx->n_nonces];
}

void
client_ctx_reset(struct client_ctx *ctx)
{
	acme_json_directory_free(&ctx->dir);
	ctx->dir_fetched = 0;
	free(ctx->kid);
	ctx->kid = NULL;
	while (ctx->n_nonces > 0)
		free(ctx->nonces[--ctx->n_nonces]);
}

void
client_ctx_clear(struct client_ctx *ctx)
{
	client_ctx_reset(ctx);
	free(ctx->directory_url);
	free(ctx->email);
	free(ctx->profile);
	free(ctx->state_dir);
	EVP_PKEY_free(ctx->account_key);
	ctx->directory_url = ctx->email = ctx->profile = ctx->state_dir = NULL;
	ctx->account_key = NULL;
}

/* ---- order lifecycle --------------------------------------------------- */

static void
set_state(struct client_order *o, enum acme_state st)
{
	if (st != o->st && st != ACME_ST_END &&
	    !(transitions[o->st] & (1u << st)))
		fatalx("acme: %s: invalid transition %s -> %s", o->name,
		    state_names[o->st], state_names[st]);
	if (st != o->st) {
		log_debug("acme: %s: %s -> %s", o->name, state_names[o->st],
		    state_names[st]);
		o->retries = 0;
		o->polls = 0;
	}
	o->bad_nonces = 0;
	o->st = st;
}

static void
withdraw_challenge(struct client_order *o)
{
	if (!o->published)
		return;
	o->ctx->unpublish(o->ctx->publish_arg, o->chal_type, o->name,
	    o->chal_token);
	o->published = false;
}

static void
order_free(struct client_order *o)
{
	withdraw_challenge(o);
	if (o->req != NULL)
		acme_http_cancel(o->req);
	if (o->timer != NULL)
		event_free(o->timer);
	acme_json_order_free(&o->order);
	acme_json_authz_free(&o->authz);
	free(o->name);
	free(o->ari_id);
	free(o->replaces);
	free(o->order_url);
	free(o->chal_url);
	free(o->chal_token);
	free(o->keyauth);
	free(o->chain);
	EVP_PKEY_free(o->cert_key);
	free(o);
}

void
client_order_cancel(struct client_order *o)
{
	if (o != NULL)
		order_free(o);
}

/* End the order: tell the manager, then free everything. */
static void
finish(struct client_order *o, const struct client_result *res)
{
	withdraw_challenge(o);
	if (o->req != NULL) {
		acme_http_cancel(o->req);
		o->req = NULL;
	}
	set_state(o, ACME_ST_END);
	o->done(res, o->arg);
	order_free(o);
}

static void
fail(struct client_order *o, long retry_after, bool authz_failed,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
fail(struct client_order *o, long retry_after, bool authz_failed,
    const char *fmt, ...)
{
	struct client_result res = { .outcome = CLIENT_FAILED,
	    .failed_in = o->st, .retry_after = retry_after,
	    .authz_failed = authz_failed, .unreachable = o->unreachable,
	    .error = o->errbuf };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->errbuf, sizeof o->errbuf, fmt, ap);
	va_end(ap);
	finish(o, &res);
}

static void
not_due(struct client_order *o, time_t next)
{
	struct client_result res = { .outcome = CLIENT_NOT_DUE,
	    .retry_after = -1, .next_check = next };

	finish(o, &res);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	client_step(arg);
}

/* Step again after ms milliseconds. */
static void
wait_ms(struct client_order *o, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000 * 1000) };

	evtimer_add(o->timer, &tv);
}

struct client_order *
client_order_start(struct client_ctx *ctx, const struct client_params *p,
    client_done_fn *done, void *arg)
{
	struct client_order *o = calloc(1, sizeof *o);

	if (o == NULL)
		return NULL;
	o->ctx = ctx;
	o->p = *p;
	o->done = done;
	o->arg = arg;
	o->st = ACME_ST_DIRECTORY;
	o->chal_pref = p->first_challenge;
	if ((o->name = strdup(p->name)) == NULL ||
	    (p->ari_id != NULL && (o->ari_id = strdup(p->ari_id)) == NULL) ||
	    (o->timer = evtimer_new(ctx->base, timer_cb, o)) == NULL) {
		order_free(o);
		return NULL;
	}
	o->p.name = o->name;
	o->p.ari_id = o->ari_id;
	wait_ms(o, 0);
	return o;
}

/* ---- requests ---------------------------------------------------------- */

static void
get(struct client_order *o, enum acme_http_method m, const char *url)
{
	o->req = acme_http_request(o->ctx->http, m, url, NULL, 0, NULL, NULL,
	    CLIENT_REQUEST_TIMEOUT_MS, on_response, o);
	if (o->req == NULL)
		fail(o, -1, false, "cannot request %s", url);
}

/*
 * A signed POST of payload (NULL: POST-as-GET) to url, with the account's
 * kid, or its jwk for newAccount.  Without a nonce at hand, first a HEAD
 * to newNonce; on_response comes back here.
 */
static void
post(struct client_order *o, const char *url, const char *payload,
    const char *accept)
{
	struct client_ctx *ctx = o->ctx;
	char *nonce, *body;

	if ((nonce = nonce_pop(ctx)) == NULL) {
		o->fetching_nonce = true;
		get(o, ACME_HTTP_HEAD, ctx->dir.new_nonce);
		return;
	}
	body = jws_sign(ctx->account_key, ctx->kid, nonce, url, payload);
	free(nonce);
	if (body == NULL) {
		fail(o, -1, false, "cannot sign a request");
		return;
	}
	o->req = acme_http_request(ctx->http, ACME_HTTP_POST, url, body,
	    strlen(body), "application/jose+json", accept,
	    CLIENT_REQUEST_TIMEOUT_MS, on_response, o);
	free(body);
	if (o->req == NULL)
		fail(o, -1, false, "cannot request %s", url);
}

static char *
payload_new_account(struct client_ctx *ctx)
{
	json_t *j = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	char *s, mailto[512];

	if (j == NULL)
		return NULL;
	if (ctx->email != NULL) {
		snprintf(mailto, sizeof mailto, "mailto:%s", ctx->email);
		json_object_set_new(j, "contact", json_pack("[s]", mailto));
	}
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static char *
payload_new_order(struct client_order *o)
{
	struct client_ctx *ctx = o->ctx;
	json_t *j = json_pack("{s:[{s:s, s:s}]}", "identifiers", "type", "dns",
	    "value", o->name);
	char *s;

	if (j == NULL)
		return NULL;
	/* profiles are an extension: only send one the CA offers */
	if (ctx->profile != NULL) {
		if (acme_json_has_profile(&ctx->dir, ctx->profile))
			json_object_set_new(j, "profile",
			    json_string(ctx->profile));
		else
			log_warnx("acme: %s: the CA does not offer profile "
			    "'%s'; ordering its default", o->name,
			    ctx->profile);
	}
	if (o->replaces != NULL)
		json_object_set_new(j, "replaces", json_string(o->replaces));
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* The REQ half: send the current state's request. */
static void
client_step(struct client_order *o)
{
	struct client_ctx *ctx = o->ctx;
	char *payload = NULL, url[ACME_JSON_MAX_URL + 300];
	const char *err = NULL;

	switch (o->st) {
	case ACME_ST_DIRECTORY:
		if (ctx->dir_fetched != 0 &&
		    time(NULL) - ctx->dir_fetched < DIRECTORY_TTL_S) {
			/* fresh enough: go on as if just fetched */
			on_response(NULL, o);
			return;
		}
		get(o, ACME_HTTP_GET, ctx->directory_url);
		return;
	case ACME_ST_RENEWAL_INFO:
		snprintf(url, sizeof url, "%s%s%s", ctx->dir.renewal_info,
		    ctx->dir.renewal_info[strlen(ctx->dir.renewal_info) - 1] ==
		    '/' ? "" : "/", o->ari_id);
		get(o, ACME_HTTP_GET, url);
		return;
	case ACME_ST_NONCE:
		if (ctx->n_nonces > 0) {
			set_state(o, ACME_ST_ACCOUNT);
			client_step(o);
			return;
		}
		get(o, ACME_HTTP_HEAD, ctx->dir.new_nonce);
		return;
	case ACME_ST_ACCOUNT:
		if (ctx->kid != NULL) {
			set_state(o, ACME_ST_NEW_ORDER);
			client_step(o);
			return;
		}
		if (ctx->dir.eab_required) {
			fail(o, -1, false, "the CA requires external account "
			    "binding, which limen does not support yet");
			return;
		}
		if ((payload = payload_new_account(ctx)) == NULL)
			break;
		post(o, ctx->dir.new_account, payload, NULL);
		free(payload);
		return;
	case ACME_ST_NEW_ORDER:
		if ((payload = payload_new_order(o)) == NULL)
			break;
		post(o, ctx->dir.new_order, payload, NULL);
		free(payload);
		return;
	case ACME_ST_AUTHZ:
	case ACME_ST_AUTHZ_POLL:
		post(o, o->order.authorizations[o->authz_i], NULL, NULL);
		return;
	case ACME_ST_CHALLENGE_PUBLISH:
		if (ctx->publish(ctx->publish_arg, o->chal_type, o->name,
		    o->chal_token, o->keyauth) == -1) {
			fail(o, -1, false, "cannot publish the %s challenge",
			    acme_json_chal_name(o->chal_type));
			return;
		}
		o->published = true;
		set_state(o, ACME_ST_CHALLENGE_RESPOND);
		client_step(o);
		return;
	case ACME_ST_CHALLENGE_RESPOND:
		post(o, o->chal_url, "{}", NULL);
		return;
	case ACME_ST_FINALIZE:
		if (o->cert_key == NULL &&
		    (o->cert_key = jws_key_new(ctx->cert_key_type)) == NULL) {
			fail(o, -1, false, "cannot generate a certificate key");
			return;
		}
		{
			const char *names[1] = { o->name };
			char *csr = jws_csr(o->cert_key, names, 1);
			json_t *j = csr ? json_pack("{s:s}", "csr", csr) : NULL;

			free(csr);
			payload = j ? json_dumps(j, JSON_COMPACT) : NULL;
			json_decref(j);
		}
		if (payload == NULL)
			break;
		post(o, o->order.finalize, payload, NULL);
		free(payload);
		return;
	case ACME_ST_ORDER_POLL:
		post(o, o->order_url, NULL, NULL);
		return;
	case ACME_ST_DOWNLOAD:
		post(o, o->order.certificate, NULL,
		    "application/pem-certificate-chain");
		return;
	case ACME_ST_INSTALL: {
		size_t klen;
		char *kpem = jws_key_to_pem(o->cert_key, &klen);
		struct client_result res = { .outcome = CLIENT_INSTALLED,
		    .retry_after = -1 };
		int rc;

		if (kpem == NULL)
			break;
		rc = store_cert_save(ctx->state_dir, o->name, o->chain,
		    strlen(o->chain), kpem, klen, &err);
		OPENSSL_cleanse(kpem, klen);
		free(kpem);
		if (rc == -1) {
			fail(o, -1, false, "%s", err);
			return;
		}
		finish(o, &res);
		return;
	}
	case ACME_ST_END:
	case ACME_ST__MAX:
		break;
	}
	fail(o, -1, false, "internal error in %s", state_names[o->st]);
}

/* ---- answers ------------------------------------------------------------- */

/* Seconds from Retry-After, or -1. */
static long
retry_after(const struct acme_http_response *r)
{
	return acme_http_retry_after(r->retry_after, time(NULL));
}

/* Poll delay: the CA's Retry-After if sane, else 0.25 s doubling to 5 s. */
static uint64_t
poll_delay_ms(struct client_order *o, const struct acme_http_response *r)
{
	long ra = retry_after(r);
	uint64_t ms;

	if (ra >= 0)
		return ra > SHORT_RETRY_AFTER_S ? SHORT_RETRY_AFTER_S * 1000 :
		    ra == 0 ? 200 : (uint64_t)ra * 1000;
	ms = 250u << (o->polls < 5 ? o->polls : 5);
	return ms > 5000 ? 5000 : ms;
}

static bool
poll_again(struct client_order *o, const struct acme_http_response *r,
    const char *what)
{
	if (o->polls == 0)
		o->poll_deadline = time(NULL) + CLIENT_POLL_DEADLINE_S;
	else if (time(NULL) > o->poll_deadline) {
		fail(o, -1, false, "%s did not finish within %d s", what,
		    CLIENT_POLL_DEADLINE_S);
		return false;
	}
	wait_ms(o, poll_delay_ms(o, r));
	o->polls++;
	return true;
}

/* "type: detail" of a problem for a log line, without the URN prefix. */
static const char *
problem_text(struct client_order *o, const struct acme_problem *p,
    char *buf, size_t size)
{
	const char *t = p->type ? p->type : "error";

	if (strncmp(t, "urn:ietf:params:acme:error:", 27) == 0)
		t += 27;
	snprintf(buf, size, "%s%s%s", t, p->detail ? ": " : "",
	    p->detail ? p->detail : "");
	(void)o;
	return buf;
}

static void
on_directory(struct client_order *o, const struct acme_http_response *r)
{
	struct client_ctx *ctx = o->ctx;
	const char *err;
	time_t now = time(NULL), due;

	if (r != NULL) {
		struct acme_directory d;

		if (acme_json_directory(r->body, r->body_len, &d, &err) == -1) {
			fail(o, -1, false, "directory %s: %s",
			    ctx->directory_url, err);
			return;
		}
		acme_json_directory_free(&ctx->dir);
		ctx->dir = d;
		ctx->dir_fetched = now;
	}
	if (o->p.have_cert) {
		if (ctx->dir.renewal_info != NULL && o->ari_id != NULL) {
			set_state(o, ACME_ST_RENEWAL_INFO);
			client_step(o);
			return;
		}
		due = renew_due(&o->p.cert, NULL, ctx->renew_before_s, o->p.rnd);
		if (due > now) {
			not_due(o, due);
			return;
		}
		log_info("acme: %s: renewing (certificate expires in %lld s)",
		    o->name, (long long)(o->p.cert.not_after - now));
	}
	set_state(o, ACME_ST_NONCE);
	client_step(o);
}

static void
on_renewal_info(struct client_order *o, const struct acme_http_response *r)
{
	struct client_ctx *ctx = o->ctx;
	struct acme_renewal_info ri;
	struct renew_window w;
	const char *err = "no answer";
	time_t now = time(NULL), due, next;
	long poll = renew_ari_poll_s(r->status == 200 ? retry_after(r) : -1);
	bool have = false;

	if (r->status == 200 &&
	    acme_json_renewal_info(r->body, r->body_len, &ri, &err) == 0) {
		w.start = ri.start;
		w.end = ri.end;
		have = true;
		acme_json_renewal_info_free(&ri);
	} else {
		/* no usable window: the lifetime rule decides, and the CA is
		 * asked again later */
		log_warnx("acme: %s: renewal information: %s", o->name,
		    r->status ? (r->status == 200 ? err : "HTTP error") :
		    r->error);
		poll = 3600;
	}
	due = renew_due(&o->p.cert, have ? &w : NULL, ctx->renew_before_s,
	    o->p.rnd);
	if (due > now) {
		next = now + poll < due ? now + poll : due;
		not_due(o, next);
		return;
	}
	if (have) {
		log_info("acme: %s: the CA's renewal window has begun; "
		    "renewing", o->name);
		if ((o->replaces = strdup(o->ari_id)) == NULL) {
			fail(o, -1, false, "out of memory");
			return;
		}
	} else {
		log_info("acme: %s: renewing (certificate expires in %lld s)",
		    o->name, (long long)(o->p.cert.not_after - now));
	}
	set_state(o, ACME_ST_NONCE);
	client_step(o);
}

/* The order's next step from its status (after NEW_ORDER, FINALIZE,
 * ORDER_POLL). */
static void
follow_order(struct client_order *o, const struct acme_http_response *r)
{
	char pb[400];

	switch (o->order.status) {
	case ACME_STATUS_PENDING:
		if (o->st != ACME_ST_NEW_ORDER)
			break;
		o->authz_i = 0;
		set_state(o, ACME_ST_AUTHZ);
		client_step(o);
		return;
	case ACME_STATUS_READY:
		if (o->st == ACME_ST_NEW_ORDER) {
			set_state(o, ACME_ST_FINALIZE);
			client_step(o);
			return;
		}
		/* finalize not taken yet: keep polling */
		/* FALLTHROUGH */
	case ACME_STATUS_PROCESSING:
		if (o->st != ACME_ST_ORDER_POLL)
			set_state(o, ACME_ST_ORDER_POLL);
		poll_again(o, r, "issuance");
		return;
	case ACME_STATUS_VALID:
		set_state(o, ACME_ST_DOWNLOAD);
		client_step(o);
		return;
	case ACME_STATUS_INVALID:
		fail(o, -1, false, "order invalid: %s",
		    o->order.error.type ? problem_text(o, &o->order.error, pb,
		    sizeof pb) : "no reason given");
		return;
	default:
		break;
	}
	fail(o, -1, false, "order in unexpected status %s",
	    acme_json_status_name(o->order.status));
}

static void
on_order(struct client_order *o, const struct acme_http_response *r)
{
	const char *err;

	acme_json_order_free(&o->order);
	if (acme_json_order(r->body, r->body_len, &o->order, &err) == -1) {
		fail(o, -1, false, "order: %s", err);
		return;
	}
	if (o->st == ACME_ST_NEW_ORDER) {
		if (r->location == NULL ||
		    strncmp(r->location, "https://", 8) != 0 ||
		    (o->order_url = strdup(r->location)) == NULL) {
			fail(o, -1, false, "new order without Location");
			return;
		}
		log_info("acme: %s: order created%s", o->name,
		    o->replaces ? " (replaces the current certificate)" : "");
	}
	follow_order(o, r);
}

/* Pick the challenge to answer: the configured types in order, starting
 * at chal_pref, that the CA offers and that are still pending. */
static int
choose_challenge(struct client_order *o)
{
	struct client_ctx *ctx = o->ctx;

	for (size_t k = o->chal_pref; k < ctx->n_challenges; k++)
		for (size_t i = 0; i < o->authz.n_challenges; i++) {
			struct acme_challenge *c = &o->authz.challenges[i];

			if (c->type != ctx->challenges[k] ||
			    (c->status != ACME_STATUS_PENDING &&
			    c->status != ACME_STATUS_PROCESSING))
				continue;
			free(o->chal_url);
			free(o->chal_token);
			free(o->keyauth);
			o->chal_url = strdup(c->url);
			o->chal_token = strdup(c->token);
			o->keyauth = jws_key_authorization(c->token,
			    ctx->account_key);
			o->chal_type = c->type;
			if (o->chal_url == NULL || o->chal_token == NULL ||
			    o->keyauth == NULL)
				return -1;
			return 0;
		}
	return -1;
}

/* After an authorization is valid: the next one, or finalize. */
static void
next_authz(struct client_order *o)
{
	withdraw_challenge(o);
	if (++o->authz_i < o->order.n_authorizations) {
		set_state(o, ACME_ST_AUTHZ);
	} else {
		set_state(o, ACME_ST_FINALIZE);
	}
	client_step(o);
}

static void
on_authz(struct client_order *o, const struct acme_http_response *r)
{
	const char *err;
	char pb[400];

	acme_json_authz_free(&o->authz);
	if (acme_json_authz(r->body, r->body_len, &o->authz, &err) == -1) {
		fail(o, -1, false, "authorization: %s", err);
		return;
	}
	if (strcmp(o->authz.identifier, o->name) != 0) {
		fail(o, -1, false, "authorization for another name");
		return;
	}
	switch (o->authz.status) {
	case ACME_STATUS_VALID:
		if (o->st == ACME_ST_AUTHZ)
			log_info("acme: %s: authorization already valid",
			    o->name);
		else
			log_info("acme: %s: %s challenge validated", o->name,
			    acme_json_chal_name(o->chal_type));
		next_authz(o);
		return;
	case ACME_STATUS_PENDING:
		if (o->st == ACME_ST_AUTHZ_POLL) {
			poll_again(o, r, "validation");
			return;
		}
		if (choose_challenge(o) == -1) {
			fail(o, -1, false, "no usable challenge offered "
			    "(limen answers %s%s%s)",
			    acme_json_chal_name(o->ctx->challenges[0]),
			    o->ctx->n_challenges > 1 ? ", " : "",
			    o->ctx->n_challenges > 1 ?
			    acme_json_chal_name(o->ctx->challenges[1]) : "");
			return;
		}
		log_info("acme: %s: answering %s", o->name,
		    acme_json_chal_name(o->chal_type));
		set_state(o, ACME_ST_CHALLENGE_PUBLISH);
		client_step(o);
		return;
	case ACME_STATUS_INVALID:
		/* the failed challenge says why */
		for (size_t i = 0; i < o->authz.n_challenges; i++) {
			struct acme_challenge *c = &o->authz.challenges[i];
			if (c->error.type != NULL) {
				fail(o, -1, true, "%s: %s",
				    acme_json_chal_name(c->type),
				    problem_text(o, &c->error, pb, sizeof pb));
				return;
			}
		}
		fail(o, -1, true, "authorization invalid");
		return;
	default:
		fail(o, -1, false, "authorization %s",
		    acme_json_status_name(o->authz.status));
		return;
	}
}

static void
on_challenge(struct client_order *o, const struct acme_http_response *r)
{
	struct acme_challenge c;
	const char *err;

	if (acme_json_challenge(r->body, r->body_len, &c, &err) == -1) {
		fail(o, -1, false, "challenge: %s", err);
		return;
	}
	acme_json_challenge_free(&c);
	/* the authorization tells when validation is over */
	set_state(o, ACME_ST_AUTHZ_POLL);
	poll_again(o, r, "validation");
}

static void
on_download(struct client_order *o, const struct acme_http_response *r)
{
	struct store_cert info;
	const char *err;
	char tb[32];

	if (store_cert_check(r->body, r->body_len, o->name, o->cert_key,
	    time(NULL), &o->chain, &info, &err) == -1) {
		fail(o, -1, false, "downloaded certificate: %s", err);
		return;
	}
	log_info("acme: %s: certificate issued, serial %s, valid until %s",
	    o->name, info.serial ? info.serial : "?",
	    renew_time_str(info.not_after, tb, sizeof tb));
	store_cert_free(&info);
	set_state(o, ACME_ST_INSTALL);
	client_step(o);
}

static void
on_error(struct client_order *o, const struct acme_http_response *r)
{
	struct acme_problem p;
	const char *err;
	char pb[400];
	long ra = retry_after(r);

	if (acme_json_problem(r->body, r->body_len, &p, &err) == -1) {
		memset(&p, 0, sizeof p);
		p.type = strdup("about:blank");
	}
	if (acme_json_problem_is(&p, "badNonce")) {
		/* the answer carried a fresh nonce: sign again at once */
		if (++o->bad_nonces <= CLIENT_MAX_BAD_NONCE) {
			log_debug("acme: %s: %s: badNonce, retrying (%u)",
			    o->name, state_names[o->st], o->bad_nonces);
			acme_json_problem_free(&p);
			client_step(o);
			return;
		}
	}
	if (acme_json_problem_is(&p, "accountDoesNotExist")) {
		/* the CA does not know the account URL we keep (a CA that
		 * lost its state): forget it, so that this order (once) and
		 * every later one look it up or create it again with the
		 * same key */
		log_warnx("acme: %s: %s: the CA does not know account %s; "
		    "registering again", o->name, state_names[o->st],
		    o->ctx->kid ? o->ctx->kid : "?");
		free(o->ctx->kid);
		o->ctx->kid = NULL;
		if (o->st == ACME_ST_NEW_ORDER && !o->account_again) {
			o->account_again = true;
			acme_json_problem_free(&p);
			set_state(o, ACME_ST_ACCOUNT);
			client_step(o);
			return;
		}
	}
	if (o->st == ACME_ST_NEW_ORDER && o->replaces != NULL &&
	    (r->status == 409 || acme_json_problem_is(&p, "alreadyReplaced"))) {
		/* somebody renewed it already: order without "replaces" */
		log_warnx("acme: %s: CA refused \"replaces\" (%s); ordering "
		    "without it", o->name, problem_text(o, &p, pb, sizeof pb));
		free(o->replaces);
		o->replaces = NULL;
		acme_json_problem_free(&p);
		client_step(o);
		return;
	}
	if ((r->status == 503 || r->status == 429) && ra >= 0 &&
	    ra <= SHORT_RETRY_AFTER_S && o->retries < 3) {
		o->retries++;
		log_info("acme: %s: %s: CA busy (HTTP %d), retrying in %ld s",
		    o->name, state_names[o->st], r->status, ra);
		wait_ms(o, (uint64_t)ra * 1000);
		acme_json_problem_free(&p);
		return;
	}
	fail(o, ra, false, "%s: HTTP %d: %s", state_names[o->st], r->status,
	    problem_text(o, &p, pb, sizeof pb));
	acme_json_problem_free(&p);
}

/*
 * Every answer comes here (r is NULL when DIRECTORY skipped the fetch).
 * Shared work first, then the state's handler.
 */
static void
on_response(const struct acme_http_response *r, void *arg)
{
	struct client_order *o = arg;
	struct client_ctx *ctx = o->ctx;

	o->req = NULL;
	if (r == NULL) {
		on_directory(o, NULL);
		return;
	}
	nonce_push(ctx, r->replay_nonce);
	if (r->status == 0) {
		/* no answer at all: once an order exists, a couple of quick
		 * retries save its progress; before that, the manager's
		 * backoff does the waiting */
		if (o->st >= ACME_ST_NEW_ORDER &&
		    o->retries < TRANSIENT_RETRIES) {
			o->retries++;
			log_info("acme: %s: %s: %s, retrying", o->name,
			    state_names[o->st], r->error);
			o->fetching_nonce = false;
			wait_ms(o, 500u << o->retries);
			return;
		}
		/* a CA that answered something unusable is not down: the
		 * manager's normal backoff, not the quick one, applies */
		o->unreachable = !r->answered;
		fail(o, -1, false, "%s: %s", state_names[o->st], r->error);
		return;
	}
	if (o->fetching_nonce) {
		o->fetching_nonce = false;
		if (r->replay_nonce == NULL) {
			fail(o, -1, false, "newNonce gave no nonce (HTTP %d)",
			    r->status);
			return;
		}
		client_step(o);		/* now with a nonce */
		return;
	}
	if (o->st == ACME_ST_RENEWAL_INFO) {
		on_renewal_info(o, r);
		return;
	}
	if (r->status >= 400) {
		on_error(o, r);
		return;
	}
	switch (o->st) {
	case ACME_ST_DIRECTORY:
		if (r->status != 200)
			break;
		on_directory(o, r);
		return;
	case ACME_ST_NONCE:
		if (r->replay_nonce == NULL)
			break;
		set_state(o, ACME_ST_ACCOUNT);
		client_step(o);
		return;
	case ACME_ST_ACCOUNT: {
		enum acme_status st;
		const char *err;

		if (r->location == NULL ||
		    strncmp(r->location, "https://", 8) != 0 ||
		    acme_json_account_status(r->body, r->body_len, &st,
		    &err) == -1)
			break;
		if (st != ACME_STATUS_VALID) {
			fail(o, -1, false, "account is %s",
			    acme_json_status_name(st));
			return;
		}
		if (ctx->kid == NULL || strcmp(ctx->kid, r->location) != 0) {
			free(ctx->kid);
			if ((ctx->kid = strdup(r->location)) == NULL)
				break;
			log_info("acme: account %s (%s)", ctx->kid,
			    r->status == 201 ? "created" : "existing");
		}
		set_state(o, ACME_ST_NEW_ORDER);
		client_step(o);
		return;
	}
	case ACME_ST_NEW_ORDER:
	case ACME_ST_FINALIZE:
	case ACME_ST_ORDER_POLL:
		on_order(o, r);
		return;
	case ACME_ST_AUTHZ:
	case ACME_ST_AUTHZ_POLL:
		on_authz(o, r);
		return;
	case ACME_ST_CHALLENGE_RESPOND:
		on_challenge(o, r);
		return;
	case ACME_ST_DOWNLOAD:
		if (r->status != 200)
			break;
		on_download(o, r);
		return;
	default:
		break;
	}
	fail(o, -1, false, "%s: unexpected answer (HTTP %d)",
	    state_names[o->st], r->status);
}
