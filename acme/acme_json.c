/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * acme_json.c — see acme_json.h.  jansson parses (rejecting duplicate
 * keys); this file checks shapes.  Unknown members are ignored, as RFC
 * 8555 requires of clients; known members of the wrong type are errors.
 */
#include "acme/acme_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static const char *const status_names[ACME_STATUS__MAX] = {
	[ACME_STATUS_UNKNOWN] = "unknown",
	[ACME_STATUS_PENDING] = "pending",
	[ACME_STATUS_READY] = "ready",
	[ACME_STATUS_PROCESSING] = "processing",
	[ACME_STATUS_VALID] = "valid",
	[ACME_STATUS_INVALID] = "invalid",
	[ACME_STATUS_DEACTIVATED] = "deactivated",
	[ACME_STATUS_EXPIRED] = "expired",
	[ACME_STATUS_REVOKED] = "revoked",
};

static const char *const chal_names[ACME_CHAL__MAX] = {
	[ACME_CHAL_HTTP01] = "http-01",
	[ACME_CHAL_TLSALPN01] = "tls-alpn-01",
	[ACME_CHAL_DNS01] = "dns-01",
	[ACME_CHAL_OTHER] = "other",
};

const char *
acme_json_status_name(enum acme_status s)
{
	return (unsigned)s < ACME_STATUS__MAX ? status_names[s] : "?";
}

const char *
acme_json_chal_name(enum acme_chal_type t)
{
	return (unsigned)t < ACME_CHAL__MAX ? chal_names[t] : "?";
}

static json_t *
load(const char *buf, size_t len, const char **err)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);

	if (j == NULL) {
		*err = "not valid JSON";
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*err = "not a JSON object";
		return NULL;
	}
	return j;
}

/* An https URL without spaces or control characters. */
static bool
valid_url(const char *s)
{
	size_t n = strlen(s);

	if (n > ACME_JSON_MAX_URL || strncmp(s, "https://", 8) != 0 || n == 8)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* A string that is safe to log: printable ASCII, bounded. */
static bool
valid_text(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static bool
valid_token(const char *s)
{
	size_t n = strlen(s);

	/* RFC 8555 §8.3: base64url, at least 128 bits of entropy */
	if (n < 22 || n > ACME_JSON_MAX_TOKEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/*
 * Copy member `name` of j into *out if it is a string passing check.
 * Absent: 0 if optional, else -1.  Present but wrong: -1.
 */
static int
get_str(json_t *j, const char *name, bool required,
    bool (*check)(const char *), char **out, const char **err,
    const char *what)
{
	json_t *v = json_object_get(j, name);
	const char *s;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required) {
			*err = what;
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v) || memchr(json_string_value(v), '\0',
	    json_string_length(v)) != NULL) {
		*err = what;
		return -1;
	}
	s = json_string_value(v);
	if (check != NULL && !check(s)) {
		*err = what;
		return -1;
	}
	if ((*out = strdup(s)) == NULL) {
		*err = "out of memory";
		return -1;
	}
	return 0;
}

static bool
check_url(const char *s)
{
	return valid_url(s);
}

static bool
check_line(const char *s)
{
	return valid_text(s, 1024);
}

static int
get_status(json_t *j, bool required, enum acme_status *out, const char **err)
{
	json_t *v = json_object_get(j, "status");
	const char *s;

	*out = ACME_STATUS_UNKNOWN;
	if (v == NULL) {
		if (required) {
			*err = "missing status";
			return -1;
		}
		return 0;
	}
	if ((s = json_string_value(v)) == NULL) {
		*err = "status is not a string";
		return -1;
	}
	for (int i = ACME_STATUS_PENDING; i < ACME_STATUS__MAX; i++)
		if (strcmp(s, status_names[i]) == 0) {
			*out = (enum acme_status)i;
			return 0;
		}
	*err = "unknown status";
	return -1;
}

/* A copy of a free-text string that is safe to log: control and
 * non-ASCII bytes become '?', cut at 512 bytes.  NULL if not a string. */
static char *
sanitized(json_t *v)
{
	const char *s = json_string_value(v);
	size_t n;
	char *out;

	if (s == NULL)
		return NULL;
	n = json_string_length(v);
	if (n > 512)
		n = 512;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 ||
		    (unsigned char)s[i] >= 0x7f ? '?' : s[i];
	out[n] = '\0';
	return out;
}

static int
problem_from(json_t *j, struct acme_problem *p, const char **err)
{
	json_t *st;

	memset(p, 0, sizeof *p);
	if (!json_is_object(j)) {
		*err = "problem is not an object";
		return -1;
	}
	if (get_str(j, "type", false, check_line, &p->type, err,
	    "bad problem type") == -1)
		goto fail;
	if ((p->detail = sanitized(json_object_get(j, "detail"))) == NULL &&
	    json_is_string(json_object_get(j, "detail"))) {
		*err = "out of memory";
		goto fail;
	}
	if (p->type == NULL && (p->type = strdup("about:blank")) == NULL) {
		*err = "out of memory";
		goto fail;
	}
	if ((st = json_object_get(j, "status")) != NULL) {
		if (!json_is_integer(st) || json_integer_value(st) < 100 ||
		    json_integer_value(st) > 599) {
			*err = "bad problem status";
			goto fail;
		}
		p->status = (int)json_integer_value(st);
	}
	return 0;
fail:
	acme_json_problem_free(p);
	return -1;
}

void
acme_json_problem_free(struct acme_problem *p)
{
	free(p->type);
	free(p->detail);
	memset(p, 0, sizeof *p);
}

bool
acme_json_problem_is(const struct acme_problem *p, const char *name)
{
	static const char prefix[] = "urn:ietf:params:acme:error:";

	return p->type != NULL &&
	    strncmp(p->type, prefix, sizeof prefix - 1) == 0 &&
	    strcmp(p->type + sizeof prefix - 1, name) == 0;
}

int
acme_json_problem(const char *buf, size_t len, struct acme_problem *out,
    const char **err)
{
	json_t *j = load(buf, len, err);
	int rc;

	memset(out, 0, sizeof *out);
	if (j == NULL)
		return -1;
	rc = problem_from(j, out, err);
	json_decref(j);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
acme_json_directory(const char *buf, size_t len, struct acme_directory *d,
    const char **err)
{
	json_t *j = load(buf, len, err), *meta, *v, *profiles;

	memset(d, 0, sizeof *d);
	if (j == NULL)
		return -1;
	if (get_str(j, "newNonce", true, check_url, &d->new_nonce, err,
	    "bad or missing newNonce") == -1 ||
	    get_str(j, "newAccount", true, check_url, &d->new_account, err,
	    "bad or missing newAccount") == -1 ||
	    get_str(j, "newOrder", true, check_url, &d->new_order, err,
	    "bad or missing newOrder") == -1 ||
	    get_str(j, "revokeCert", false, check_url, &d->revoke_cert, err,
	    "bad revokeCert") == -1 ||
	    get_str(j, "keyChange", false, check_url, &d->key_change, err,
	    "bad keyChange") == -1 ||
	    get_str(j, "renewalInfo", false, check_url, &d->renewal_info, err,
	    "bad renewalInfo") == -1)
		goto fail;
	if ((meta = json_object_get(j, "meta")) != NULL) {
		if (!json_is_object(meta)) {
			*err = "meta is not an object";
			goto fail;
		}
		/* a data: URL is common here (pebble), so only check text */
		if (get_str(meta, "termsOfService", false, check_line,
		    &d->terms_of_service, err, "bad termsOfService") == -1)
			goto fail;
		if ((v = json_object_get(meta, "externalAccountRequired")) !=
		    NULL) {
			if (!json_is_boolean(v)) {
				*err = "bad externalAccountRequired";
				goto fail;
			}
			d->eab_required = json_is_true(v);
		}
		if ((profiles = json_object_get(meta, "profiles")) != NULL) {
			const char *name;

			if (!json_is_object(profiles) ||
			    json_object_size(profiles) > ACME_JSON_MAX_PROFILES) {
				*err = "bad profiles";
				goto fail;
			}
			d->profiles = calloc(json_object_size(profiles) + 1,
			    sizeof *d->profiles);
			if (d->profiles == NULL) {
				*err = "out of memory";
				goto fail;
			}
			json_object_foreach(profiles, name, v) {
				if (!valid_text(name, 64) || name[0] == '\0') {
					*err = "bad profile name";
					goto fail;
				}
				if ((d->profiles[d->n_profiles] =
				    strdup(name)) == NULL) {
					*err = "out of memory";
					goto fail;
				}
				d->n_profiles++;
			}
			qsort(d->profiles, d->n_profiles, sizeof *d->profiles,
			    cmp_str);
		}
	}
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	acme_json_directory_free(d);
	return -1;
}

void
acme_json_directory_free(struct acme_directory *d)
{
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->revoke_cert);
	free(d->key_change);
	free(d->renewal_info);
	free(d->terms_of_service);
	for (size_t i = 0; i < d->n_profiles; i++)
		free(d->profiles[i]);
	free(d->profiles);
	memset(d, 0, sizeof *d);
}

bool
acme_json_has_profile(const struct acme_directory *d, const char *name)
{
	for (size_t i = 0; i < d->n_profiles; i++)
		if (strcmp(d->profiles[i], name) == 0)
			return true;
	return false;
}

int
acme_json_account_status(const char *buf, size_t len, enum acme_status *out,
    const char **err)
{
	json_t *j = load(buf, len, err);
	int rc;

	if (j == NULL)
		return -1;
	rc = get_status(j, true, out, err);
	json_decref(j);
	return rc;
}

int
acme_json_order(const char *buf, size_t len, struct acme_order *o,
    const char **err)
{
	json_t *j = load(buf, len, err), *authzs, *v;
	size_t i;

	memset(o, 0, sizeof *o);
	if (j == NULL)
		return -1;
	if (get_status(j, true, &o->status, err) == -1 ||
	    get_str(j, "finalize", true, check_url, &o->finalize, err,
	    "bad or missing finalize") == -1 ||
	    get_str(j, "certificate", false, check_url, &o->certificate, err,
	    "bad certificate URL") == -1)
		goto fail;
	authzs = json_object_get(j, "authorizations");
	if (!json_is_array(authzs) || json_array_size(authzs) == 0 ||
	    json_array_size(authzs) > ACME_JSON_MAX_AUTHZ) {
		*err = "bad or missing authorizations";
		goto fail;
	}
	o->authorizations = calloc(json_array_size(authzs),
	    sizeof *o->authorizations);
	if (o->authorizations == NULL) {
		*err = "out of memory";
		goto fail;
	}
	json_array_foreach(authzs, i, v) {
		const char *s = json_string_value(v);

		if (s == NULL || !valid_url(s)) {
			*err = "bad authorization URL";
			goto fail;
		}
		if ((o->authorizations[i] = strdup(s)) == NULL) {
			*err = "out of memory";
			goto fail;
		}
		o->n_authorizations++;
	}
	if ((v = json_object_get(j, "error")) != NULL &&
	    problem_from(v, &o->error, err) == -1)
		goto fail;
	if (o->status == ACME_STATUS_VALID && o->certificate == NULL) {
		*err = "valid order without certificate URL";
		goto fail;
	}
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	acme_json_order_free(o);
	return -1;
}

void
acme_json_order_free(struct acme_order *o)
{
	for (size_t i = 0; i < o->n_authorizations; i++)
		free(o->authorizations[i]);
	free(o->authorizations);
	free(o->finalize);
	free(o->certificate);
	acme_json_problem_free(&o->error);
	memset(o, 0, sizeof *o);
}

static int
challenge_from(json_t *j, struct acme_challenge *c, const char **err)
{
	const char *type;
	json_t *v;

	memset(c, 0, sizeof *c);
	if (!json_is_object(j) ||
	    (type = json_string_value(json_object_get(j, "type"))) == NULL) {
		*err = "bad challenge";
		return -1;
	}
	c->type = ACME_CHAL_OTHER;
	for (int i = 0; i < ACME_CHAL_OTHER; i++)
		if (strcmp(type, chal_names[i]) == 0)
			c->type = (enum acme_chal_type)i;
	if (get_status(j, true, &c->status, err) == -1 ||
	    get_str(j, "url", true, check_url, &c->url, err,
	    "bad or missing challenge url") == -1)
		goto fail;
	if (c->type != ACME_CHAL_OTHER && get_str(j, "token", true,
	    valid_token, &c->token, err, "bad or missing token") == -1)
		goto fail;
	if ((v = json_object_get(j, "error")) != NULL &&
	    problem_from(v, &c->error, err) == -1)
		goto fail;
	return 0;
fail:
	acme_json_challenge_free(c);
	return -1;
}

void
acme_json_challenge_free(struct acme_challenge *c)
{
	free(c->url);
	free(c->token);
	acme_json_problem_free(&c->error);
	memset(c, 0, sizeof *c);
}

int
acme_json_challenge(const char *buf, size_t len, struct acme_challenge *out,
    const char **err)
{
	json_t *j = load(buf, len, err);
	int rc;

	memset(out, 0, sizeof *out);
	if (j == NULL)
		return -1;
	rc = challenge_from(j, out, err);
	json_decref(j);
	return rc;
}

static bool
check_identifier(const char *s)
{
	return s[0] != '\0' && valid_text(s, 253);
}

int
acme_json_authz(const char *buf, size_t len, struct acme_authz *a,
    const char **err)
{
	json_t *j = load(buf, len, err), *id, *chals, *v;
	const char *type;
	size_t i;

	memset(a, 0, sizeof *a);
	if (j == NULL)
		return -1;
	if (get_status(j, true, &a->status, err) == -1)
		goto fail;
	id = json_object_get(j, "identifier");
	if (!json_is_object(id) ||
	    (type = json_string_value(json_object_get(id, "type"))) == NULL ||
	    strcmp(type, "dns") != 0) {
		*err = "bad or missing dns identifier";
		goto fail;
	}
	if (get_str(id, "value", true, check_identifier, &a->identifier, err,
	    "bad identifier value") == -1)
		goto fail;
	if ((v = json_object_get(j, "wildcard")) != NULL) {
		if (!json_is_boolean(v)) {
			*err = "bad wildcard";
			goto fail;
		}
		a->wildcard = json_is_true(v);
	}
	chals = json_object_get(j, "challenges");
	if (!json_is_array(chals) ||
	    json_array_size(chals) > ACME_JSON_MAX_CHALLENGES) {
		*err = "bad or missing challenges";
		goto fail;
	}
	if (json_array_size(chals) > 0 && (a->challenges = calloc(
	    json_array_size(chals), sizeof *a->challenges)) == NULL) {
		*err = "out of memory";
		goto fail;
	}
	json_array_foreach(chals, i, v) {
		if (challenge_from(v, &a->challenges[i], err) == -1)
			goto fail;
		a->n_challenges++;
	}
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	acme_json_authz_free(a);
	return -1;
}

void
acme_json_authz_free(struct acme_authz *a)
{
	free(a->identifier);
	for (size_t i = 0; i < a->n_challenges; i++)
		acme_json_challenge_free(&a->challenges[i]);
	free(a->challenges);
	memset(a, 0, sizeof *a);
}

int
acme_json_renewal_info(const char *buf, size_t len,
    struct acme_renewal_info *r, const char **err)
{
	json_t *j = load(buf, len, err), *w;
	const char *s, *e;

	memset(r, 0, sizeof *r);
	if (j == NULL)
		return -1;
	w = json_object_get(j, "suggestedWindow");
	if (!json_is_object(w) ||
	    (s = json_string_value(json_object_get(w, "start"))) == NULL ||
	    (e = json_string_value(json_object_get(w, "end"))) == NULL ||
	    acme_json_time(s, &r->start) == -1 ||
	    acme_json_time(e, &r->end) == -1) {
		*err = "bad or missing suggestedWindow";
		goto fail;
	}
	/* RFC 9773 §4.2: a window whose end is not after its start is
	 * invalid and must be ignored */
	if (r->end <= r->start) {
		*err = "suggestedWindow ends before it starts";
		goto fail;
	}
	if (get_str(j, "explanationURL", false, check_url,
	    &r->explanation_url, err, "bad explanationURL") == -1)
		goto fail;
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	acme_json_renewal_info_free(r);
	return -1;
}

void
acme_json_renewal_info_free(struct acme_renewal_info *r)
{
	free(r->explanation_url);
	memset(r, 0, sizeof *r);
}

static int
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int
acme_json_time(const char *s, time_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	const char *p;
	int64_t t;

	/* YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM) */
	if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' ||
	    digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -1;
	p = s + 19;
	if (*p == '.') {
		int n = 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			n++;
		if (n == 0 || n > 9)
			return -1;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (digits(p + 1, 2, &oh) || p[3] != ':' ||
		    digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	if (sec == 60)
		sec = 59;	/* a leap second: close enough for scheduling */
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= sign * (oh * 3600 + om * 60);
	if ((int64_t)(time_t)t != t)
		return -1;
	*out = (time_t)t;
	return 0;
}
