/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * encrypt.c — AES-256-GCM stages of the stream chain (OpenSSL EVP).
 *
 * One GCM tag over a whole multi-gigabyte dump would release
 * unauthenticated plaintext to pg_restore before the tag is checked, so
 * the stream is cut into chunks, each sealed on its own (the "STREAM"
 * construction of Hoang, Reyhanitabar, Rogaway and Vizár):
 *
 *   header  "LIMENAE1" | 8 random bytes (nonce prefix)          16 bytes
 *   chunk   len (4 bytes BE; top bit = last chunk) | ciphertext | tag (16)
 *
 * Chunk i uses the nonce prefix || i (4 bytes BE) and authenticates the
 * header, i and the length word, so chunks cannot be reordered, dropped,
 * swapped between files or cut off: the decoder requires the last-chunk
 * flag exactly at the end.  Plaintext chunks are at most 64 KiB.
 */
#include "backup/backup.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fsutil.h"

#define ENC_MAGIC	"LIMENAE1"
#define ENC_HDR		16
#define ENC_CHUNK	(64 * 1024)
#define ENC_TAG		16
#define ENC_LAST	0x80000000u

struct encrypt {
	struct stream s;
	EVP_CIPHER_CTX *ctx;
	uint8_t key[BACKUP_KEY_LEN];
	uint8_t hdr[ENC_HDR];
	bool decrypting;
	bool hdr_done;		/* header written / read */
	bool last_seen;		/* decoder: the last chunk was read */
	uint32_t counter;
	size_t have;		/* bytes in buf */
	uint8_t buf[4 + ENC_CHUNK + ENC_TAG];
	uint8_t out[ENC_CHUNK + 16];
};

static int
enc_seal(struct encrypt *e, const uint8_t *plain, size_t len, bool last,
    uint8_t *dst)
{
	uint8_t nonce[12], aad[ENC_HDR + 8];
	uint32_t word = (uint32_t)len | (last ? ENC_LAST : 0);
	int outl = 0, fin = 0;

	memcpy(nonce, e->hdr + 8, 8);
	nonce[8] = (uint8_t)(e->counter >> 24);
	nonce[9] = (uint8_t)(e->counter >> 16);
	nonce[10] = (uint8_t)(e->counter >> 8);
	nonce[11] = (uint8_t)e->counter;
	memcpy(aad, e->hdr, ENC_HDR);
	memcpy(aad + ENC_HDR, nonce + 8, 4);
	aad[ENC_HDR + 4] = (uint8_t)(word >> 24);
	aad[ENC_HDR + 5] = (uint8_t)(word >> 16);
	aad[ENC_HDR + 6] = (uint8_t)(word >> 8);
	aad[ENC_HDR + 7] = (uint8_t)word;
	if (EVP_CipherInit_ex(e->ctx, NULL, NULL, e->key, nonce,
	    e->decrypting ? 0 : 1) != 1 ||
	    EVP_CipherUpdate(e->ctx, NULL, &outl, aad, sizeof aad) != 1)
		return -1;
	if (len > 0 && EVP_CipherUpdate(e->ctx, dst, &outl, plain,
	    (int)len) != 1)
		return -1;
	if (e->decrypting &&
	    EVP_CIPHER_CTX_ctrl(e->ctx, EVP_CTRL_GCM_SET_TAG, ENC_TAG,
	    (void *)(plain + len)) != 1)
		return -1;
	if (EVP_CipherFinal_ex(e->ctx, dst + outl, &fin) != 1)
		return -1;
	if (!e->decrypting &&
	    EVP_CIPHER_CTX_ctrl(e->ctx, EVP_CTRL_GCM_GET_TAG, ENC_TAG,
	    dst + len) != 1)
		return -1;
	if (e->counter == UINT32_MAX)
		return -1;
	e->counter++;
	return 0;
}

/* Encoder: seal one chunk of plaintext from buf. */
static int
enc_emit(struct encrypt *e, bool last)
{
	uint8_t *frame = e->out;
	uint32_t word = (uint32_t)e->have | (last ? ENC_LAST : 0);

	/* out holds at most ENC_CHUNK + 16: write the length word first */
	uint8_t lenw[4] = { (uint8_t)(word >> 24), (uint8_t)(word >> 16),
		(uint8_t)(word >> 8), (uint8_t)word };

	if (!e->hdr_done) {
		if (stream_write(e->s.next, e->hdr, ENC_HDR) == -1)
			return -1;
		e->hdr_done = true;
	}
	if (enc_seal(e, e->buf, e->have, last, frame) == -1) {
		stream_set_err(&e->s, "encryption failed");
		return -1;
	}
	if (stream_write(e->s.next, lenw, 4) == -1 ||
	    stream_write(e->s.next, frame, e->have + ENC_TAG) == -1)
		return -1;
	e->have = 0;
	return 0;
}

/* Decoder: open the complete frame in buf. */
static int
dec_open(struct encrypt *e, uint32_t word)
{
	size_t len = word & ~ENC_LAST;
	bool last = (word & ENC_LAST) != 0;

	if (enc_seal(e, e->buf + 4, len, last, e->out) == -1) {
		stream_set_err(&e->s, "decryption failed: wrong key or "
		    "corrupted data");
		return -1;
	}
	if (last)
		e->last_seen = true;
	e->have = 0;
	return stream_write(e->s.next, e->out, len);
}

static int
enc_write(struct stream *s, const void *data, size_t len)
{
	struct encrypt *e = (struct encrypt *)s;
	const uint8_t *p = data;

	while (len > 0) {
		size_t take, need;

		if (!e->decrypting) {
			take = ENC_CHUNK - e->have;
			if (take > len)
				take = len;
			memcpy(e->buf + e->have, p, take);
			e->have += take;
			p += take;
			len -= take;
			/* the last chunk is sealed by finish(), flagged */
			if (e->have == ENC_CHUNK && len > 0 &&
			    enc_emit(e, false) == -1)
				return -1;
			continue;
		}
		if (e->last_seen) {
			stream_set_err(s, "data after the last encrypted chunk");
			return -1;
		}
		if (!e->hdr_done) {
			take = ENC_HDR - e->have;
			if (take > len)
				take = len;
			memcpy(e->hdr + e->have, p, take);
			e->have += take;
			p += take;
			len -= take;
			if (e->have == ENC_HDR) {
				if (memcmp(e->hdr, ENC_MAGIC, 8) != 0) {
					stream_set_err(s, "not an encrypted "
					    "limen backup");
					return -1;
				}
				e->hdr_done = true;
				e->have = 0;
			}
			continue;
		}
		if (e->have < 4) {
			take = 4 - e->have;
			if (take > len)
				take = len;
			memcpy(e->buf + e->have, p, take);
			e->have += take;
			p += take;
			len -= take;
			continue;
		}
		uint32_t w = (uint32_t)e->buf[0] << 24 |
		    (uint32_t)e->buf[1] << 16 | (uint32_t)e->buf[2] << 8 |
		    e->buf[3];
		if ((w & ~ENC_LAST) > ENC_CHUNK) {
			stream_set_err(s, "corrupted encrypted chunk length");
			return -1;
		}
		need = 4 + (w & ~ENC_LAST) + ENC_TAG;
		take = need - e->have;
		if (take > len)
			take = len;
		memcpy(e->buf + e->have, p, take);
		e->have += take;
		p += take;
		len -= take;
		if (e->have == need && dec_open(e, w) == -1)
			return -1;
	}
	return 0;
}

static int
enc_finish(struct stream *s)
{
	struct encrypt *e = (struct encrypt *)s;

	if (e->decrypting) {
		if (!e->last_seen || e->have != 0) {
			stream_set_err(s, "encrypted stream is truncated");
			return -1;
		}
	} else if (enc_emit(e, true) == -1)
		return -1;
	return stream_finish(s->next);
}

static void
enc_free(struct stream *s)
{
	struct encrypt *e = (struct encrypt *)s;

	EVP_CIPHER_CTX_free(e->ctx);
	OPENSSL_cleanse(e->key, sizeof e->key);
	OPENSSL_cleanse(e->buf, sizeof e->buf);
	OPENSSL_cleanse(e->out, sizeof e->out);
	free(e);
}

static struct stream *
enc_new(const uint8_t *key, struct stream *next, bool decrypting)
{
	struct encrypt *e = calloc(1, sizeof *e);

	if (e == NULL)
		return NULL;
	e->s.write = enc_write;
	e->s.finish = enc_finish;
	e->s.free = enc_free;
	e->s.next = next;
	e->decrypting = decrypting;
	memcpy(e->key, key, BACKUP_KEY_LEN);
	if ((e->ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_CipherInit_ex(e->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
	    decrypting ? 0 : 1) != 1)
		goto fail;
	if (!decrypting) {
		memcpy(e->hdr, ENC_MAGIC, 8);
		if (RAND_bytes(e->hdr + 8, 8) != 1)
			goto fail;
	}
	return &e->s;
fail:
	enc_free(&e->s);
	return NULL;
}

struct stream *
encrypt_new(const uint8_t key[BACKUP_KEY_LEN], struct stream *next)
{
	return enc_new(key, next, false);
}

struct stream *
decrypt_new(const uint8_t key[BACKUP_KEY_LEN], struct stream *next)
{
	return enc_new(key, next, true);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
encrypt_load_key(const char *path, uint8_t key[BACKUP_KEY_LEN], char *err,
    size_t errlen)
{
	char *data = NULL;
	size_t len = 0;
	struct stat st;
	int rc = -1;

	if (stat(path, &st) == 0 && (st.st_mode & 077)) {
		snprintf(err, errlen, "%s: the key file must not be "
		    "readable by group or others (chmod 600)", path);
		return -1;
	}
	if (fsutil_read_file(path, 4096, &data, &len) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (len == BACKUP_KEY_LEN) {
		memcpy(key, data, BACKUP_KEY_LEN);
		rc = 0;
	} else {
		while (len > 0 && (data[len - 1] == '\n' ||
		    data[len - 1] == '\r' || data[len - 1] == ' '))
			len--;
		if (len == 2 * BACKUP_KEY_LEN) {
			rc = 0;
			for (size_t i = 0; i < BACKUP_KEY_LEN; i++) {
				int hi = hexval((unsigned char)data[2 * i]);
				int lo = hexval((unsigned char)data[2 * i + 1]);
				if (hi < 0 || lo < 0) {
					rc = -1;
					break;
				}
				key[i] = (uint8_t)(hi << 4 | lo);
			}
		}
		if (rc == -1)
			snprintf(err, errlen, "%s: a key file holds 32 bytes "
			    "or 64 hex digits (openssl rand -hex 32)", path);
	}
	OPENSSL_cleanse(data, len);
	free(data);
	return rc;
}
