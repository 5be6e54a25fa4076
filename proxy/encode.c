/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * encode.c — response compression on the exchange (see encode.h).
 */
#include "proxy/encode.h"

#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "common/arena.h"
#include "proxy/compress.h"

static const struct exchange_header *
encode_resp_header(const struct exchange *x, const char *lname)
{
	size_t n = strlen(lname);

	for (size_t i = 0; i < x->n_resp_headers; i++)
		if (x->resp_headers[i].name_len == n &&
		    strncasecmp(x->resp_headers[i].name, lname, n) == 0)
			return &x->resp_headers[i];
	return NULL;
}

#define ENCODE_STEP (64 * 1024)	/* input compressed per step */

struct encode {
	struct compress_stream *s;
	struct evbuffer *rest;		/* input not compressed yet */
	void (*next_drained)(struct exchange *x);	/* the action's */
	bool end_pending;		/* the action ended the body */
	bool finished;
};

static void
encode_free(void *arg)
{
	struct encode *e = arg;

	compress_stream_free(e->s);
	if (e->rest != NULL)
		evbuffer_free(e->rest);
}

int
encode_head(struct exchange *x, enum exchange_body *body, uint64_t *length)
{
	const struct exchange_header *h, *ae;
	struct compress_head head;
	struct compress_decision d;
	struct encode *e;
	enum compress_enc accepted;
	char buf[1024];
	int n;

	memset(&head, 0, sizeof(head));
	head.status = x->status;
	if ((h = encode_resp_header(x, "content-type")) != NULL) {
		head.content_type = h->value;
		head.content_type_len = h->value_len;
	}
	if ((h = encode_resp_header(x, "content-encoding")) != NULL) {
		head.content_encoding = h->value;
		head.content_encoding_len = h->value_len;
	}
	if ((h = encode_resp_header(x, "cache-control")) != NULL) {
		head.cache_control = h->value;
		head.cache_control_len = h->value_len;
	}
	head.content_range = encode_resp_header(x, "content-range") != NULL;
	head.content_length = *body == EXCHANGE_BODY_LENGTH ?
	    (int64_t)*length : *body == EXCHANGE_BODY_NONE ? 0 : -1;
	ae = exchange_req_header(x, "accept-encoding");
	accepted = compress_accept(ae ? ae->value : NULL,
	    ae ? ae->value_len : 0);
	/* HEAD answers carry no body to compress: decide as for GET, but
	 * only Vary is worth telling (the length stays the identity one). */
	d = compress_decide(&head, accepted);
	if (d.vary) {
		h = encode_resp_header(x, "vary");
		n = compress_vary_merge(h ? h->value : NULL,
		    h ? h->value_len : 0, buf, sizeof(buf));
		if (n > 0) {
			exchange_resp_remove(x, "vary");
			if (exchange_resp_add(x, "Vary", 4, buf,
			    (size_t)n) == -1)
				return -1;
		}
	}
	if (d.enc == COMPRESS_ENC_IDENTITY ||
	    (x->method_flags & EXCHANGE_M_HEAD) ||
	    *body == EXCHANGE_BODY_NONE)
		return 0;
	if ((h = encode_resp_header(x, "etag")) != NULL) {
		n = compress_etag_weaken(h->value, h->value_len, buf,
		    sizeof(buf));
		exchange_resp_remove(x, "etag");
		if (n > 0 && exchange_resp_add(x, "ETag", 4, buf,
		    (size_t)n) == -1)
			return -1;
	}
	if ((e = arena_calloc(x->arena, 1, sizeof(*e))) == NULL)
		return -1;
	e->s = compress_stream_new(d.enc);
	e->rest = evbuffer_new();
	if (e->s == NULL || e->rest == NULL ||
	    arena_add_cleanup(x->arena, encode_free, e) == -1) {
		encode_free(e);
		return -1;
	}
	exchange_resp_remove(x, "content-length");
	exchange_resp_remove(x, "accept-ranges");
	exchange_resp_remove(x, "content-encoding");
	if (exchange_resp_add_ref(x, "Content-Encoding", 16,
	    compress_enc_name(d.enc), strlen(compress_enc_name(d.enc))) == -1)
		return -1;
	x->encoder = e;
	*body = EXCHANGE_BODY_STREAM;
	*length = 0;
	return 0;
}

static int
encode_send(struct exchange *x, struct evbuffer *out)
{
	size_t n = evbuffer_get_length(out);

	if (n == 0)
		return 0;
	x->bytes_out += n;
	return x->front->send_body(x, out, n);
}

/* Compress what waits in e->rest while the front has room; then, if the
 * action already ended the body, end the response. */
static int
encode_pump(struct exchange *x)
{
	struct encode *e = x->encoder;
	struct evbuffer *out;
	size_t n;
	int rc = 0;

	if ((out = evbuffer_new()) == NULL)
		return -1;
	while (rc == 0 && (n = evbuffer_get_length(e->rest)) > 0 &&
	    x->front->out_pending(x) < EXCHANGE_BUF_HIGH) {
		if (n > ENCODE_STEP)
			n = ENCODE_STEP;
		if (compress_stream_write_buffer(e->s, e->rest, n, out) == -1 ||
		    compress_stream_flush(e->s, out) == -1 ||
		    encode_send(x, out) == -1)
			rc = -1;
	}
	evbuffer_free(out);
	if (rc == 0 && e->end_pending &&
	    evbuffer_get_length(e->rest) == 0)
		exchange_send_end(x);
	return rc;
}

static void
encode_on_drained(struct exchange *x)
{
	struct encode *e = x->encoder;

	if (encode_pump(x) == -1) {
		exchange_error(x, 500);	/* head is out: cuts the connection */
		return;
	}
	if (evbuffer_get_length(e->rest) == 0 && !e->end_pending &&
	    e->next_drained != NULL)
		e->next_drained(x);
}

/*
 * The input is moved (not copied: a static file's segment stays a file
 * reference) and compressed ENCODE_STEP at a time while the front's
 * output stays under EXCHANGE_BUF_HIGH; the rest waits for on_drained.
 * So a whole file handed over at once never sits compressed in memory.
 */
int
encode_body(struct exchange *x, struct evbuffer *src, size_t n)
{
	struct encode *e = x->encoder;

	while (n > 0) {
		size_t step = n > (1u << 30) ? (1u << 30) : n;

		if (evbuffer_remove_buffer(src, e->rest, step) != (int)step)
			return -1;
		n -= step;
	}
	if (x->on_drained != encode_on_drained) {
		e->next_drained = x->on_drained;
		x->on_drained = encode_on_drained;
	}
	return encode_pump(x);
}

int
encode_end(struct exchange *x)
{
	struct encode *e = x->encoder;
	struct evbuffer *out;
	int rc = -1;

	if (e->finished)
		return 0;
	e->end_pending = true;
	if (evbuffer_get_length(e->rest) > 0)
		return 1;	/* encode_pump() ends it when the rest is out */
	if ((out = evbuffer_new()) == NULL)
		return -1;
	if (compress_stream_finish(e->s, out) == 0)
		rc = encode_send(x, out);
	evbuffer_free(out);
	e->finished = true;
	return rc;
}
