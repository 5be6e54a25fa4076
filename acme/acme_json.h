/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * acme_json.h — the CA's JSON documents as C structs: directory, account,
 * order, authorization (with its challenges), problem (RFC 7807 / RFC 8555
 * §6.7) and renewal information (RFC 9773).
 *
 * This is the boundary where outside input enters: everything is checked
 * strictly here (types, known statuses, https URLs of bounded length,
 * base64url tokens, RFC 3339 times) so the state machine in client.c can
 * trust what it gets.  Parsers are pure: (bytes) -> struct or -1 with a
 * static reason in *err.  Parsed structs own their strings; free them with
 * the matching *_free (which accepts a zeroed struct).
 */
#ifndef LIMEN_ACME_ACME_JSON_H
#define LIMEN_ACME_ACME_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Upper bounds for what the CA may send us. */
#define ACME_JSON_MAX_URL	2048
#define ACME_JSON_MAX_TOKEN	256
#define ACME_JSON_MAX_AUTHZ	100	/* identifiers per order */
#define ACME_JSON_MAX_CHALLENGES 16
#define ACME_JSON_MAX_PROFILES	32

enum acme_status {
	ACME_STATUS_UNKNOWN,	/* absent: only valid where optional */
	ACME_STATUS_PENDING,
	ACME_STATUS_READY,
	ACME_STATUS_PROCESSING,
	ACME_STATUS_VALID,
	ACME_STATUS_INVALID,
	ACME_STATUS_DEACTIVATED,
	ACME_STATUS_EXPIRED,
	ACME_STATUS_REVOKED,
	ACME_STATUS__MAX
};

enum acme_chal_type {
	ACME_CHAL_HTTP01,
	ACME_CHAL_TLSALPN01,
	ACME_CHAL_DNS01,
	ACME_CHAL_OTHER,
	ACME_CHAL__MAX
};

struct acme_problem {
	char *type;		/* e.g. "urn:ietf:params:acme:error:badNonce" */
	char *detail;		/* may be NULL; printable ASCII only */
	int status;		/* 0 if absent */
};

struct acme_directory {
	char *new_nonce;
	char *new_account;
	char *new_order;
	char *revoke_cert;	/* optional */
	char *key_change;	/* optional */
	char *renewal_info;	/* optional (RFC 9773) */
	char *terms_of_service;	/* optional */
	bool eab_required;
	char **profiles;	/* names of meta.profiles, sorted; optional */
	size_t n_profiles;
};

struct acme_challenge {
	enum acme_chal_type type;
	enum acme_status status;
	char *url;
	char *token;		/* NULL for types we do not use */
	struct acme_problem error;	/* type NULL if none */
};

struct acme_authz {
	enum acme_status status;
	char *identifier;	/* the DNS name */
	bool wildcard;
	struct acme_challenge *challenges;
	size_t n_challenges;
};

struct acme_order {
	enum acme_status status;
	char **authorizations;
	size_t n_authorizations;
	char *finalize;
	char *certificate;	/* once valid */
	struct acme_problem error;	/* type NULL if none */
};

struct acme_renewal_info {
	time_t start, end;	/* the suggested window */
	char *explanation_url;	/* optional */
};

/* Each returns 0, or -1 with a short static reason in *err. */
int acme_json_directory(const char *buf, size_t len,
    struct acme_directory *out, const char **err);
int acme_json_account_status(const char *buf, size_t len,
    enum acme_status *out, const char **err);
int acme_json_order(const char *buf, size_t len, struct acme_order *out,
    const char **err);
int acme_json_authz(const char *buf, size_t len, struct acme_authz *out,
    const char **err);
int acme_json_challenge(const char *buf, size_t len,
    struct acme_challenge *out, const char **err);
int acme_json_problem(const char *buf, size_t len, struct acme_problem *out,
    const char **err);
int acme_json_renewal_info(const char *buf, size_t len,
    struct acme_renewal_info *out, const char **err);

void acme_json_directory_free(struct acme_directory *d);
void acme_json_order_free(struct acme_order *o);
void acme_json_authz_free(struct acme_authz *a);
void acme_json_challenge_free(struct acme_challenge *c);
void acme_json_problem_free(struct acme_problem *p);
void acme_json_renewal_info_free(struct acme_renewal_info *r);

/* True if the problem's type is "urn:ietf:params:acme:error:" + name. */
bool acme_json_problem_is(const struct acme_problem *p, const char *name);
/* Whether the directory offers profile `name`. */
bool acme_json_has_profile(const struct acme_directory *d, const char *name);

/* RFC 3339 date-time ("2025-01-02T03:04:05.123Z", "...+01:00") to time_t;
 * -1 on anything else. */
int acme_json_time(const char *s, time_t *out);

const char *acme_json_status_name(enum acme_status s);
const char *acme_json_chal_name(enum acme_chal_type t);

#endif
