/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * h1_parse.h — a strict, sans-I/O HTTP/1.1 parser (requests, responses,
 * chunked bodies).
 *
 * The picohttpparser contract: the caller hands over the bytes it has; the
 * parser returns the length of a complete head (> 0), H1_AGAIN when more
 * bytes are needed, or -1 with the reason in *err.  Nothing is allocated:
 * names and values point into the caller's buffer, which must stay put
 * while they are used.  A head is re-parsed from its start when more bytes
 * arrive (heads are small; the limit is H1_MAX_HEAD).
 *
 * Strictness (SPEC §3): every rejection maps to a status through
 * h1_err_status() — 400 for malformed input and smuggling vectors (both
 * Content-Length and Transfer-Encoding, differing or invalid
 * Content-Length, Transfer-Encoding other than chunked last, invalid chunk
 * sizes, whitespace before a colon, obs-fold, control characters, a
 * request line that is not METHOD SP target SP HTTP/1.x), 414 for a
 * target over H1_MAX_URI, 431 for a head over H1_MAX_HEAD or too many
 * header lines.  H1_AGAIN is only returned while the bytes seen so far are
 * a valid prefix within the limits, so a slow client cannot make the
 * caller buffer without bound.
 *
 * Re-parsing from the start costs O(head) per call; a caller reading a
 * head byte by byte should re-parse only when the new bytes hold a LF or
 * the buffer reached H1_MAX_HEAD (an incomplete line cannot change the
 * verdict of the lines before it), so a slow client costs O(lines x head)
 * at most, not O(bytes x head).
 */
#ifndef LIMEN_PROXY_H1_PARSE_H
#define LIMEN_PROXY_H1_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H1_AGAIN (-2)
#define H1_MAX_HEADERS 128
#define H1_MAX_HEAD (32 * 1024)	/* request line + headers: else 431 */
#define H1_MAX_URI (8 * 1024)	/* request target: else 414 */
#define H1_MAX_CHUNK_LINE 4096	/* chunk size line with extensions */
#define H1_MAX_TRAILER (8 * 1024)	/* trailer section of a chunked body */

enum h1_err {
	H1_ERR_NONE = 0,
	H1_ERR_REQUEST_LINE,		/* not METHOD SP target SP HTTP/1.x */
	H1_ERR_METHOD,			/* not a token */
	H1_ERR_TARGET,			/* characters not allowed in a target */
	H1_ERR_VERSION,			/* not HTTP/1.0 or HTTP/1.1 */
	H1_ERR_URI_TOO_LONG,		/* 414 */
	H1_ERR_HEAD_TOO_LARGE,		/* 431 */
	H1_ERR_TOO_MANY_HEADERS,	/* 431 */
	H1_ERR_HEADER_NAME,		/* empty, or not a token */
	H1_ERR_SPACE_BEFORE_COLON,
	H1_ERR_OBS_FOLD,
	H1_ERR_HEADER_VALUE,		/* control characters (other than HTAB) */
	H1_ERR_BARE_CR,			/* CR not followed by LF */
	H1_ERR_CL_AND_TE,		/* both Content-Length and Transfer-Encoding */
	H1_ERR_CONTENT_LENGTH,		/* invalid, or several that differ */
	H1_ERR_TRANSFER_ENCODING,	/* chunked not last, or unknown coding */
	H1_ERR_HOST,			/* HTTP/1.1 without Host, or several Hosts */
	H1_ERR_CHUNK,			/* bad chunk size, extension or CRLF */
	H1_ERR_STATUS_LINE,		/* responses: not HTTP/1.x SP 3DIGIT SP reason */
	H1_ERR__MAX
};

/* 400, 414 or 431 for a request error (H1_ERR_STATUS_LINE gives 502).
 * Any error from h1_parse_response or from a response's chunked body
 * means 502 for the client, whatever this returns: the upstream
 * misbehaved. */
int h1_err_status(enum h1_err e);
/* A short constant description ("whitespace before colon"), for logs. */
const char *h1_err_string(enum h1_err e);

struct h1_header {
	const char *name;
	size_t name_len;
	const char *value;		/* leading/trailing OWS removed */
	size_t value_len;
};

enum h1_body {
	H1_BODY_NONE,			/* no body (or Content-Length: 0) */
	H1_BODY_LENGTH,			/* content_length bytes */
	H1_BODY_CHUNKED,		/* Transfer-Encoding: chunked */
	H1_BODY_UNTIL_CLOSE		/* responses without framing: until EOF */
};

struct h1_request {
	const char *method;
	size_t method_len;
	const char *target;		/* as sent: origin-, absolute-, authority- or asterisk-form */
	size_t target_len;
	int minor_version;		/* 0 or 1 */
	struct h1_header headers[H1_MAX_HEADERS];
	size_t n_headers;
	/* derived from the headers while parsing */
	enum h1_body body;
	uint64_t content_length;	/* with H1_BODY_LENGTH */
	const char *host;		/* the Host value, NULL if none (1.0) */
	size_t host_len;
	bool keep_alive;		/* the connection may carry another request */
	bool expect_continue;		/* Expect: 100-continue */
	bool upgrade_websocket;		/* Upgrade: websocket and Connection: upgrade */
	size_t head_len;		/* bytes of request line + headers + CRLF */
};

struct h1_response {
	int minor_version;
	int status;
	const char *reason;
	size_t reason_len;
	struct h1_header headers[H1_MAX_HEADERS];
	size_t n_headers;
	enum h1_body body;
	uint64_t content_length;
	bool keep_alive;		/* the upstream connection may be reused */
	bool upgrade;			/* 101 Switching Protocols */
	size_t head_len;
};

/*
 * Parse a request head from buf[0..len).  Returns head_len (> 0) when the
 * head is complete, H1_AGAIN, or -1 with *err.  Leading empty lines (CRLF)
 * before a request line are skipped as RFC 9112 §2.2 allows and counted in
 * head_len.
 */
int h1_parse_request(const char *buf, size_t len, struct h1_request *req,
    enum h1_err *err);

/*
 * Parse a response head.  `head_request` says the request was HEAD (no
 * body whatever the headers say); 1xx, 204 and 304 have no body either.
 */
int h1_parse_response(const char *buf, size_t len, bool head_request,
    struct h1_response *resp, enum h1_err *err);

/* Chunked transfer coding, decoded incrementally. */
struct h1_chunked {
	int state;
	uint64_t left;			/* bytes left in the current chunk */
	size_t line_len;		/* bytes of the current size/trailer line */
	size_t trailer_len;		/* total trailer bytes seen (bounded) */
};

void h1_chunked_init(struct h1_chunked *c);

/*
 * Feed in[0..len).  Sets *consumed to the bytes used; when *data_len > 0,
 * in[*data_off .. *data_off + *data_len) is body data (at most one span
 * per call, so call again with the rest).  Returns 1 when the last chunk
 * and the trailers are complete (bytes after it belong to the next
 * message), 0 when it needs more input or another call, -1 with *err on
 * malformed input.  Chunk extensions are accepted and skipped; size lines
 * and trailers are bounded.
 */
int h1_chunked_feed(struct h1_chunked *c, const char *in, size_t len,
    size_t *consumed, size_t *data_off, size_t *data_len, enum h1_err *err);

/* Case-insensitive comparison of a header name with a lower-case name. */
bool h1_header_is(const struct h1_header *h, const char *lname);
/* Whether a comma-separated list value (e.g. Connection) has `ltoken`
 * (lower-case), ignoring case and optional whitespace. */
bool h1_list_has(const char *value, size_t len, const char *ltoken);
/* The next element of such a list in [*pp, end), as h1_list_has sees
 * them: its length (0 at the end), its start in *tok; *pp moves past it. */
size_t h1_list_next(const char **pp, const char *end, const char **tok);

#endif
