/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_h1_parse.c — the strict HTTP/1.1 parser (proxy/h1_parse.c).
 *
 * Every rejection of SPEC §3 with its status; valid requests and
 * responses with what is derived from them; and for each input every
 * prefix, placed against a PROT_NONE page (harness_guarded), must give
 * H1_AGAIN until the head is complete and the same verdict afterwards.
 * The chunked decoder is fed in two pieces split at every byte and one
 * byte at a time, and must give the same body each way.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/h1_parse.h"
#include "tests/unit/harness.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* Parse every prefix of s against a guard page; returns the verdict on
 * the whole input and checks the prefixes agree with it. */
static int
req_all_splits(const char *s, size_t n, struct h1_request *req,
    enum h1_err *err)
{
	int full, rc;
	enum h1_err e;

	full = h1_parse_request(harness_guarded(s, n), n, req, err);
	for (size_t k = 0; k < n; k++) {
		rc = h1_parse_request(harness_guarded(s, k), k, req, &e);
		if (full > 0) {
			if ((size_t)full > k ? rc != H1_AGAIN : rc != full)
				harness_fail(__FILE__, __LINE__,
				    "prefix %zu of \"%.*s\": %d, want %d", k,
				    (int)n, s, rc, (size_t)full > k ?
				    H1_AGAIN : full);
		} else if (full == -1) {
			if (rc != H1_AGAIN && (rc != -1 || e != *err))
				harness_fail(__FILE__, __LINE__,
				    "prefix %zu of \"%.*s\": %d/%s, want "
				    "again or %s", k, (int)n, s, rc,
				    h1_err_string(e), h1_err_string(*err));
		} else if (rc != H1_AGAIN) {
			harness_fail(__FILE__, __LINE__,
			    "prefix %zu of an incomplete head: %d", k, rc);
		}
	}
	/* the verdict is final: parse the whole again, it must agree */
	rc = h1_parse_request(harness_guarded(s, n), n, req, err);
	CHECK_INT(rc, ==, full);
	return full;
}

static int
resp_all_splits(const char *s, size_t n, bool head, struct h1_response *resp,
    enum h1_err *err)
{
	int full, rc;
	enum h1_err e;

	full = h1_parse_response(harness_guarded(s, n), n, head, resp, err);
	for (size_t k = 0; k < n; k++) {
		rc = h1_parse_response(harness_guarded(s, k), k, head, resp,
		    &e);
		if (full > 0) {
			if ((size_t)full > k ? rc != H1_AGAIN : rc != full)
				harness_fail(__FILE__, __LINE__,
				    "prefix %zu of \"%.*s\": %d", k, (int)n,
				    s, rc);
		} else if (full == -1) {
			if (rc != H1_AGAIN && (rc != -1 || e != *err))
				harness_fail(__FILE__, __LINE__,
				    "prefix %zu of \"%.*s\": %d/%s", k,
				    (int)n, s, rc, h1_err_string(e));
		}
	}
	rc = h1_parse_response(harness_guarded(s, n), n, head, resp, err);
	CHECK_INT(rc, ==, full);
	return full;
}

static struct h1_request req;
static struct h1_response resp;

struct reject {
	const char *in;
	enum h1_err err;
	int status;
};

static void
check_rejects(const struct reject *t, size_t n)
{
	enum h1_err err;
	int rc;

	for (size_t i = 0; i < n; i++) {
		rc = req_all_splits(t[i].in, strlen(t[i].in), &req, &err);
		if (rc != -1 || err != t[i].err)
			harness_fail(__FILE__, __LINE__,
			    "\"%s\": rc %d err \"%s\", want \"%s\"", t[i].in,
			    rc, h1_err_string(err), h1_err_string(t[i].err));
		else
			CHECK_INT(h1_err_status(err), ==, t[i].status);
	}
}

#define H "Host: a\r\n"

static void
test_h1_rejects_smuggling_vectors_with_400(void)
{
	static const struct reject t[] = {
		/* CL + TE, in either order */
		{ "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n", H1_ERR_CL_AND_TE, 400 },
		{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
		  "Content-Length: 5\r\n\r\n", H1_ERR_CL_AND_TE, 400 },
		/* differing and invalid Content-Length */
		{ "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\n"
		  "Content-Length: 6\r\n\r\n", H1_ERR_CONTENT_LENGTH, 400 },
		{ "POST / HTTP/1.1\r\n" H "Content-Length: 5, 5\r\n\r\n",
		  H1_ERR_CONTENT_LENGTH, 400 },
		{ "POST / HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\n",
		  H1_ERR_CONTENT_LENGTH, 400 },
		{ "POST / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n",
		  H1_ERR_CONTENT_LENGTH, 400 },
		{ "POST / HTTP/1.1\r\n" H "Content-Length: 0x10\r\n\r\n",
		  H1_ERR_CONTENT_LENGTH, 400 },
		{ "POST / HTTP/1.1\r\n" H "Content-Length: 1 2\r\n\r\n",
		  H1_ERR_CONTENT_LENGTH, 400 },
		{ "POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n",
		  H1_ERR_CONTENT_LENGTH, 400 },
		{ "POST / HTTP/1.1\r\n" H
		  "Content-Length: 9223372036854775808\r\n\r\n",
		  H1_ERR_CONTENT_LENGTH, 400 },
		{ "POST / HTTP/1.1\r\n" H
		  "Content-Length: 99999999999999999999999\r\n\r\n",
		  H1_ERR_CONTENT_LENGTH, 400 },
		/* Transfer-Encoding other than a single chunked */
		{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n",
		  H1_ERR_TRANSFER_ENCODING, 400 },
		{ "POST / HTTP/1.1\r\n" H
		  "Transfer-Encoding: chunked, gzip\r\n\r\n",
		  H1_ERR_TRANSFER_ENCODING, 400 },
		{ "POST / HTTP/1.1\r\n" H
		  "Transfer-Encoding: gzip, chunked\r\n\r\n",
		  H1_ERR_TRANSFER_ENCODING, 400 },
		{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n",
		  H1_ERR_TRANSFER_ENCODING, 400 },
		{ "POST / HTTP/1.1\r\n" H
		  "Transfer-Encoding: chunked, chunked\r\n\r\n",
		  H1_ERR_TRANSFER_ENCODING, 400 },
		{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: xchunked\r\n\r\n",
		  H1_ERR_TRANSFER_ENCODING, 400 },
		{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked;a=b\r\n\r\n",
		  H1_ERR_TRANSFER_ENCODING, 400 },
		{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n\r\n",
		  H1_ERR_TRANSFER_ENCODING, 400 },
		{ "POST / HTTP/1.1\r\n" H
		  "Transfer-Encoding: \x0b" "chunked\r\n\r\n",
		  H1_ERR_HEADER_VALUE, 400 },
		{ "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		  H1_ERR_TRANSFER_ENCODING, 400 },
		/* whitespace before the colon, obs-fold */
		{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding : chunked\r\n\r\n",
		  H1_ERR_SPACE_BEFORE_COLON, 400 },
		{ "GET / HTTP/1.1\r\n" H "X-A\t: b\r\n\r\n",
		  H1_ERR_SPACE_BEFORE_COLON, 400 },
		{ "GET / HTTP/1.1\r\n" H "X-A: b\r\n c\r\n\r\n",
		  H1_ERR_OBS_FOLD, 400 },
		{ "GET / HTTP/1.1\r\n" H "X-A: b\r\n\tc\r\n\r\n",
		  H1_ERR_OBS_FOLD, 400 },
		{ "GET / HTTP/1.1\r\n " H "\r\n", H1_ERR_OBS_FOLD, 400 },
		/* control characters in names and values, bare CR / LF */
		{ "GET / HTTP/1.1\r\n" H "X-A: b\x01" "c\r\n\r\n",
		  H1_ERR_HEADER_VALUE, 400 },
		{ "GET / HTTP/1.1\r\n" H "X-A: b\x7f\r\n\r\n",
		  H1_ERR_HEADER_VALUE, 400 },
		{ "GET / HTTP/1.1\r\n" H "X-A: a\rb\r\n\r\n",
		  H1_ERR_BARE_CR, 400 },
		{ "GET / HTTP/1.1\r\n" H "X-A: a\nb\r\n\r\n",
		  H1_ERR_BARE_CR, 400 },
		{ "GET / HTTP/1.1\r\n" H "X-A: a\n\r\n", H1_ERR_BARE_CR, 400 },
		{ "GET / HTTP/1.1\n" H "\r\n", H1_ERR_BARE_CR, 400 },
		{ "GET / HTTP/1.1\r\n" H "\n", H1_ERR_BARE_CR, 400 },
		{ "GET / HTTP/1.1\r\n" H "\r\r\n", H1_ERR_BARE_CR, 400 },
		{ "\n\nGET / HTTP/1.1\r\n" H "\r\n", H1_ERR_BARE_CR, 400 },
		{ "GET / HTTP/1.1\r\n" H "X\x01" "A: b\r\n\r\n",
		  H1_ERR_HEADER_NAME, 400 },
		{ "GET / HTTP/1.1\r\n" H "X(A): b\r\n\r\n",
		  H1_ERR_HEADER_NAME, 400 },
		{ "GET / HTTP/1.1\r\n" H ": b\r\n\r\n", H1_ERR_HEADER_NAME, 400 },
		{ "GET / HTTP/1.1\r\n" H "X-A b\r\n\r\n",
		  H1_ERR_SPACE_BEFORE_COLON, 400 },
		{ "GET / HTTP/1.1\r\n" H "X-A\r\n\r\n", H1_ERR_HEADER_NAME, 400 },
		{ "GET / HTTP/1.1\r\n" H "\xc3\xa9: b\r\n\r\n",
		  H1_ERR_HEADER_NAME, 400 },
		/* Host rules */
		{ "GET / HTTP/1.1\r\n\r\n", H1_ERR_HOST, 400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", H1_ERR_HOST, 400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n", H1_ERR_HOST, 400 },
		{ "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", H1_ERR_HOST, 400 },
	};

	check_rejects(t, sizeof(t) / sizeof(t[0]));
}

static void
test_h1_rejects_nul_bytes(void)
{
	static const struct {
		const char *in;
		size_t len;
		enum h1_err err;
	} t[] = {
		{ S("GET / HTTP/1.1\r\n" H "X-A: \x00\r\n\r\n"),
		  H1_ERR_HEADER_VALUE },
		{ S("GET / HTTP/1.1\r\n" H "X-A: a\x00" "b\r\n\r\n"),
		  H1_ERR_HEADER_VALUE },
		{ S("GET / HTTP/1.1\r\n" H "X\x00" "A: b\r\n\r\n"),
		  H1_ERR_HEADER_NAME },
		{ S("GET /\x00 HTTP/1.1\r\n" H "\r\n"), H1_ERR_TARGET },
		{ S("\x00GET / HTTP/1.1\r\n" H "\r\n"), H1_ERR_REQUEST_LINE },
	};
	enum h1_err err;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK_INT(req_all_splits(t[i].in, t[i].len, &req, &err), ==, -1);
		CHECK_INT(err, ==, t[i].err);
	}
}

static void
test_h1_rejects_bad_request_lines_with_400(void)
{
	static const struct reject t[] = {
		{ "GET  / HTTP/1.1\r\n" H "\r\n", H1_ERR_REQUEST_LINE, 400 },
		{ "GET /  HTTP/1.1\r\n" H "\r\n", H1_ERR_REQUEST_LINE, 400 },
		{ "GET / HTTP/1.1 \r\n" H "\r\n", H1_ERR_REQUEST_LINE, 400 },
		{ " GET / HTTP/1.1\r\n" H "\r\n", H1_ERR_REQUEST_LINE, 400 },
		{ "GET\t/ HTTP/1.1\r\n" H "\r\n", H1_ERR_METHOD, 400 },
		{ "GET /\tHTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET, 400 },
		{ "GET / HTTP/1.1\r\n\r\n" "x", H1_ERR_HOST, 400 },
		{ "GET /\r\n\r\n", H1_ERR_REQUEST_LINE, 400 },
		{ "GET\r\n\r\n", H1_ERR_REQUEST_LINE, 400 },
		{ "G(T / HTTP/1.1\r\n" H "\r\n", H1_ERR_METHOD, 400 },
		{ "GE\x01T / HTTP/1.1\r\n" H "\r\n", H1_ERR_METHOD, 400 },
		{ "GET /a\x01" "b HTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET, 400 },
		{ "GET /\xc3\xa9 HTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET, 400 },
		{ "GET /\x7f HTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET, 400 },
		{ "GET / http/1.1\r\n" H "\r\n", H1_ERR_REQUEST_LINE, 400 },
		{ "GET / HTTP/1.2\r\n" H "\r\n", H1_ERR_VERSION, 400 },
		{ "GET / HTTP/2.0\r\n" H "\r\n", H1_ERR_VERSION, 400 },
		{ "GET / HTTP/0.9\r\n" H "\r\n", H1_ERR_VERSION, 400 },
		{ "GET / HTTP/1.10\r\n" H "\r\n", H1_ERR_REQUEST_LINE, 400 },
		{ "GET / HTTP/1.x\r\n" H "\r\n", H1_ERR_REQUEST_LINE, 400 },
		{ "GET / HTTP/1\r\n" H "\r\n", H1_ERR_REQUEST_LINE, 400 },
		{ "GET / HTTP/1.1\r" H "\r\n", H1_ERR_BARE_CR, 400 },
		{ "GET / HTTP/1.1\n" H "\r\n", H1_ERR_BARE_CR, 400 },
		{ "\r\r\nGET / HTTP/1.1\r\n" H "\r\n", H1_ERR_BARE_CR, 400 },
		{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		  H1_ERR_REQUEST_LINE, 400 },	/* TLS on a plain port */
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", H1_ERR_VERSION, 400 },
	};

	check_rejects(t, sizeof(t) / sizeof(t[0]));
}

static void
test_h1_parses_simple_get(void)
{
	static const char in[] = "GET /index.html?x=1 HTTP/1.1\r\n"
	    "Host: example.com\r\nUser-Agent: t\r\nAccept:  */* \t\r\n\r\n";
	enum h1_err err;

	REQUIRE(req_all_splits(S(in), &req, &err) == (int)sizeof(in) - 1);
	CHECK_MEM(req.method, req.method_len, "GET", 3);
	CHECK_MEM(req.target, req.target_len, "/index.html?x=1", 15);
	CHECK_INT(req.minor_version, ==, 1);
	CHECK_INT(req.n_headers, ==, 3);
	CHECK_MEM(req.headers[0].name, req.headers[0].name_len, "Host", 4);
	CHECK_MEM(req.headers[2].value, req.headers[2].value_len, "*/*", 3);
	CHECK_MEM(req.host, req.host_len, "example.com", 11);
	CHECK_INT(req.body, ==, H1_BODY_NONE);
	CHECK(req.keep_alive);
	CHECK(!req.expect_continue);
	CHECK(!req.upgrade_websocket);
	CHECK_INT(req.head_len, ==, sizeof(in) - 1);
	CHECK(h1_header_is(&req.headers[1], "user-agent"));
	CHECK(!h1_header_is(&req.headers[1], "user-agen"));
}

static void
test_h1_derives_framing_and_connection(void)
{
	enum h1_err err;
	static const char cl[] = "POST /u HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 42\r\ncontent-length: 42\r\n"
	    "Expect: 100-Continue\r\nConnection: close\r\n\r\n";
	static const char te[] = "POST /u HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: Chunked\r\n\r\n";
	static const char cl0[] = "POST /u HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 000\r\n\r\n";
	static const char big[] = "PUT /u HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 9223372036854775807\r\n\r\n";
	static const char h10[] = "GET / HTTP/1.0\r\n\r\n";
	static const char h10ka[] = "GET / HTTP/1.0\r\n"
	    "Connection: Keep-Alive\r\n\r\n";
	static const char h11close[] = "GET / HTTP/1.1\r\nHost: a\r\n"
	    "Connection: keep-alive, CLOSE\r\n\r\n";
	static const char ws[] = "GET /chat HTTP/1.1\r\nHost: a\r\n"
	    "Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n";
	static const char ws_post[] = "POST /chat HTTP/1.1\r\nHost: a\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
	static const char ws_noconn[] = "GET /chat HTTP/1.1\r\nHost: a\r\n"
	    "Upgrade: websocket\r\n\r\n";
	static const char expect10[] = "POST / HTTP/1.0\r\n"
	    "Expect: 100-continue\r\nContent-Length: 1\r\n\r\n";

	REQUIRE(req_all_splits(S(cl), &req, &err) > 0);
	CHECK_INT(req.body, ==, H1_BODY_LENGTH);
	CHECK_INT(req.content_length, ==, 42);
	CHECK(req.expect_continue);
	CHECK(!req.keep_alive);

	REQUIRE(req_all_splits(S(te), &req, &err) > 0);
	CHECK_INT(req.body, ==, H1_BODY_CHUNKED);
	CHECK(req.keep_alive);

	REQUIRE(req_all_splits(S(cl0), &req, &err) > 0);
	CHECK_INT(req.body, ==, H1_BODY_NONE);
	CHECK_INT(req.content_length, ==, 0);

	REQUIRE(req_all_splits(S(big), &req, &err) > 0);
	CHECK_INT(req.body, ==, H1_BODY_LENGTH);
	CHECK(req.content_length == UINT64_C(9223372036854775807));

	REQUIRE(req_all_splits(S(h10), &req, &err) > 0);
	CHECK_INT(req.minor_version, ==, 0);
	CHECK(req.host == NULL);
	CHECK(!req.keep_alive);
	REQUIRE(req_all_splits(S(h10ka), &req, &err) > 0);
	CHECK(req.keep_alive);
	REQUIRE(req_all_splits(S(h11close), &req, &err) > 0);
	CHECK(!req.keep_alive);

	REQUIRE(req_all_splits(S(ws), &req, &err) > 0);
	CHECK(req.upgrade_websocket);
	CHECK(req.keep_alive);
	REQUIRE(req_all_splits(S(ws_post), &req, &err) > 0);
	CHECK(!req.upgrade_websocket);
	REQUIRE(req_all_splits(S(ws_noconn), &req, &err) > 0);
	CHECK(!req.upgrade_websocket);
	REQUIRE(req_all_splits(S(expect10), &req, &err) > 0);
	CHECK(!req.expect_continue);
}

static void
test_h1_accepts_allowed_bytes(void)
{
	enum h1_err err;
	/* tchar punctuation in names and methods, obs-text, HTAB and
	 * trailing OWS in values, every visible ASCII byte in a target */
	static const char in[] = "M-1!#$%&'*+.^_`|~ /!\"#$%&'()*+,-./:;<=>?@"
	    "[\\]^_`{|}~ HTTP/1.1\r\n"
	    "Host: a\r\nX!#$%&'*+-.^_`|~: a\tb \xc3\xa9\xff \t\r\n"
	    "X-Empty:\r\nX-Ws: \t \r\n\r\n";

	REQUIRE(req_all_splits(S(in), &req, &err) == (int)sizeof(in) - 1);
	CHECK_MEM(req.method, req.method_len, "M-1!#$%&'*+.^_`|~", 17);
	CHECK_INT(req.target_len, ==, 33);
	CHECK_INT(req.n_headers, ==, 4);
	CHECK_MEM(req.headers[1].value, req.headers[1].value_len,
	    "a\tb \xc3\xa9\xff", 7);
	CHECK_INT(req.headers[2].value_len, ==, 0);
	CHECK_INT(req.headers[3].value_len, ==, 0);
}

/* "GET /<tgt> HTTP/1.1\r\nHost: a\r\nX: <val>\r\n\r\n" into buf. */
static size_t
build_scan_request(char *buf, const char *tgt, size_t tlen, const char *val,
    size_t vlen)
{
	static const char mid[] = " HTTP/1.1\r\nHost: a\r\nX: ";
	size_t n = 0;

	memcpy(buf + n, "GET /", 5);
	n += 5;
	memcpy(buf + n, tgt, tlen);
	n += tlen;
	memcpy(buf + n, mid, sizeof(mid) - 1);
	n += sizeof(mid) - 1;
	memcpy(buf + n, val, vlen);
	n += vlen;
	memcpy(buf + n, "\r\n\r\n", 4);
	return n + 4;
}

/* The 16-byte scans must stop at a bad byte in any lane and let HTAB
 * through in any lane. */
static void
test_h1_vector_scans_see_every_position(void)
{
	static const char bad[] = { '\x01', '\x1f', '\x7f', '\0', '\n' };
	char buf[256], val[48], tgt[48];
	enum h1_err err;
	size_t n;

	memset(tgt, 'a', sizeof(tgt));
	memset(val, 'v', sizeof(val));
	for (size_t pos = 0; pos < sizeof(val); pos++) {
		for (size_t b = 0; b < sizeof(bad); b++) {
			val[pos] = bad[b];
			n = build_scan_request(buf, tgt, sizeof(tgt), val,
			    sizeof(val));
			CHECK_INT(h1_parse_request(harness_guarded(buf, n), n,
			    &req, &err), ==, -1);
			CHECK_INT(err, ==, bad[b] == '\n' ? H1_ERR_BARE_CR :
			    H1_ERR_HEADER_VALUE);
		}
		val[pos] = '\t';
		n = build_scan_request(buf, tgt, sizeof(tgt), val, sizeof(val));
		CHECK_INT(h1_parse_request(harness_guarded(buf, n), n, &req,
		    &err), ==, (int)n);
		CHECK_INT(req.headers[1].value_len, ==,
		    (pos == 0 || pos == sizeof(val) - 1) ? sizeof(val) - 1 :
		    sizeof(val));
		val[pos] = 'v';

		tgt[pos] = (char)0x80;
		n = build_scan_request(buf, tgt, sizeof(tgt), val, sizeof(val));
		CHECK_INT(h1_parse_request(harness_guarded(buf, n), n, &req,
		    &err), ==, -1);
		CHECK_INT(err, ==, H1_ERR_TARGET);
		tgt[pos] = '\x7f';
		n = build_scan_request(buf, tgt, sizeof(tgt), val, sizeof(val));
		CHECK_INT(h1_parse_request(harness_guarded(buf, n), n, &req,
		    &err), ==, -1);
		CHECK_INT(err, ==, H1_ERR_TARGET);
		tgt[pos] = 'a';
	}
}

static void
test_h1_skips_leading_empty_lines(void)
{
	enum h1_err err;
	static const char in[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";

	REQUIRE(req_all_splits(S(in), &req, &err) == (int)sizeof(in) - 1);
	CHECK_MEM(req.method, req.method_len, "GET", 3);
	CHECK_INT(req.head_len, ==, sizeof(in) - 1);
}

static void
test_h1_pipelined_requests_give_each_head_len(void)
{
	static const char in[] = "POST /a HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5\r\n\r\nhello"
	    "GET /b HTTP/1.1\r\nHost: b\r\n\r\n"
	    "GET /c HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n";
	size_t n = sizeof(in) - 1, off = 0;
	const char *g = harness_guarded(in, n);
	enum h1_err err;
	int rc;

	rc = h1_parse_request(g, n, &req, &err);
	REQUIRE(rc == (int)strlen("POST /a HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5\r\n\r\n"));
	CHECK_MEM(req.target, req.target_len, "/a", 2);
	CHECK_INT(req.content_length, ==, 5);
	off = (size_t)rc + 5;
	rc = h1_parse_request(g + off, n - off, &req, &err);
	REQUIRE(rc == (int)strlen("GET /b HTTP/1.1\r\nHost: b\r\n\r\n"));
	CHECK_MEM(req.target, req.target_len, "/b", 2);
	CHECK_MEM(req.host, req.host_len, "b", 1);
	CHECK(req.keep_alive);
	off += (size_t)rc;
	rc = h1_parse_request(g + off, n - off, &req, &err);
	REQUIRE(rc > 0);
	CHECK_INT(off + (size_t)rc, ==, n);
	CHECK_MEM(req.target, req.target_len, "/c", 2);
	CHECK(!req.keep_alive);
}

/* A request whose target has `tlen` bytes. */
static char *
make_target_request(size_t tlen, size_t *n)
{
	char *s = malloc(tlen + 64);

	memcpy(s, "GET /", 5);
	memset(s + 5, 'a', tlen - 1);
	memcpy(s + 4 + tlen, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
	*n = 4 + tlen + 23 - 1;
	return s;
}

static void
test_h1_uri_limit_is_414(void)
{
	enum h1_err err;
	size_t n;
	char *s;
	int rc;

	s = make_target_request(H1_MAX_URI, &n);
	rc = h1_parse_request(harness_guarded(s, n), n, &req, &err);
	CHECK_INT(rc, ==, (int)n);
	CHECK_INT(req.target_len, ==, H1_MAX_URI);
	free(s);

	s = make_target_request(H1_MAX_URI + 1, &n);
	rc = h1_parse_request(harness_guarded(s, n), n, &req, &err);
	CHECK_INT(rc, ==, -1);
	CHECK_INT(err, ==, H1_ERR_URI_TOO_LONG);
	CHECK_INT(h1_err_status(err), ==, 414);
	/* known as soon as the target is too long, before its end */
	rc = h1_parse_request(harness_guarded(s, 4 + H1_MAX_URI + 1),
	    4 + H1_MAX_URI + 1, &req, &err);
	CHECK_INT(rc, ==, -1);
	CHECK_INT(err, ==, H1_ERR_URI_TOO_LONG);
	rc = h1_parse_request(harness_guarded(s, 4 + H1_MAX_URI),
	    4 + H1_MAX_URI, &req, &err);
	CHECK_INT(rc, ==, H1_AGAIN);
	free(s);
}

/* A request of exactly `total` bytes, padded with one X-Pad header. */
static char *
make_sized_request(size_t total)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	char *s = malloc(total + 1);
	size_t pad = total - (sizeof(pre) - 1) - 4;

	memcpy(s, pre, sizeof(pre) - 1);
	memset(s + sizeof(pre) - 1, 'p', pad);
	memcpy(s + sizeof(pre) - 1 + pad, "\r\n\r\n", 4);
	return s;
}

static void
test_h1_head_limit_is_431(void)
{
	enum h1_err err;
	char *s;
	int rc;

	s = make_sized_request(H1_MAX_HEAD);
	rc = h1_parse_request(harness_guarded(s, H1_MAX_HEAD), H1_MAX_HEAD,
	    &req, &err);
	CHECK_INT(rc, ==, H1_MAX_HEAD);
	/* one byte short of the end: still a valid prefix */
	rc = h1_parse_request(harness_guarded(s, H1_MAX_HEAD - 1),
	    H1_MAX_HEAD - 1, &req, &err);
	CHECK_INT(rc, ==, H1_AGAIN);
	free(s);

	s = make_sized_request(H1_MAX_HEAD + 1);
	rc = h1_parse_request(harness_guarded(s, H1_MAX_HEAD + 1),
	    H1_MAX_HEAD + 1, &req, &err);
	CHECK_INT(rc, ==, -1);
	CHECK_INT(err, ==, H1_ERR_HEAD_TOO_LARGE);
	CHECK_INT(h1_err_status(err), ==, 431);
	/* the limit holds while the head is still incomplete */
	rc = h1_parse_request(harness_guarded(s, H1_MAX_HEAD), H1_MAX_HEAD,
	    &req, &err);
	CHECK_INT(rc, ==, -1);
	CHECK_INT(err, ==, H1_ERR_HEAD_TOO_LARGE);
	free(s);
}

static void
test_h1_header_count_limit_is_431(void)
{
	char buf[4096];
	enum h1_err err;
	size_t n;
	int rc;

	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 1; i < H1_MAX_HEADERS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X: %d\r\n", i);
	memcpy(buf + n, "\r\n", 2);
	rc = h1_parse_request(harness_guarded(buf, n + 2), n + 2, &req, &err);
	CHECK_INT(rc, ==, (int)n + 2);
	CHECK_INT(req.n_headers, ==, H1_MAX_HEADERS);

	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "Y: z\r\n\r\n");
	rc = h1_parse_request(harness_guarded(buf, n), n, &req, &err);
	CHECK_INT(rc, ==, -1);
	CHECK_INT(err, ==, H1_ERR_TOO_MANY_HEADERS);
	CHECK_INT(h1_err_status(err), ==, 431);
}

static void
test_h1_list_has(void)
{
	CHECK(h1_list_has(S("close"), "close"));
	CHECK(h1_list_has(S(" a ,, Close\t,b"), "close"));
	CHECK(h1_list_has(S("keep-alive,upgrade"), "upgrade"));
	CHECK(!h1_list_has(S("closed"), "close"));
	CHECK(!h1_list_has(S("clos"), "close"));
	CHECK(!h1_list_has(S(""), "close"));
	CHECK(!h1_list_has(S(" , "), "close"));
}

static void
test_h1_err_strings_and_statuses(void)
{
	for (int e = 1; e < H1_ERR__MAX; e++) {
		CHECK(strcmp(h1_err_string((enum h1_err)e), "unknown error"));
		int st = h1_err_status((enum h1_err)e);
		CHECK(st == 400 || st == 414 || st == 431 || st == 502);
	}
	CHECK_STR(h1_err_string(H1_ERR__MAX), "unknown error");
}

/* ---- responses ---------------------------------------------------------- */

static void
test_h1_response_framing(void)
{
	enum h1_err err;
	static const char cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
	static const char te[] = "HTTP/1.1 404 Not Found\r\n"
	    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
	static const char eof[] = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n";
	static const char h10[] = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n";
	static const char h10ka[] = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n"
	    "Connection: keep-alive\r\n\r\n";
	static const char nocontent[] = "HTTP/1.1 204 No Content\r\n"
	    "Content-Length: 10\r\n\r\n";
	static const char notmod[] = "HTTP/1.1 304 Not Modified\r\n"
	    "Content-Length: 10\r\n\r\n";
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
	static const char noreason[] = "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
	static const char empty_reason[] = "HTTP/1.1 503 \r\n\r\n";

	REQUIRE(resp_all_splits(S(cl), false, &resp, &err) == (int)sizeof(cl) - 1);
	CHECK_INT(resp.status, ==, 200);
	CHECK_MEM(resp.reason, resp.reason_len, "OK", 2);
	CHECK_INT(resp.body, ==, H1_BODY_LENGTH);
	CHECK_INT(resp.content_length, ==, 3);
	CHECK(resp.keep_alive);
	/* the same to a HEAD request: no body */
	REQUIRE(resp_all_splits(S(cl), true, &resp, &err) > 0);
	CHECK_INT(resp.body, ==, H1_BODY_NONE);
	CHECK(resp.keep_alive);

	REQUIRE(resp_all_splits(S(te), false, &resp, &err) > 0);
	CHECK_INT(resp.status, ==, 404);
	CHECK_INT(resp.body, ==, H1_BODY_CHUNKED);
	CHECK(!resp.keep_alive);

	REQUIRE(resp_all_splits(S(eof), false, &resp, &err) > 0);
	CHECK_INT(resp.body, ==, H1_BODY_UNTIL_CLOSE);
	CHECK(!resp.keep_alive);

	REQUIRE(resp_all_splits(S(h10), false, &resp, &err) > 0);
	CHECK_INT(resp.minor_version, ==, 0);
	CHECK(!resp.keep_alive);
	REQUIRE(resp_all_splits(S(h10ka), false, &resp, &err) > 0);
	CHECK(resp.keep_alive);

	REQUIRE(resp_all_splits(S(nocontent), false, &resp, &err) > 0);
	CHECK_INT(resp.body, ==, H1_BODY_NONE);
	CHECK(resp.keep_alive);
	REQUIRE(resp_all_splits(S(notmod), false, &resp, &err) > 0);
	CHECK_INT(resp.body, ==, H1_BODY_NONE);

	REQUIRE(resp_all_splits(S(cont), false, &resp, &err) ==
	    (int)sizeof(cont) - 1);
	CHECK_INT(resp.status, ==, 100);
	CHECK_INT(resp.body, ==, H1_BODY_NONE);
	CHECK(!resp.upgrade);

	REQUIRE(resp_all_splits(S(sw), false, &resp, &err) > 0);
	CHECK(resp.upgrade);
	CHECK_INT(resp.body, ==, H1_BODY_NONE);
	CHECK(!resp.keep_alive);

	REQUIRE(resp_all_splits(S(noreason), false, &resp, &err) > 0);
	CHECK_INT(resp.status, ==, 200);
	CHECK_INT(resp.reason_len, ==, 0);
	CHECK_INT(resp.body, ==, H1_BODY_NONE);
	REQUIRE(resp_all_splits(S(empty_reason), false, &resp, &err) > 0);
	CHECK_INT(resp.status, ==, 503);
	CHECK_INT(resp.reason_len, ==, 0);
	CHECK_INT(resp.body, ==, H1_BODY_UNTIL_CLOSE);
}

static void
test_h1_response_rejects(void)
{
	static const struct reject t[] = {
		{ "HTTP/1.1 20 OK\r\n\r\n", H1_ERR_STATUS_LINE, 502 },
		{ "HTTP/1.1 2000 OK\r\n\r\n", H1_ERR_STATUS_LINE, 502 },
		{ "HTTP/1.1 099 OK\r\n\r\n", H1_ERR_STATUS_LINE, 502 },
		{ "HTTP/1.1  200 OK\r\n\r\n", H1_ERR_STATUS_LINE, 502 },
		{ "HTTP/1.1 2x0 OK\r\n\r\n", H1_ERR_STATUS_LINE, 502 },
		{ "HTTP/2 200 OK\r\n\r\n", H1_ERR_STATUS_LINE, 502 },
		{ "HTTP/1.2 200 OK\r\n\r\n", H1_ERR_STATUS_LINE, 502 },
		{ "ICY 200 OK\r\n\r\n", H1_ERR_STATUS_LINE, 502 },
		{ "HTTP/1.1 200 O\x01K\r\n\r\n", H1_ERR_STATUS_LINE, 502 },
		{ "HTTP/1.1 200 OK\n\r\n", H1_ERR_BARE_CR, 400 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n", H1_ERR_CL_AND_TE, 400 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
		  "Content-Length: 2\r\n\r\n", H1_ERR_CONTENT_LENGTH, 400 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		  H1_ERR_TRANSFER_ENCODING, 400 },
		{ "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		  H1_ERR_TRANSFER_ENCODING, 400 },
		{ "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", H1_ERR_OBS_FOLD, 400 },
		{ "HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
		  H1_ERR_SPACE_BEFORE_COLON, 400 },
	};
	struct h1_response r;
	enum h1_err err;
	int rc;

	/* any response error becomes 502 for the client; h1_err_status
	 * gives the request-side status of the same rule */
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		rc = resp_all_splits(t[i].in, strlen(t[i].in), false, &r, &err);
		if (rc != -1 || err != t[i].err)
			harness_fail(__FILE__, __LINE__,
			    "\"%s\": rc %d err \"%s\", want \"%s\"", t[i].in,
			    rc, h1_err_string(err), h1_err_string(t[i].err));
		else
			CHECK_INT(h1_err_status(err), ==, t[i].status);
	}
}

/* ---- chunked ------------------------------------------------------------ */

/*
 * Decode in[0..n) fed as the pieces [0, split) and [split, n) (split == 0:
 * one byte at a time).  Appends the body to out; returns 1 (complete, with
 * *used = bytes of the chunked body), 0 (needs more) or -1.
 */
static int
chunked_decode(const char *in, size_t n, size_t split, char *out,
    size_t *out_len, size_t *used)
{
	struct h1_chunked c;
	size_t bounds[3], nb = 0, pos = 0, consumed, off, dl;
	enum h1_err err;
	int rc = 0;

	h1_chunked_init(&c);
	*out_len = 0;
	if (split == 0) {
		/* one byte per call */
		for (pos = 0; pos < n && rc == 0; pos++) {
			const char *g = harness_guarded(in + pos, 1);
			rc = h1_chunked_feed(&c, g, 1, &consumed, &off, &dl,
			    &err);
			if (rc >= 0 && dl > 0) {
				memcpy(out + *out_len, g + off, dl);
				*out_len += dl;
			}
			if (rc >= 0 && consumed != 1)
				harness_fail(__FILE__, __LINE__,
				    "byte %zu not consumed", pos);
		}
		*used = pos;
		return rc;
	}
	bounds[nb++] = split;
	bounds[nb++] = n;
	for (size_t b = 0; b < nb && rc == 0; b++) {
		size_t plen = bounds[b] - pos;
		const char *g = harness_guarded(in + pos, plen);
		size_t at = 0;

		while (rc == 0 && at < plen) {
			rc = h1_chunked_feed(&c, g + at, plen - at, &consumed,
			    &off, &dl, &err);
			if (rc == -1)
				break;
			if (dl > 0) {
				memcpy(out + *out_len, g + at + off, dl);
				*out_len += dl;
			}
			at += consumed;
			if (rc == 0 && consumed == 0)
				harness_fail(__FILE__, __LINE__, "no progress");
		}
		if (rc == -1)
			CHECK_INT(err, ==, H1_ERR_CHUNK);
		pos += at;
	}
	*used = pos;
	return rc;
}

struct chunk_case {
	const char *in;
	int rc;			/* 1 complete, 0 incomplete, -1 error */
	const char *body;	/* for rc >= 0 */
	size_t used;		/* rc == 1: bytes of the chunked body (0: all) */
};

static void
test_h1_chunked_split_at_every_byte(void)
{
	static const struct chunk_case t[] = {
		{ "0\r\n\r\n", 1, "", 0 },
		{ "5\r\nhello\r\n0\r\n\r\n", 1, "hello", 0 },
		{ "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET", 1, "hello world", 26 },
		{ "A\r\n0123456789\r\n0\r\n\r\n", 1, "0123456789", 0 },
		{ "a;name=value;x=\"q s\"\r\n0123456789\r\n0;e\r\n\r\n", 1,
		  "0123456789", 0 },
		{ "1 ;ext\r\nx\r\n0\r\n\r\n", 1, "x", 0 },
		{ "0000000000000001\r\nx\r\n0\r\n\r\n", 1, "x", 0 },
		{ "1\r\nx\r\n0\r\nTrailer-A: 1\r\nB:\r\n\r\n", 1, "x", 0 },
		{ "5\r\nhel", 0, "hel", 0 },
		{ "5\r\nhello\r\n0\r\n", 0, "hello", 0 },
		/* errors */
		{ "\r\n", -1, NULL, 0 },			/* no size */
		{ "x\r\n", -1, NULL, 0 },
		{ "0x5\r\nhello\r\n0\r\n\r\n", -1, NULL, 0 },
		{ "-5\r\n", -1, NULL, 0 },
		{ "+5\r\n", -1, NULL, 0 },
		{ "5 \r\nhello\r\n", -1, NULL, 0 },		/* BWS without ext */
		{ "00000000000000001\r\n", -1, NULL, 0 },	/* 17 digits */
		{ "ffffffffffffffff0\r\n", -1, NULL, 0 },
		{ "5\nhello\r\n0\r\n\r\n", -1, NULL, 0 },	/* bare LF */
		{ "5\rhello\r\n", -1, NULL, 0 },		/* bare CR */
		{ "5\r\nhelloX\r\n", -1, NULL, 0 },		/* data too long */
		{ "5\r\nhello\n0\r\n\r\n", -1, NULL, 0 },
		{ "5\r\nhello\r0\r\n\r\n", -1, NULL, 0 },
		{ "5;a\nb\r\nhello\r\n", -1, NULL, 0 },		/* LF in ext */
		{ "5;a\x01" "b\r\nhello\r\n", -1, NULL, 0 },
		{ "0\r\nX: a\r\n b\r\n\r\n", -1, NULL, 0 },	/* obs-fold */
		{ "0\r\nX : a\r\n\r\n", -1, NULL, 0 },
		{ "0\r\n: a\r\n\r\n", -1, NULL, 0 },
		{ "0\r\nX: a\x01\r\n\r\n", -1, NULL, 0 },
		{ "0\r\nX: a\n\r\n", -1, NULL, 0 },
		{ "0\r\n\n", -1, NULL, 0 },
		{ "0\r\n\r\r", -1, NULL, 0 },
	};
	char out[256];
	size_t out_len, used;
	int rc;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].in);
		for (size_t split = 0; split <= n; split++) {
			rc = chunked_decode(t[i].in, n, split, out, &out_len,
			    &used);
			if (rc != t[i].rc) {
				harness_fail(__FILE__, __LINE__,
				    "case %zu split %zu: rc %d want %d", i,
				    split, rc, t[i].rc);
				continue;
			}
			if (rc >= 0)
				CHECK_MEM(out, out_len, t[i].body,
				    strlen(t[i].body));
			if (rc == 1)
				CHECK_INT(used, ==, t[i].used ? t[i].used : n);
		}
	}
}

static void
test_h1_chunked_bounds_lines_and_trailers(void)
{
	static char in[H1_MAX_TRAILER + 64];
	struct h1_chunked c;
	size_t consumed, off, dl, n;
	enum h1_err err;

	/* an extension that makes the size line too long */
	n = 0;
	in[n++] = '1';
	in[n++] = ';';
	memset(in + n, 'e', H1_MAX_CHUNK_LINE);
	n += H1_MAX_CHUNK_LINE;
	h1_chunked_init(&c);
	CHECK_INT(h1_chunked_feed(&c, harness_guarded(in, n), n, &consumed,
	    &off, &dl, &err), ==, -1);
	CHECK_INT(err, ==, H1_ERR_CHUNK);
	/* once failed, it stays failed */
	CHECK_INT(h1_chunked_feed(&c, "0\r\n\r\n", 5, &consumed, &off, &dl,
	    &err), ==, -1);

	/* trailers over the bound */
	memcpy(in, "0\r\nX: ", 6);
	memset(in + 6, 'v', H1_MAX_TRAILER);
	n = 6 + H1_MAX_TRAILER;
	h1_chunked_init(&c);
	CHECK_INT(h1_chunked_feed(&c, harness_guarded(in, n), n, &consumed,
	    &off, &dl, &err), ==, -1);

	/* done means done: nothing more is consumed */
	h1_chunked_init(&c);
	CHECK_INT(h1_chunked_feed(&c, "0\r\n\r\n", 5, &consumed, &off, &dl,
	    &err), ==, 1);
	CHECK_INT(consumed, ==, 5);
	CHECK_INT(h1_chunked_feed(&c, "0\r\n\r\n", 5, &consumed, &off, &dl,
	    &err), ==, 1);
	CHECK_INT(consumed, ==, 0);
}

static void
test_h1_chunked_large_sizes(void)
{
	struct h1_chunked c;
	size_t consumed, off, dl;
	enum h1_err err;
	static const char big[] = "ffffffffffffffff\r\nabc";

	h1_chunked_init(&c);
	CHECK_INT(h1_chunked_feed(&c, S(big), &consumed, &off, &dl, &err), ==,
	    0);
	CHECK_INT(consumed, ==, sizeof(big) - 1);
	CHECK_INT(off, ==, 18);
	CHECK_INT(dl, ==, 3);
	CHECK(c.left == UINT64_MAX - 3);
}

HARNESS_MAIN(T(test_h1_rejects_smuggling_vectors_with_400),
    T(test_h1_rejects_nul_bytes),
    T(test_h1_rejects_bad_request_lines_with_400),
    T(test_h1_parses_simple_get),
    T(test_h1_derives_framing_and_connection),
    T(test_h1_accepts_allowed_bytes),
    T(test_h1_vector_scans_see_every_position),
    T(test_h1_skips_leading_empty_lines),
    T(test_h1_pipelined_requests_give_each_head_len),
    T(test_h1_uri_limit_is_414),
    T(test_h1_head_limit_is_431),
    T(test_h1_header_count_limit_is_431),
    T(test_h1_list_has),
    T(test_h1_err_strings_and_statuses),
    T(test_h1_response_framing),
    T(test_h1_response_rejects),
    T(test_h1_chunked_split_at_every_byte),
    T(test_h1_chunked_bounds_lines_and_trailers),
    T(test_h1_chunked_large_sizes))
