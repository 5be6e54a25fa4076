/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * encode.c — response compression on the exchange (see encode.h).
 */
#include "proxy/encode.h"

#include <stdlib.h>
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

static void
encode_stream_free(void *arg)
{
	compress_stream_free(arg);
}

int
encode_head(struct exchange *x, enum exchange_body *body, uint64_t *length)
{
	const struct exchange_header *h, *ae;
	struct compress_head head;
	struct compress_decision d;
	struct compress_stream *s;
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
	if ((s = compress_stream_new(d.enc)) == NULL ||
	    arena_add_cleanup(x->arena, encode_stream_free, s) == -1) {
		compress_stream_free(s);
		return -1;
	}
	exchange_resp_remove(x, "content-length");
	exchange_resp_remove(x, "accept-ranges");
	exchange_resp_remove(x, "content-encoding");
	if (exchange_resp_add_ref(x, "Content-Encoding", 16,
	    compress_enc_name(d.enc), strlen(compress_enc_name(d.enc))) == -1)
		return -1;
	x->encoder = s;
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

int
encode_body(struct exchange *x, struct evbuffer *src, size_t n)
{
	struct evbuffer *out;
	int rc = -1;

	if ((out = evbuffer_new()) == NULL)
		return -1;
	if (compress_stream_write_buffer(x->encoder, src, n, out) == 0 &&
	    compress_stream_flush(x->encoder, out) == 0)
		rc = encode_send(x, out);
	evbuffer_free(out);
	return rc;
}

int
encode_end(struct exchange *x)
{
	struct evbuffer *out;
	int rc = -1;

	if ((out = evbuffer_new()) == NULL)
		return -1;
	if (compress_stream_finish(x->encoder, out) == 0)
		rc = encode_send(x, out);
	evbuffer_free(out);
	return rc;
}
