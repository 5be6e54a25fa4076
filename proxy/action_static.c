/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * action_static.c — `static: { root, index, spa_fallback }`: files from a
 * directory.
 *
 * Files are opened with openat2(RESOLVE_BENEATH) under a descriptor of the
 * root opened when the configuration was built, so neither "..", nor an
 * absolute path, nor a symbolic link can leave the root (a link that points
 * inside stays fine).  GET and HEAD only; ETag ("mtime-size") and
 * Last-Modified with 304 for If-None-Match / If-Modified-Since; one byte
 * range per request (206, or 416 when unsatisfiable; several ranges get
 * the whole file, which RFC 9110 allows); directories get the index file,
 * or a 301 to the path with its slash; with spa_fallback a missing file
 * gets the root's index instead of 404.  The body is sent with
 * evbuffer_add_file (sendfile on a plain socket): no copy through memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "common/arena.h"
#include "common/log.h"
#include "proxy/action.h"
#include "proxy/exchange.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"

static const struct {
	const char *ext;
	const char *type;
} static_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "map", "application/json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "md", "text/markdown; charset=utf-8" },
	{ "csv", "text/csv; charset=utf-8" },
	{ "xml", "application/xml" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "avif", "image/avif" },
	{ "ico", "image/x-icon" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "ttf", "font/ttf" },
	{ "otf", "font/otf" },
	{ "wasm", "application/wasm" },
	{ "pdf", "application/pdf" },
	{ "zip", "application/zip" },
	{ "gz", "application/gzip" },
	{ "tar", "application/x-tar" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
	{ "mp3", "audio/mpeg" },
	{ "ogg", "audio/ogg" },
	{ "wav", "audio/wav" },
	{ "webmanifest", "application/manifest+json" },
};

static const char *
static_content_type(const char *name)
{
	const char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');

	if (dot != NULL && (slash == NULL || dot > slash))
		for (size_t i = 0; i < sizeof(static_types) /
		    sizeof(static_types[0]); i++)
			if (strcasecmp(dot + 1, static_types[i].ext) == 0)
				return static_types[i].type;
	return "application/octet-stream";
}

static int
static_open(int rootfd, const char *rel)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, rootfd, rel[0] ? rel : ".", &how,
	    sizeof(how));
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode a normalised path into a relative file name; -1 when it
 * names something no file can be (NUL or an encoded '/'). */
static int
static_decode(const char *p, size_t len, char *out)
{
	size_t i, o = 0;

	while (len > 0 && *p == '/') {
		p++;
		len--;
	}
	for (i = 0; i < len; i++) {
		if (p[i] == '%') {
			int hi, lo;
			char ch;

			if (i + 2 >= len || (hi = hexval(p[i + 1])) < 0 ||
			    (lo = hexval(p[i + 2])) < 0)
				return -1;
			ch = (char)(hi * 16 + lo);
			if (ch == '\0' || ch == '/')
				return -1;
			out[o++] = ch;
			i += 2;
		} else {
			out[o++] = p[i];
		}
	}
	out[o] = '\0';
	return (int)o;
}

static void
http_date(time_t t, char *out, size_t cap)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static bool
etag_matches(const char *list, size_t len, const char *etag)
{
	size_t el = strlen(etag);
	const char *p = list, *end = list + len;

	while (p < end) {
		const char *q;
		while (p < end && (*p == ' ' || *p == ',' || *p == '\t'))
			p++;
		if (p < end && *p == '*')
			return true;
		if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
			p += 2;	/* weak comparison for If-None-Match */
		q = p;
		while (q < end && *q != ',')
			q++;
		while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		if ((size_t)(q - p) == el && memcmp(p, etag, el) == 0)
			return true;
		p = q;
		while (p < end && *p != ',')
			p++;
	}
	return false;
}

static bool
hdr_time_ge(const struct exchange_header *h, time_t mtime)
{
	struct tm tm;
	char buf[64];
	const char *end;

	if (h == NULL || h->value_len >= sizeof(buf))
		return false;
	memcpy(buf, h->value, h->value_len);
	buf[h->value_len] = '\0';
	memset(&tm, 0, sizeof(tm));
	end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return false;
	return timegm(&tm) >= mtime;
}

/* Parse a single "bytes=a-b" range.  1 ok, 0 ignore (serve all), -1
 * unsatisfiable. */
static int
parse_range(const struct exchange_header *h, uint64_t size, uint64_t *off,
    uint64_t *len)
{
	const char *p, *end;
	uint64_t a = 0, b = 0;
	bool has_a = false, has_b = false;

	if (h == NULL || h->value_len < 7 || strncasecmp(h->value, "bytes=", 6))
		return 0;
	p = h->value + 6;
	end = h->value + h->value_len;
	if (memchr(p, ',', (size_t)(end - p)) != NULL)
		return 0;
	while (p < end && *p >= '0' && *p <= '9') {
		if (a > UINT64_MAX / 10 - 10)
			return 0;
		a = a * 10 + (uint64_t)(*p++ - '0');
		has_a = true;
	}
	if (p >= end || *p++ != '-')
		return 0;
	while (p < end && *p >= '0' && *p <= '9') {
		if (b > UINT64_MAX / 10 - 10)
			return 0;
		b = b * 10 + (uint64_t)(*p++ - '0');
		has_b = true;
	}
	if (p != end || (!has_a && !has_b))
		return 0;
	if (!has_a) {			/* suffix: the last b bytes */
		if (b == 0 || size == 0)
			return -1;
		if (b > size)
			b = size;
		*off = size - b;
		*len = b;
		return 1;
	}
	if (has_b && b < a)
		return 0;
	if (a >= size)
		return -1;
	if (!has_b || b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return 1;
}

static void
static_redirect_slash(struct exchange *x)
{
	exchange_resp_start(x, 301);
	if (x->query)
		exchange_resp_addf(x, "Location", "%.*s/?%.*s",
		    (int)x->path_len, x->path, (int)x->query_len, x->query);
	else
		exchange_resp_addf(x, "Location", "%.*s/", (int)x->path_len,
		    x->path);
	exchange_respond(x, 301, NULL, NULL, 0);
}

void
action_static_run(struct exchange *x)
{
	const struct conf_route *r = x->route;
	const struct conf_static *st = &r->static_files;
	const char *index = st->index ? st->index : "index.html";
	int rootfd = x->ws->snap->static_root_fds[r->index];
	const char *path = x->path;
	size_t path_len = x->path_len;
	char *rel, etag[64], lm[40];
	struct stat sb;
	uint64_t off = 0, len;
	int fd = -1, rc, status = 200;
	bool head = (x->method_flags & EXCHANGE_M_HEAD) != 0;
	const struct exchange_header *h;
	struct evbuffer *b;
	struct evbuffer_file_segment *seg;

	if (!(x->method_flags & (EXCHANGE_M_GET | EXCHANGE_M_HEAD))) {
		exchange_resp_start(x, 405);
		exchange_resp_add_ref(x, "Allow", 5, "GET, HEAD", 9);
		exchange_respond(x, 405, NULL, NULL, 0);
		return;
	}
	if (rootfd < 0) {
		exchange_error(x, 500);
		return;
	}
	if (r->strip_prefix && r->path != NULL) {
		size_t pl = strlen(r->path);
		while (pl > 0 && r->path[pl - 1] == '/')
			pl--;
		if (pl <= path_len && memcmp(path, r->path, pl) == 0) {
			path += pl;
			path_len -= pl;
		}
	}
	if ((rel = arena_alloc(x->arena, path_len + strlen(index) + 2)) == NULL) {
		exchange_error(x, 500);
		return;
	}
	if ((rc = static_decode(path, path_len, rel)) < 0) {
		exchange_error(x, 404);
		return;
	}
	if (rc == 0 || rel[rc - 1] == '/')
		strcpy(rel + rc, index);

	fd = static_open(rootfd, rel);
	if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		close(fd);
		static_redirect_slash(x);
		return;
	}
	if (fd < 0 && st->spa_fallback && (errno == ENOENT || errno == ENOTDIR))
		fd = static_open(rootfd, index);
	if (fd < 0) {
		exchange_error(x, errno == EACCES ? 403 : 404);
		return;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		exchange_error(x, 404);
		return;
	}

	snprintf(etag, sizeof(etag), "\"%llx-%llx\"",
	    (unsigned long long)sb.st_mtime, (unsigned long long)sb.st_size);
	http_date(sb.st_mtime, lm, sizeof(lm));
	exchange_resp_start(x, 200);
	exchange_resp_add_ref(x, "Content-Type", 12,
	    static_content_type(rel), strlen(static_content_type(rel)));
	exchange_resp_add(x, "Last-Modified", 13, lm, strlen(lm));
	exchange_resp_add(x, "ETag", 4, etag, strlen(etag));
	exchange_resp_add_ref(x, "Accept-Ranges", 13, "bytes", 5);
	exchange_resp_add_ref(x, "Date", 4, worker_date(x->w),
	    strlen(worker_date(x->w)));

	if ((h = exchange_req_header(x, "if-none-match")) != NULL ?
	    etag_matches(h->value, h->value_len, etag) :
	    hdr_time_ge(exchange_req_header(x, "if-modified-since"),
	    sb.st_mtime)) {
		close(fd);
		x->status = 304;
		exchange_send_head(x, EXCHANGE_BODY_NONE, 0);
		exchange_send_end(x);
		return;
	}

	len = (uint64_t)sb.st_size;
	h = exchange_req_header(x, "range");
	if (h != NULL) {
		const struct exchange_header *ir = exchange_req_header(x,
		    "if-range");
		if (ir != NULL && !(ir->value_len == strlen(etag) &&
		    memcmp(ir->value, etag, ir->value_len) == 0) &&
		    !(ir->value_len > 0 && ir->value[0] != '"' &&
		    ir->value[0] != 'W' && hdr_time_ge(ir, sb.st_mtime)))
			h = NULL;	/* changed since: the whole file */
	}
	rc = parse_range(h, (uint64_t)sb.st_size, &off, &len);
	if (rc == -1) {
		close(fd);
		exchange_resp_start(x, 416);
		exchange_resp_addf(x, "Content-Range", "bytes */%llu",
		    (unsigned long long)sb.st_size);
		exchange_respond(x, 416, NULL, NULL, 0);
		return;
	}
	if (rc == 1) {
		status = 206;
		x->status = 206;
		exchange_resp_addf(x, "Content-Range", "bytes %llu-%llu/%llu",
		    (unsigned long long)off, (unsigned long long)(off + len - 1),
		    (unsigned long long)sb.st_size);
	}
	(void)status;
	exchange_send_head(x, EXCHANGE_BODY_LENGTH, len);
	if (head || len == 0) {
		close(fd);
		exchange_send_end(x);
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		close(fd);
		exchange_error(x, 500);
		return;
	}
	/* the segment owns fd from here */
	if ((seg = evbuffer_file_segment_new(fd, (ev_off_t)off, (ev_off_t)len,
	    EVBUF_FS_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		evbuffer_free(b);
		exchange_error(x, 500);
		return;
	}
	rc = evbuffer_add_file_segment(b, seg, 0, (ev_off_t)len);
	evbuffer_file_segment_free(seg);
	if (rc == -1) {
		evbuffer_free(b);
		exchange_error(x, 500);
		return;
	}
	exchange_send_body(x, b, (size_t)len);
	evbuffer_free(b);
	exchange_send_end(x);
}
