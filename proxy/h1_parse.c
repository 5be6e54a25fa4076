/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * h1_parse.c — strict HTTP/1.1 request/response heads and chunked bodies.
 *
 * Design.  One forward pass over the caller's bytes, driven by a 256-entry
 * character-class table; nothing is allocated and nothing is copied.  The
 * long runs (request target, field values) are scanned 16 bytes at a time
 * with SSE2 where available, never loading past buf + len (the tests put
 * every input against a PROT_NONE page to prove it).  The framing headers
 * (Content-Length, Transfer-Encoding, Host, Connection, Expect, Upgrade)
 * are interpreted as soon as their line is complete, so a smuggling vector
 * is rejected at the line that makes it one.
 *
 * Strictness, all of it deliberate (RFC 9112, SPEC §3):
 *  - lines end in CRLF; a bare CR or a bare LF anywhere is an error;
 *  - request line: token SP target SP "HTTP/1." ("0" | "1") CRLF, exactly
 *    one SP each; the target is visible ASCII (0x21-0x7E), at most
 *    H1_MAX_URI bytes (else 414);
 *  - field names are tokens followed directly by ':' (whitespace before
 *    the colon: 400); a line starting with SP/HTAB is obs-fold (400);
 *    values are VCHAR / obs-text / SP / HTAB, other control bytes are 400;
 *  - Content-Length: 1*DIGIT up to 2^63-1; repeated lines must agree; a
 *    comma list ("5, 5") is invalid;
 *  - Transfer-Encoding: exactly one "chunked" and nothing else (no other
 *    coding, no second chunked); with Content-Length: 400; in HTTP/1.0: 400;
 *  - HTTP/1.1 requests carry exactly one Host line, 1.0 at most one;
 *  - the head (leading empty lines, start line, fields, final CRLF) is at
 *    most H1_MAX_HEAD bytes and H1_MAX_HEADERS lines (else 431).
 * The chunked decoder is a byte state machine that keeps its state between
 * calls, so it gives the same result however its input is split: at most
 * 16 hex digits per size, size line (with extensions) bounded by
 * H1_MAX_CHUNK_LINE, extensions free of control bytes, trailer fields
 * checked like header fields and bounded by H1_MAX_TRAILER.
 */
#include "proxy/h1_parse.h"

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define C_TCHAR 1	/* token characters (RFC 9110 §5.6.2) */
#define C_VCHAR 2	/* visible ASCII 0x21-0x7E: request target */
#define C_FIELD 4	/* field value: HTAB, SP, VCHAR, obs-text */
#define C_HEX 8		/* HEXDIG */

static const uint8_t h1_class[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0,	/* 00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 10 */
	4, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6,	/* 20 */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 6, 6, 6, 6, 6, 6, /* 30 */
	6, 15, 15, 15, 15, 15, 15, 7, 7, 7, 7, 7, 7, 7, 7, 7,	/* 40 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7,	/* 50 */
	7, 15, 15, 15, 15, 15, 15, 7, 7, 7, 7, 7, 7, 7, 7, 7,	/* 60 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0,	/* 70 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,	/* 80 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,	/* 90 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,	/* a0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,	/* b0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,	/* c0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,	/* d0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,	/* e0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,	/* f0 */
};

#define IS(c, cls) (h1_class[(unsigned char)(c)] & (cls))

static const char *const h1_err_strings[H1_ERR__MAX] = {
	[H1_ERR_NONE] = "no error",
	[H1_ERR_REQUEST_LINE] = "malformed request line",
	[H1_ERR_METHOD] = "invalid method",
	[H1_ERR_TARGET] = "invalid character in request target",
	[H1_ERR_VERSION] = "unsupported HTTP version",
	[H1_ERR_URI_TOO_LONG] = "request target too long",
	[H1_ERR_HEAD_TOO_LARGE] = "header section too large",
	[H1_ERR_TOO_MANY_HEADERS] = "too many header fields",
	[H1_ERR_HEADER_NAME] = "invalid header field name",
	[H1_ERR_SPACE_BEFORE_COLON] = "whitespace before colon",
	[H1_ERR_OBS_FOLD] = "obsolete line folding",
	[H1_ERR_HEADER_VALUE] = "control character in header value",
	[H1_ERR_BARE_CR] = "CR or LF outside CRLF",
	[H1_ERR_CL_AND_TE] = "both Content-Length and Transfer-Encoding",
	[H1_ERR_CONTENT_LENGTH] = "invalid or conflicting Content-Length",
	[H1_ERR_TRANSFER_ENCODING] = "unsupported Transfer-Encoding",
	[H1_ERR_HOST] = "missing or repeated Host",
	[H1_ERR_CHUNK] = "malformed chunked encoding",
	[H1_ERR_STATUS_LINE] = "malformed status line",
};

int
h1_err_status(enum h1_err e)
{
	switch (e) {
	case H1_ERR_NONE:
		return 200;
	case H1_ERR_URI_TOO_LONG:
		return 414;
	case H1_ERR_HEAD_TOO_LARGE:
	case H1_ERR_TOO_MANY_HEADERS:
		return 431;
	case H1_ERR_STATUS_LINE:
		return 502;
	default:
		return 400;
	}
}

const char *
h1_err_string(enum h1_err e)
{
	if ((unsigned)e >= H1_ERR__MAX || h1_err_strings[e] == NULL)
		return "unknown error";
	return h1_err_strings[e];
}

static inline unsigned char
lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* s[0..n) equals the lower-case l[0..ln), ignoring ASCII case. */
static inline bool
ieq(const char *s, size_t n, const char *l, size_t ln)
{
	if (n != ln)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != (unsigned char)l[i])
			return false;
	return true;
}

#define IEQ(s, n, lit) ieq((s), (n), (lit), sizeof(lit) - 1)

bool
h1_header_is(const struct h1_header *h, const char *lname)
{
	return ieq(h->name, h->name_len, lname, strlen(lname));
}

/*
 * The next element of a comma-separated list in [*pp, end): skips empty
 * elements and OWS, returns the element's length (0 at the end) with its
 * start in *tok, and leaves *pp after it.
 */
static size_t
list_next(const char **pp, const char *end, const char **tok)
{
	const char *p = *pp, *e;

	while (p < end && (*p == ',' || *p == ' ' || *p == '\t'))
		p++;
	*tok = p;
	while (p < end && *p != ',')
		p++;
	e = p;
	while (e > *tok && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*pp = p;
	return (size_t)(e - *tok);
}

size_t
h1_list_next(const char **pp, const char *end, const char **tok)
{
	return list_next(pp, end, tok);
}

bool
h1_list_has(const char *value, size_t len, const char *ltoken)
{
	const char *p = value, *end = value + len, *tok;
	size_t n, tl = strlen(ltoken);

	while ((n = list_next(&p, end, &tok)) > 0)
		if (ieq(tok, n, ltoken, tl))
			return true;
	return false;
}

/* First byte in [p, end) that may not appear in a request target. */
static inline const char *
scan_target(const char *p, const char *end)
{
#if defined(__SSE2__)
	const __m128i lo = _mm_set1_epi8(0x21), del = _mm_set1_epi8(0x7f);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* signed compare: 0x80-0xff are negative, so also caught */
		int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, lo),
		    _mm_cmpeq_epi8(v, del)));
		if (m)
			return p + __builtin_ctz((unsigned)m);
		p += 16;
	}
#endif
	while (p < end && IS(*p, C_VCHAR))
		p++;
	return p;
}

/* First byte in [p, end) that may not appear in a field value. */
static inline const char *
scan_field(const char *p, const char *end)
{
#if defined(__SSE2__)
	const __m128i c1f = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v);
		int m = _mm_movemask_epi8(_mm_or_si128(ctl,
		    _mm_cmpeq_epi8(v, del)));
		if (m == 0) {
			p += 16;
			continue;
		}
		p += __builtin_ctz((unsigned)m);
		if (*p != '\t')
			return p;
		p++;
	}
#endif
	while (p < end && IS(*p, C_FIELD))
		p++;
	return p;
}

/* What the framing-relevant fields said, gathered while parsing. */
struct h1_sem {
	bool have_cl, have_te;
	bool conn_close, conn_keep_alive, conn_upgrade;
	bool upgrade_websocket, expect_continue;
	unsigned n_host;
	uint64_t cl;
	const char *host;
	size_t host_len;
};

/* 1*DIGIT, no sign, no list, at most 2^63-1. */
static int
parse_content_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)v[i] - '0';
		if (d > 9)
			return -1;
		if (x > (UINT64_C(0x7fffffffffffffff) - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

/* Interpret one complete field line; 0 or -1 with *err. */
static int
sem_field(struct h1_sem *s, const struct h1_header *h, enum h1_err *err)
{
	const char *v = h->value, *p, *end, *tok;
	size_t n = h->value_len, tl;
	uint64_t cl;

	/* the names below start with c, e, h, t or u: most lines stop here */
	switch (h->name[0] | 0x20) {
	case 'c': case 'e': case 'h': case 't': case 'u':
		break;
	default:
		return 0;
	}
	switch (h->name_len) {
	case 4:
		if (!IEQ(h->name, 4, "host"))
			return 0;
		if (++s->n_host > 1) {
			*err = H1_ERR_HOST;
			return -1;
		}
		s->host = v;
		s->host_len = n;
		return 0;
	case 6:
		if (IEQ(h->name, 6, "expect") && IEQ(v, n, "100-continue"))
			s->expect_continue = true;
		return 0;
	case 7:
		if (IEQ(h->name, 7, "upgrade") &&
		    h1_list_has(v, n, "websocket"))
			s->upgrade_websocket = true;
		return 0;
	case 10:
		if (!IEQ(h->name, 10, "connection"))
			return 0;
		p = v;
		end = v + n;
		while ((tl = list_next(&p, end, &tok)) > 0) {
			if (IEQ(tok, tl, "close"))
				s->conn_close = true;
			else if (IEQ(tok, tl, "keep-alive"))
				s->conn_keep_alive = true;
			else if (IEQ(tok, tl, "upgrade"))
				s->conn_upgrade = true;
		}
		return 0;
	case 14:
		if (!IEQ(h->name, 14, "content-length"))
			return 0;
		if (s->have_te) {
			*err = H1_ERR_CL_AND_TE;
			return -1;
		}
		if (parse_content_length(v, n, &cl) == -1 ||
		    (s->have_cl && cl != s->cl)) {
			*err = H1_ERR_CONTENT_LENGTH;
			return -1;
		}
		s->have_cl = true;
		s->cl = cl;
		return 0;
	case 17:
		if (!IEQ(h->name, 17, "transfer-encoding"))
			return 0;
		if (s->have_cl) {
			*err = H1_ERR_CL_AND_TE;
			return -1;
		}
		/* Only a single "chunked": any other coding, or chunked
		 * twice (on one line or several), is refused. */
		if (s->have_te || !IEQ(v, n, "chunked")) {
			*err = H1_ERR_TRANSFER_ENCODING;
			return -1;
		}
		s->have_te = true;
		return 0;
	default:
		return 0;
	}
}

/*
 * The field lines and the final CRLF, from *pp up to end.  Returns 0 with
 * *pp after the final CRLF, H1_AGAIN, or -1 with *err.
 */
static int
parse_fields(const char **pp, const char *end, struct h1_header *hdrs,
    size_t *n_headers, struct h1_sem *sem, enum h1_err *err)
{
	const char *p = *pp, *name, *value, *vend;
	struct h1_header *h;
	size_t n = 0;

	for (;;) {
		if (p == end)
			goto again;
		if (*p == '\r') {
			if (p + 1 == end)
				goto again;
			if (p[1] != '\n')
				goto bare_cr;
			*pp = p + 2;
			*n_headers = n;
			return 0;
		}
		if (*p == ' ' || *p == '\t') {
			*err = H1_ERR_OBS_FOLD;
			goto fail;
		}
		if (*p == '\n')
			goto bare_cr;
		if (n == H1_MAX_HEADERS) {
			*err = H1_ERR_TOO_MANY_HEADERS;
			goto fail;
		}
		name = p;
		while (end - p >= 4 && IS(p[0], C_TCHAR) && IS(p[1], C_TCHAR) &&
		    IS(p[2], C_TCHAR) && IS(p[3], C_TCHAR))
			p += 4;
		while (p < end && IS(*p, C_TCHAR))
			p++;
		if (p == end)
			goto again;
		if (*p != ':' || p == name) {
			*err = (p != name && (*p == ' ' || *p == '\t')) ?
			    H1_ERR_SPACE_BEFORE_COLON : H1_ERR_HEADER_NAME;
			goto fail;
		}
		h = &hdrs[n];
		h->name = name;
		h->name_len = (size_t)(p - name);
		p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		value = p;
		p = scan_field(p, end);
		if (p == end)
			goto again;
		if (*p != '\r') {
			if (*p == '\n')
				goto bare_cr;
			*err = H1_ERR_HEADER_VALUE;
			goto fail;
		}
		if (p + 1 == end)
			goto again;
		if (p[1] != '\n')
			goto bare_cr;
		vend = p;
		while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		h->value = value;
		h->value_len = (size_t)(vend - value);
		n++;
		if (sem_field(sem, h, err) == -1)
			goto fail;
		p += 2;
	}
again:
	*n_headers = n;
	return H1_AGAIN;
bare_cr:
	*err = H1_ERR_BARE_CR;
fail:
	*n_headers = n;
	return -1;
}

/* "HTTP/1.0" or "HTTP/1.1" at p; returns the minor version, H1_AGAIN, or
 * -1 with *err = bad (not HTTP at all) or H1_ERR_VERSION. */
static int
parse_version(const char *p, const char *end, enum h1_err bad,
    enum h1_err *err)
{
	static const char proto[] = "HTTP/1.";
	size_t i;

	for (i = 0; i < sizeof(proto) - 1; i++) {
		if (p + i == end)
			return H1_AGAIN;
		if (p[i] != proto[i]) {
			/* "HTTP/2.0", "HTTP/3": a version, just not ours */
			*err = (i >= 5 && p[i] >= '0' && p[i] <= '9') ?
			    H1_ERR_VERSION : bad;
			return -1;
		}
	}
	if (p + i == end)
		return H1_AGAIN;
	if (p[i] == '0' || p[i] == '1')
		return p[i] - '0';
	*err = (p[i] >= '2' && p[i] <= '9') ? H1_ERR_VERSION : bad;
	return -1;
}

/* CRLF at p: 0, H1_AGAIN, or -1 (bare CR / anything else). */
static int
expect_crlf(const char *p, const char *end, enum h1_err other,
    enum h1_err *err)
{
	if (p == end)
		return H1_AGAIN;
	if (*p != '\r') {
		*err = *p == '\n' ? H1_ERR_BARE_CR : other;
		return -1;
	}
	if (p + 1 == end)
		return H1_AGAIN;
	if (p[1] != '\n') {
		*err = H1_ERR_BARE_CR;
		return -1;
	}
	return 0;
}

static bool
keep_alive(int minor, const struct h1_sem *s)
{
	if (s->conn_close)
		return false;
	return minor == 1 || s->conn_keep_alive;
}

int
h1_parse_request(const char *buf, size_t len, struct h1_request *req,
    enum h1_err *err)
{
	const char *end = buf + (len < H1_MAX_HEAD ? len : H1_MAX_HEAD);
	const char *p = buf, *tend;
	struct h1_sem sem;
	int rc;

	memset(&sem, 0, sizeof(sem));
	*err = H1_ERR_NONE;
	req->method = req->target = req->host = NULL;
	req->method_len = req->target_len = req->host_len = 0;
	req->minor_version = 0;
	req->n_headers = 0;
	req->body = H1_BODY_NONE;
	req->content_length = 0;
	req->keep_alive = req->expect_continue = false;
	req->upgrade_websocket = false;
	req->head_len = 0;

	/* RFC 9112 §2.2: empty lines before the request line are ignored */
	while ((rc = expect_crlf(p, end, H1_ERR_NONE, err)) == 0)
		p += 2;
	if (rc == H1_AGAIN)
		goto again;
	if (*err != H1_ERR_NONE)
		return -1;

	req->method = p;
	while (p < end && IS(*p, C_TCHAR))
		p++;
	if (p == end)
		goto again;
	if (*p != ' ' || p == req->method) {
		*err = (p == req->method || *p == '\r' || *p == '\n') ?
		    H1_ERR_REQUEST_LINE : H1_ERR_METHOD;
		return -1;
	}
	req->method_len = (size_t)(p - req->method);
	p++;

	req->target = p;
	tend = (size_t)(end - p) > H1_MAX_URI ? p + H1_MAX_URI + 1 : end;
	p = scan_target(p, tend);
	if (p - req->target > H1_MAX_URI) {
		*err = H1_ERR_URI_TOO_LONG;
		return -1;
	}
	if (p == end)
		goto again;
	if (*p != ' ' || p == req->target) {
		*err = (p == req->target || *p == '\r' || *p == '\n') ?
		    H1_ERR_REQUEST_LINE : H1_ERR_TARGET;
		return -1;
	}
	req->target_len = (size_t)(p - req->target);
	p++;

	rc = parse_version(p, end, H1_ERR_REQUEST_LINE, err);
	if (rc == H1_AGAIN)
		goto again;
	if (rc == -1)
		return -1;
	req->minor_version = rc;
	p += 8;
	rc = expect_crlf(p, end, H1_ERR_REQUEST_LINE, err);
	if (rc == H1_AGAIN)
		goto again;
	if (rc == -1)
		return -1;
	p += 2;

	rc = parse_fields(&p, end, req->headers, &req->n_headers, &sem, err);
	if (rc == H1_AGAIN)
		goto again;
	if (rc == -1)
		return -1;

	if (req->minor_version == 1 ? sem.n_host != 1 : sem.n_host > 1) {
		*err = H1_ERR_HOST;
		return -1;
	}
	if (sem.have_te) {
		/* RFC 9112 §6.1: chunked in HTTP/1.0 is faulty framing */
		if (req->minor_version == 0) {
			*err = H1_ERR_TRANSFER_ENCODING;
			return -1;
		}
		req->body = H1_BODY_CHUNKED;
	} else if (sem.have_cl) {
		req->content_length = sem.cl;
		req->body = sem.cl > 0 ? H1_BODY_LENGTH : H1_BODY_NONE;
	}
	req->host = sem.host;
	req->host_len = sem.host_len;
	req->keep_alive = keep_alive(req->minor_version, &sem);
	req->expect_continue = req->minor_version == 1 && sem.expect_continue;
	req->upgrade_websocket = req->minor_version == 1 &&
	    sem.upgrade_websocket && sem.conn_upgrade &&
	    req->method_len == 3 && memcmp(req->method, "GET", 3) == 0;
	req->head_len = (size_t)(p - buf);
	return (int)req->head_len;

again:
	if (len >= H1_MAX_HEAD) {
		*err = H1_ERR_HEAD_TOO_LARGE;
		return -1;
	}
	return H1_AGAIN;
}

int
h1_parse_response(const char *buf, size_t len, bool head_request,
    struct h1_response *resp, enum h1_err *err)
{
	const char *end = buf + (len < H1_MAX_HEAD ? len : H1_MAX_HEAD);
	const char *p = buf;
	struct h1_sem sem;
	int rc, status = 0, i;

	memset(&sem, 0, sizeof(sem));
	*err = H1_ERR_NONE;
	resp->minor_version = 0;
	resp->status = 0;
	resp->reason = NULL;
	resp->reason_len = 0;
	resp->n_headers = 0;
	resp->body = H1_BODY_NONE;
	resp->content_length = 0;
	resp->keep_alive = resp->upgrade = false;
	resp->head_len = 0;

	rc = parse_version(p, end, H1_ERR_STATUS_LINE, err);
	if (rc == H1_AGAIN)
		goto again;
	if (rc == -1) {
		*err = H1_ERR_STATUS_LINE;
		return -1;
	}
	resp->minor_version = rc;
	p += 8;
	if (p == end)
		goto again;
	if (*p != ' ')
		goto bad_line;
	p++;
	for (i = 0; i < 3; i++, p++) {
		if (p == end)
			goto again;
		if (*p < '0' || *p > '9')
			goto bad_line;
		status = status * 10 + (*p - '0');
	}
	if (status < 100)
		goto bad_line;
	resp->status = status;
	if (p == end)
		goto again;
	if (*p == ' ') {
		/* reason-phrase = *( HTAB / SP / VCHAR / obs-text ) */
		resp->reason = ++p;
		p = scan_field(p, end);
		resp->reason_len = (size_t)(p - resp->reason);
	}
	/* RFC 9112 §4 wants the SP even with no reason; tolerate its
	 * absence ("HTTP/1.1 200\r\n"), which has no framing impact. */
	rc = expect_crlf(p, end, H1_ERR_STATUS_LINE, err);
	if (rc == H1_AGAIN)
		goto again;
	if (rc == -1)
		return -1;
	p += 2;

	rc = parse_fields(&p, end, resp->headers, &resp->n_headers, &sem,
	    err);
	if (rc == H1_AGAIN)
		goto again;
	if (rc == -1)
		return -1;

	if (sem.have_te && resp->minor_version == 0) {
		*err = H1_ERR_TRANSFER_ENCODING;
		return -1;
	}
	if (sem.have_cl)
		resp->content_length = sem.cl;
	if (head_request || status < 200 || status == 204 || status == 304)
		resp->body = H1_BODY_NONE;
	else if (sem.have_te)
		resp->body = H1_BODY_CHUNKED;
	else if (sem.have_cl)
		resp->body = sem.cl > 0 ? H1_BODY_LENGTH : H1_BODY_NONE;
	else
		resp->body = H1_BODY_UNTIL_CLOSE;
	resp->upgrade = status == 101;
	resp->keep_alive = keep_alive(resp->minor_version, &sem) &&
	    resp->body != H1_BODY_UNTIL_CLOSE && !resp->upgrade;
	resp->head_len = (size_t)(p - buf);
	return (int)resp->head_len;

bad_line:
	*err = H1_ERR_STATUS_LINE;
	return -1;
again:
	if (len >= H1_MAX_HEAD) {
		*err = H1_ERR_HEAD_TOO_LARGE;
		return -1;
	}
	return H1_AGAIN;
}

/* ---- chunked transfer coding ------------------------------------------- */

enum {
	CH_SIZE,		/* hex digits of a chunk size */
	CH_SIZE_WS,		/* BWS after the size: only SP/HTAB/';' */
	CH_EXT,			/* chunk extensions: skipped up to CR */
	CH_SIZE_LF,		/* CR seen after the size line */
	CH_DATA,		/* `left` bytes of chunk data */
	CH_DATA_CR,		/* CRLF after the data */
	CH_DATA_LF,
	CH_TR_START,		/* start of a trailer line, or the final CRLF */
	CH_TR_NAME,
	CH_TR_VALUE,
	CH_TR_LF,		/* CR seen at the end of a trailer line */
	CH_END_LF,		/* CR of the final CRLF seen */
	CH_DONE,
	CH_ERROR
};

void
h1_chunked_init(struct h1_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE;
}

static int
hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = lower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

int
h1_chunked_feed(struct h1_chunked *c, const char *in, size_t len,
    size_t *consumed, size_t *data_off, size_t *data_len, enum h1_err *err)
{
	size_t i = 0, n;
	unsigned char ch;
	int d;

	*consumed = 0;
	*data_off = 0;
	*data_len = 0;
	if (c->state == CH_DONE)
		return 1;
	if (c->state == CH_ERROR)
		goto fail;

	while (i < len) {
		if (c->state == CH_DATA) {
			n = len - i;
			if (n > c->left)
				n = (size_t)c->left;
			*data_off = i;
			*data_len = n;
			c->left -= n;
			i += n;
			if (c->left == 0)
				c->state = CH_DATA_CR;
			*consumed = i;
			return 0;
		}
		ch = (unsigned char)in[i++];
		switch (c->state) {
		case CH_SIZE:
			if ((d = hexval(ch)) >= 0) {
				if (c->line_len == 16)
					goto fail;	/* > 16 hex digits */
				c->left = (c->left << 4) | (unsigned)d;
				c->line_len++;
				break;
			}
			if (c->line_len == 0)
				goto fail;		/* no digits */
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == ';')
				c->state = CH_EXT;
			else if (ch == ' ' || ch == '\t')
				c->state = CH_SIZE_WS;
			else
				goto fail;
			c->line_len++;
			break;
		case CH_SIZE_WS:
			if (ch == ';')
				c->state = CH_EXT;
			else if (ch != ' ' && ch != '\t')
				goto fail;
			if (++c->line_len > H1_MAX_CHUNK_LINE)
				goto fail;
			break;
		case CH_EXT:
			if (ch == '\r') {
				c->state = CH_SIZE_LF;
				break;
			}
			if (!IS(ch, C_FIELD) || ++c->line_len > H1_MAX_CHUNK_LINE)
				goto fail;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				goto fail;
			c->line_len = 0;
			if (c->left == 0) {
				c->trailer_len = 0;
				c->state = CH_TR_START;
			} else {
				c->state = CH_DATA;
			}
			break;
		case CH_DATA_CR:
			if (ch != '\r')
				goto fail;
			c->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				goto fail;
			c->state = CH_SIZE;
			c->left = 0;
			c->line_len = 0;
			break;
		case CH_TR_START:
			if (++c->trailer_len > H1_MAX_TRAILER)
				goto fail;
			if (ch == '\r')
				c->state = CH_END_LF;
			else if (IS(ch, C_TCHAR))
				c->state = CH_TR_NAME;
			else
				goto fail;	/* obs-fold, bare LF, junk */
			break;
		case CH_TR_NAME:
			if (++c->trailer_len > H1_MAX_TRAILER)
				goto fail;
			if (ch == ':')
				c->state = CH_TR_VALUE;
			else if (!IS(ch, C_TCHAR))
				goto fail;	/* incl. space before colon */
			break;
		case CH_TR_VALUE:
			if (++c->trailer_len > H1_MAX_TRAILER)
				goto fail;
			if (ch == '\r')
				c->state = CH_TR_LF;
			else if (!IS(ch, C_FIELD))
				goto fail;
			break;
		case CH_TR_LF:
			if (++c->trailer_len > H1_MAX_TRAILER || ch != '\n')
				goto fail;
			c->state = CH_TR_START;
			break;
		case CH_END_LF:
			if (ch != '\n')
				goto fail;
			c->state = CH_DONE;
			*consumed = i;
			return 1;
		default:
			goto fail;
		}
	}
	*consumed = i;
	return 0;
fail:
	c->state = CH_ERROR;
	*consumed = i;
	*err = H1_ERR_CHUNK;
	return -1;
}
