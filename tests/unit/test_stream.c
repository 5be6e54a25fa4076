/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_stream.c — the backup byte pipeline: every combination of
 * compression and encryption round-trips, and damage (a flipped bit, a
 * cut-off end, a wrong key, trailing bytes) is refused, never decoded
 * into something that looks fine.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup/backup.h"
#include "tests/unit/harness.h"

static const uint8_t key1[BACKUP_KEY_LEN] = "0123456789abcdef0123456789abcde";
static const uint8_t key2[BACKUP_KEY_LEN] = "fedcba9876543210fedcba987654321";

/* A memory sink: collects everything written into it. */
struct memsink {
	struct stream s;
	unsigned char *buf;
	size_t len, cap;
	int finished;
};

static int
mem_write(struct stream *s, const void *p, size_t n)
{
	struct memsink *m = (struct memsink *)s;

	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2;
		m->buf = realloc(m->buf, m->cap);
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	return 0;
}

static int
mem_finish(struct stream *s)
{
	((struct memsink *)s)->finished++;
	return 0;
}

static void
mem_free(struct stream *s)
{
	struct memsink *m = (struct memsink *)s;
	free(m->buf);
	free(m);
}

static struct memsink *
memsink_new(void)
{
	struct memsink *m = calloc(1, sizeof *m);
	m->s.write = mem_write;
	m->s.finish = mem_finish;
	m->s.free = mem_free;
	return m;
}

/* Push data through a chain in uneven pieces; 0 if write and finish ok. */
static int
push(struct stream *chain, const unsigned char *data, size_t len)
{
	size_t off = 0, step = 1;

	while (off < len) {
		size_t n = step < len - off ? step : len - off;
		if (stream_write(chain, data + off, n) == -1)
			return -1;
		off += n;
		step = step * 3 + 7;
		if (step > 200000)
			step = 13;
	}
	return stream_finish(chain);
}

/* Free the chain stages above sink, not the sink. */
static void
free_above(struct stream *chain, struct stream *sink)
{
	while (chain != sink) {
		struct stream *next = chain->next;
		chain->free(chain);
		chain = next;
	}
}

static unsigned char *
sample(size_t len, int compressible)
{
	unsigned char *p = malloc(len + 1);
	unsigned x = 12345;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245 + 12345;
		p[i] = compressible ? (unsigned char)("abcdefgh"[(x >> 16) & 7]) :
		    (unsigned char)(x >> 16);
	}
	return p;
}

/* Encode then decode; returns the decoded sink (caller frees). */
static struct memsink *
roundtrip(enum conf_compression c, const uint8_t *ekey, const uint8_t *dkey,
    const unsigned char *data, size_t len, struct memsink **encoded_out,
    int *enc_rc, int *dec_rc)
{
	struct memsink *enc = memsink_new(), *dec = memsink_new();
	struct stream *chain = stream_encoder(c, ekey, &enc->s);

	*enc_rc = push(chain, data, len);
	free_above(chain, &enc->s);
	chain = stream_decoder(c, dkey, &dec->s);
	*dec_rc = push(chain, enc->buf ? enc->buf : (unsigned char *)"",
	    enc->len);
	free_above(chain, &dec->s);
	*encoded_out = enc;
	return dec;
}

static void
test_stream_roundtrip_every_codec_and_size(void)
{
	static const size_t sizes[] = { 0, 1, 100, 65535, 65536, 65537,
	    300001 };
	enum conf_compression comps[] = { COMPRESS_NONE, COMPRESS_GZIP,
	    COMPRESS_ZSTD };

	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
		for (int ci = 0; ci < 3; ci++)
			for (int e = 0; e < 2; e++) {
				unsigned char *data = sample(sizes[si], ci & 1);
				struct memsink *enc, *dec;
				int erc, drc;

				dec = roundtrip(comps[ci], e ? key1 : NULL,
				    e ? key1 : NULL, data, sizes[si], &enc,
				    &erc, &drc);
				CHECK_INT(erc, ==, 0);
				CHECK_INT(drc, ==, 0);
				CHECK_INT(dec->len, ==, sizes[si]);
				CHECK(sizes[si] == 0 ||
				    memcmp(dec->buf, data, sizes[si]) == 0);
				CHECK_INT(dec->finished, ==, 1);
				if (e && sizes[si] > 16)
					CHECK(enc->len < 16 || memmem(enc->buf,
					    enc->len, data, 16) == NULL);
				mem_free(&enc->s);
				mem_free(&dec->s);
				free(data);
			}
}

static void
test_stream_compression_shrinks_text(void)
{
	unsigned char *data = sample(200000, 1);
	struct memsink *enc, *dec;
	int erc, drc;

	dec = roundtrip(COMPRESS_GZIP, NULL, NULL, data, 200000, &enc, &erc,
	    &drc);
	CHECK_INT(enc->len, <, 100000);
	mem_free(&enc->s);
	mem_free(&dec->s);
	dec = roundtrip(COMPRESS_ZSTD, NULL, NULL, data, 200000, &enc, &erc,
	    &drc);
	CHECK_INT(enc->len, <, 100000);
	mem_free(&enc->s);
	mem_free(&dec->s);
	free(data);
}

/* Decode a (possibly damaged) encoding; returns the decoder's result. */
static int
decode(enum conf_compression c, const uint8_t *key, const unsigned char *p,
    size_t len)
{
	struct memsink *dec = memsink_new();
	struct stream *chain = stream_decoder(c, key, &dec->s);
	int rc = push(chain, p, len);

	free_above(chain, &dec->s);
	mem_free(&dec->s);
	return rc;
}

static void
test_stream_wrong_key_is_refused(void)
{
	unsigned char *data = sample(100000, 0);
	struct memsink *enc, *dec;
	int erc, drc;

	dec = roundtrip(COMPRESS_NONE, key1, key2, data, 100000, &enc, &erc,
	    &drc);
	CHECK_INT(erc, ==, 0);
	CHECK_INT(drc, ==, -1);
	CHECK_INT(dec->len, ==, 0);
	mem_free(&dec->s);
	/* and an encrypted file without a key is not a gzip/zstd stream */
	CHECK_INT(decode(COMPRESS_ZSTD, NULL, enc->buf, enc->len), ==, -1);
	mem_free(&enc->s);
	free(data);
}

static void
test_stream_damage_is_detected(void)
{
	enum conf_compression comps[] = { COMPRESS_GZIP, COMPRESS_ZSTD,
	    COMPRESS_NONE };

	for (int ci = 0; ci < 3; ci++)
		for (int e = 0; e < 2; e++) {
			unsigned char *data = sample(150000, 1);
			struct memsink *enc, *dec;
			const uint8_t *k = e ? key1 : NULL;
			int erc, drc;

			if (comps[ci] == COMPRESS_NONE && !e) {
				free(data);
				continue;	/* nothing to check there */
			}
			dec = roundtrip(comps[ci], k, k, data, 150000, &enc,
			    &erc, &drc);
			REQUIRE(drc == 0);
			mem_free(&dec->s);
			/* cut off: every truncation point near the end */
			for (size_t cut = 1; cut < 40 && cut < enc->len; cut++)
				if (decode(comps[ci], k, enc->buf,
				    enc->len - cut) != -1)
					harness_fail(__FILE__, __LINE__,
					    "comp %d enc %d: cut %zu accepted",
					    ci, e, cut);
			/* trailing garbage */
			{
				unsigned char *more = malloc(enc->len + 3);
				memcpy(more, enc->buf, enc->len);
				memcpy(more + enc->len, "xyz", 3);
				CHECK_INT(decode(comps[ci], k, more,
				    enc->len + 3), ==, -1);
				free(more);
			}
			/* one flipped bit in the middle (encrypted: any) */
			if (e) {
				enc->buf[enc->len / 2] ^= 0x10;
				CHECK_INT(decode(comps[ci], k, enc->buf,
				    enc->len), ==, -1);
			}
			mem_free(&enc->s);
			free(data);
		}
}

static void
test_stream_sink_hashes_sha256(void)
{
	struct stream *sink = stream_sink_new(-1, false);
	char hex[65];
	uint64_t size;

	REQUIRE(sink != NULL);
	CHECK_INT(stream_write(sink, "ab", 2), ==, 0);
	CHECK_INT(stream_write(sink, "c", 1), ==, 0);
	CHECK_INT(stream_finish(sink), ==, 0);
	stream_sink_result(sink, &size, hex);
	CHECK_INT(size, ==, 3);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	stream_free(sink);
}

static void
test_stream_key_file_formats_and_mode(void)
{
	uint8_t key[BACKUP_KEY_LEN];
	char err[256];
	const char *p;

	p = harness_tmpfile(".key", "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191A1B1C1D1E1F\n");
	chmod(p, 0600);
	REQUIRE(encrypt_load_key(p, key, err, sizeof err) == 0);
	CHECK_INT(key[0], ==, 0);
	CHECK_INT(key[31], ==, 0x1f);
	chmod(p, 0644);
	CHECK_INT(encrypt_load_key(p, key, err, sizeof err), ==, -1);
	CHECK(strstr(err, "chmod 600") != NULL);
	p = harness_tmpfile(".key", "too short\n");
	chmod(p, 0600);
	CHECK_INT(encrypt_load_key(p, key, err, sizeof err), ==, -1);
	p = harness_tmpfile(".key", "0123456789abcdef0123456789abcdef");
	chmod(p, 0600);
	REQUIRE(encrypt_load_key(p, key, err, sizeof err) == 0);
	CHECK_MEM(key, 32, "0123456789abcdef0123456789abcdef", 32);
}

static void
test_stream_suffixes(void)
{
	CHECK_STR(stream_suffix(COMPRESS_NONE, false), "");
	CHECK_STR(stream_suffix(COMPRESS_GZIP, false), ".gz");
	CHECK_STR(stream_suffix(COMPRESS_ZSTD, true), ".zst.enc");
	CHECK_STR(stream_suffix(COMPRESS_NONE, true), ".enc");
}

HARNESS_MAIN(
    T(test_stream_roundtrip_every_codec_and_size),
    T(test_stream_compression_shrinks_text),
    T(test_stream_wrong_key_is_refused),
    T(test_stream_damage_is_detected),
    T(test_stream_sink_hashes_sha256),
    T(test_stream_key_file_formats_and_mode),
    T(test_stream_suffixes)
)
