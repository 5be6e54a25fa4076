/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * auth_forward.c — forward authentication decisions (see auth_forward.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "proxy/auth_forward.h"

static bool
name_is(const char *name, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(name, lit, len) == 0;
}

static bool
name_in(const char *name, size_t len, const char *const *list)
{
	for (; *list != NULL; list++)
		if (name_is(name, len, *list))
			return true;
	return false;
}

/* Hop-by-hop and framing headers: never copied in either direction. */
static const char *const hop_by_hop[] = {
	"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
	"Transfer-Encoding", "Upgrade", "Content-Length", NULL,
};

int
auth_forward_parse_url(const char *url, struct auth_forward_url *out)
{
	const char *p, *auth_end, *host_end, *port_s = NULL;
	size_t hl, al;

	memset(out, 0, sizeof *out);
	if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
		out->port = 80;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		p = url + 8;
		out->tls = true;
		out->port = 443;
	} else
		return -1;
	auth_end = p + strcspn(p, "/?#");
	if (auth_end[0] == '#' || strchr(p, '#') != NULL ||
	    memchr(p, '@', (size_t)(auth_end - p)) != NULL || auth_end == p)
		return -1;
	if (*p == '[') {
		if ((host_end = memchr(p, ']', (size_t)(auth_end - p))) == NULL)
			return -1;
		hl = (size_t)(host_end - p - 1);
		memcpy(out->host, p + 1, hl < sizeof out->host ? hl : 0);
		host_end++;
		if (host_end < auth_end && *host_end != ':')
			return -1;
	} else {
		host_end = memchr(p, ':', (size_t)(auth_end - p));
		if (host_end == NULL)
			host_end = auth_end;
		hl = (size_t)(host_end - p);
		if (hl >= sizeof out->host)
			return -1;
		memcpy(out->host, p, hl);
	}
	if (hl == 0 || hl >= sizeof out->host)
		return -1;
	out->host[hl] = '\0';
	for (size_t i = 0; i < hl; i++)
		if ((unsigned char)out->host[i] <= 0x20 ||
		    (unsigned char)out->host[i] >= 0x7f)
			return -1;
	if (host_end < auth_end) {
		unsigned long port = 0;

		port_s = host_end + 1;
		if (port_s == auth_end || auth_end - port_s > 5)
			return -1;
		for (const char *c = port_s; c < auth_end; c++) {
			if (!isdigit((unsigned char)*c))
				return -1;
			port = port * 10 + (unsigned long)(*c - '0');
		}
		if (port == 0 || port > 65535)
			return -1;
		out->port = (uint16_t)port;
	}
	al = (size_t)(auth_end - p);
	if (al >= sizeof out->authority)
		return -1;
	memcpy(out->authority, p, al);
	out->authority[al] = '\0';
	if (*auth_end == '\0')
		snprintf(out->path, sizeof out->path, "/");
	else if (*auth_end == '?') {
		if (snprintf(out->path, sizeof out->path, "/%s", auth_end) >=
		    (int)sizeof out->path)
			return -1;
	} else if (snprintf(out->path, sizeof out->path, "%s", auth_end) >=
	    (int)sizeof out->path)
		return -1;
	for (const char *c = out->path; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return -1;
	return 0;
}

enum auth_forward_verdict
auth_forward_decide(int status)
{
	if (status >= 200 && status <= 299)
		return AUTH_FORWARD_PASS;
	if (status >= 300 && status <= 599)
		return AUTH_FORWARD_RELAY;
	return AUTH_FORWARD_UNAVAILABLE;
}

size_t
auth_forward_xf_headers(const struct auth_forward_req *r,
    struct auth_forward_header out[AUTH_FORWARD_XF_N])
{
	out[0] = (struct auth_forward_header){ "X-Forwarded-Method",
	    r->method, r->method_len };
	out[1] = (struct auth_forward_header){ "X-Forwarded-Proto",
	    r->tls ? "https" : "http", r->tls ? 5 : 4 };
	out[2] = (struct auth_forward_header){ "X-Forwarded-Host", r->host,
	    r->host_len };
	out[3] = (struct auth_forward_header){ "X-Forwarded-Uri", r->uri,
	    r->uri_len };
	out[4] = (struct auth_forward_header){ "X-Forwarded-For",
	    r->client_ip, strlen(r->client_ip) };
	return AUTH_FORWARD_XF_N;
}

bool
auth_forward_pass_request_header(const char *name, size_t len)
{
	static const char *const never[] = { "Host", "Expect", "Forwarded",
	    "X-Real-IP", NULL };

	if (name_in(name, len, hop_by_hop) || name_in(name, len, never))
		return false;
	/* ours replace whatever X-Forwarded-* the client sent */
	return !(len >= 12 && strncasecmp(name, "X-Forwarded-", 12) == 0);
}

bool
auth_forward_copy_header(const struct conf_auth_forward *c, const char *name,
    size_t len)
{
	for (size_t i = 0; i < c->n_copy_headers; i++)
		if (name_is(name, len, c->copy_headers[i]))
			return true;
	return false;
}

bool
auth_forward_relay_header(const char *name, size_t len)
{
	return !name_in(name, len, hop_by_hop);
}

static int
digest_part(EVP_MD_CTX *ctx, const char *v, size_t len)
{
	unsigned char pre[9];
	uint64_t n = v == NULL ? UINT64_MAX : (uint64_t)len;

	pre[0] = v != NULL;
	for (int i = 0; i < 8; i++)
		pre[1 + i] = (unsigned char)(n >> (56 - 8 * i));
	return EVP_DigestUpdate(ctx, pre, sizeof pre) == 1 &&
	    (v == NULL || len == 0 || EVP_DigestUpdate(ctx, v, len) == 1) ?
	    0 : -1;
}

int
auth_forward_cache_key(size_t route_index, const char *authorization,
    size_t authorization_len, const char *cookie, size_t cookie_len,
    unsigned char key[32])
{
	EVP_MD_CTX *ctx;
	uint64_t idx = route_index;
	unsigned int outl = 0;
	int rc = -1;

	if (authorization == NULL && cookie == NULL)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, &idx, sizeof idx) == 1 &&
	    digest_part(ctx, authorization, authorization_len) == 0 &&
	    digest_part(ctx, cookie, cookie_len) == 0 &&
	    EVP_DigestFinal_ex(ctx, key, &outl) == 1 && outl == 32)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	return rc;
}
