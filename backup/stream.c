/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stream.c — the byte pipeline between PostgreSQL's tools and the files
 * of a backup.
 *
 * A backup never holds a dump in memory: pg_dump's output is read in
 * 64 KiB pieces and pushed through a chain of stages (compress, encrypt,
 * a sink that writes, counts and hashes).  Reading a backup is the same
 * chain reversed (decrypt, decompress, a sink into pg_restore's stdin).
 * This file has the chain itself, the sinks, the fd pump and the file
 * helpers; compress.c and encrypt.c hold the transforming stages.
 */
#include "backup/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STREAM_BUF	(64 * 1024)

int
stream_write(struct stream *s, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	return s->write(s, buf, len);
}

int
stream_finish(struct stream *s)
{
	return s->finish(s);
}

void
stream_free(struct stream *s)
{
	while (s != NULL) {
		struct stream *next = s->next;
		s->free(s);
		s = next;
	}
}

const char *
stream_error(const struct stream *s)
{
	for (; s != NULL; s = s->next)
		if (s->err[0] != '\0')
			return s->err;
	return "unknown error";
}

void
stream_set_err(struct stream *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
}

/* ---- sink and tap: count, hash, maybe write ------------------------------ */

struct stream_sink {
	struct stream s;
	int fd;
	bool do_fsync;
	uint64_t size;
	EVP_MD_CTX *md;
	char hex[65];
};

static int
sink_write(struct stream *s, const void *buf, size_t len)
{
	struct stream_sink *k = (struct stream_sink *)s;
	const char *p = buf;
	size_t left = len;

	if (EVP_DigestUpdate(k->md, buf, len) != 1) {
		stream_set_err(s, "sha256 failed");
		return -1;
	}
	k->size += len;
	if (k->fd == -1)
		return s->next ? stream_write(s->next, buf, len) : 0;
	while (left > 0) {
		ssize_t n = write(k->fd, p, left);
		if (n == -1) {
			if (errno == EINTR && !backup_stop)
				continue;
			stream_set_err(s, "write: %s", strerror(errno));
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	return 0;
}

static int
sink_finish(struct stream *s)
{
	struct stream_sink *k = (struct stream_sink *)s;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_DigestFinal_ex(k->md, md, &mdlen) != 1) {
		stream_set_err(s, "sha256 failed");
		return -1;
	}
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		snprintf(k->hex + 2 * i, 3, "%02x", md[i]);
	if (k->fd != -1 && k->do_fsync && fsync(k->fd) == -1) {
		stream_set_err(s, "fsync: %s", strerror(errno));
		return -1;
	}
	if (k->fd == -1 && s->next)
		return stream_finish(s->next);
	return 0;
}

static void
sink_free(struct stream *s)
{
	struct stream_sink *k = (struct stream_sink *)s;

	EVP_MD_CTX_free(k->md);
	free(k);
}

static struct stream_sink *
sink_alloc(int fd, bool do_fsync, struct stream *next)
{
	struct stream_sink *k = calloc(1, sizeof *k);

	if (k == NULL)
		return NULL;
	k->s.write = sink_write;
	k->s.finish = sink_finish;
	k->s.free = sink_free;
	k->s.next = next;
	k->fd = fd;
	k->do_fsync = do_fsync;
	if ((k->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(k->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(k->md);
		free(k);
		return NULL;
	}
	return k;
}

struct stream *
stream_sink_new(int fd, bool do_fsync)
{
	struct stream_sink *k = sink_alloc(fd, do_fsync, NULL);
	return k ? &k->s : NULL;
}

struct stream *
stream_tap_new(struct stream *next)
{
	struct stream_sink *k = sink_alloc(-1, false, next);
	return k ? &k->s : NULL;
}

void
stream_sink_result(const struct stream *s, uint64_t *size, char hex[65])
{
	const struct stream_sink *k = (const struct stream_sink *)s;

	if (size)
		*size = k->size;
	if (hex)
		memcpy(hex, k->hex, 65);
}

/* ---- chains --------------------------------------------------------------- */

struct stream *
stream_encoder(enum conf_compression comp, const uint8_t *key,
    struct stream *sink)
{
	struct stream *s = sink, *c;

	if (key != NULL) {
		if ((c = encrypt_new(key, s)) == NULL)
			return NULL;
		s = c;
	}
	if (comp == COMPRESS_GZIP)
		c = compress_gzip_new(s);
	else if (comp == COMPRESS_ZSTD)
		c = compress_zstd_new(s);
	else
		return s;
	if (c == NULL) {
		if (s != sink)
			s->free(s);
		return NULL;
	}
	return c;
}

struct stream *
stream_decoder(enum conf_compression comp, const uint8_t *key,
    struct stream *sink)
{
	struct stream *s = sink, *c;

	if (comp == COMPRESS_GZIP)
		s = compress_gunzip_new(sink);
	else if (comp == COMPRESS_ZSTD)
		s = compress_unzstd_new(sink);
	if (s == NULL)
		return NULL;
	if (key == NULL)
		return s;
	if ((c = decrypt_new(key, s)) == NULL) {
		if (s != sink)
			s->free(s);
		return NULL;
	}
	return c;
}

const char *
stream_suffix(enum conf_compression comp, bool encrypted)
{
	static const char *const names[3][2] = {
		{ "", ".enc" }, { ".gz", ".gz.enc" }, { ".zst", ".zst.enc" } };

	if ((unsigned)comp > COMPRESS_ZSTD)
		comp = COMPRESS_NONE;
	return names[comp][encrypted ? 1 : 0];
}

/* ---- pumps ---------------------------------------------------------------- */

int
stream_pump_fd(int fd, struct stream *s, int stall_s,
    void (*progress)(uint64_t, void *), void *arg)
{
	char *buf = malloc(STREAM_BUF);
	uint64_t done = 0;
	struct timespec last, now;
	time_t idle_since = time(NULL);
	int rc = -1;

	if (buf == NULL) {
		stream_set_err(s, "out of memory");
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &last);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (backup_stop) {
			stream_set_err(s, "interrupted");
			goto out;
		}
		if (poll(&pfd, 1, 1000) == -1 && errno != EINTR) {
			stream_set_err(s, "poll: %s", strerror(errno));
			goto out;
		}
		if (pfd.revents == 0) {
			if (stall_s > 0 && time(NULL) - idle_since > stall_s) {
				stream_set_err(s, "no data for %d s", stall_s);
				goto out;
			}
			continue;
		}
		n = read(fd, buf, STREAM_BUF);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			stream_set_err(s, "read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		idle_since = time(NULL);
		if (stream_write(s, buf, (size_t)n) == -1)
			goto out;
		done += (uint64_t)n;
		if (progress) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > last.tv_sec) {
				last = now;
				progress(done, arg);
			}
		}
	}
	if (progress)
		progress(done, arg);
	rc = 0;
out:
	free(buf);
	return rc;
}

int
stream_decode_file(const char *path, enum conf_compression comp,
    const uint8_t *key, struct stream *sink,
    void (*progress)(uint64_t, void *), void *arg, char *err, size_t errlen)
{
	struct stream *chain;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((chain = stream_decoder(comp, key, sink)) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return -1;
	}
	if (stream_pump_fd(fd, chain, 0, progress, arg) == -1 ||
	    stream_finish(chain) == -1)
		snprintf(err, errlen, "%s: %s", path, stream_error(chain));
	else
		rc = 0;
	/* free the decoding stages, not the caller's sink */
	while (chain != sink) {
		struct stream *next = chain->next;
		chain->free(chain);
		chain = next;
	}
	close(fd);
	return rc;
}

int
stream_hash_file(const char *path, uint64_t *size, char hex[65])
{
	struct stream *sink;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((sink = stream_sink_new(-1, false)) == NULL)
		goto out;
	if (stream_pump_fd(fd, sink, 0, NULL, NULL) == 0 &&
	    stream_finish(sink) == 0) {
		stream_sink_result(sink, size, hex);
		rc = 0;
	} else
		errno = EIO;
	stream_free(sink);
out:
	close(fd);
	return rc;
}
