/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * splice.h — response bodies moved from the upstream socket to the client
 * socket inside the kernel, through a pipe with splice(2) (issue 6,
 * HAProxy's `option splice-response`).
 *
 * The normal path copies every body byte twice across the user/kernel
 * boundary (readv from the upstream into an evbuffer, writev from it to
 * the client) and wakes up per 64 KiB read.  For a body that limen
 * forwards untouched and whose length is known, action_proxy.c drains
 * what its evbuffers already hold, then hands the rest to a transfer
 * here: splice(upstream -> pipe), splice(pipe -> client), no copy into
 * user space.  splice_wanted() is the gate (a pure function of the
 * facts the caller gathers): plain sockets on both sides, a
 * Content-Length body on both sides, nothing transforming it
 * (compression) and enough of it left to pay for the set-up.
 *
 * A transfer is event driven on both descriptors: it waits for the
 * upstream to be readable while its pipe is empty and for the client to
 * be writable while the pipe holds bytes the client did not take, each
 * wait bounded by a timeout (the pool's response timeout, as between the
 * normal path's body reads).  It reads at most `len` bytes from the
 * source, so the connection's next response is never touched.  It ends
 * once, through its callback, never from inside splice_start():
 *
 *   start ──> (src readable: splice in) <──> (dst writable: splice out)
 *     └─> DONE | SRC_EOF | SRC_ERROR | DST_ERROR | SRC_TIMEOUT | DST_TIMEOUT
 *
 * Pipes come from a per-worker pool (struct splice_pipes): at most
 * SPLICE_PIPES_MAX in use at once (beyond that the caller keeps the
 * normal path), up to SPLICE_PIPES_IDLE kept empty for the next transfer
 * and closed once a whole trim period passes without them being needed.
 * A pipe that still holds bytes when its transfer ends is closed.
 *
 * Worker thread only.
 */
#ifndef LIMEN_PROXY_SPLICE_H
#define LIMEN_PROXY_SPLICE_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct splice_pipes;
struct splice_xfer;

#define SPLICE_MIN_BYTES (64 * 1024)	/* left to forward, else no splice */
#define SPLICE_PIPE_SIZE (1024 * 1024)	/* F_SETPIPE_SZ asked for (the
					 * default pipe-max-size) */
#define SPLICE_PIPE_MIN (64 * 1024)	/* a smaller pipe is not used */
#define SPLICE_PIPES_MAX 64		/* pipes in use per worker */
#define SPLICE_PIPES_IDLE 8		/* empty pipes kept per worker */
#define SPLICE_TRIM_MS 1000		/* idle pipes unused this long close */

/* The facts splice_wanted() decides on, gathered by the caller. */
struct splice_gate {
	bool client_raw;		/* the front takes raw bytes on a plain
					 * socket (HTTP/1.1 without TLS) */
	bool upstream_plain;		/* the upstream is a plain socket */
	bool length_framed;		/* Content-Length on both sides, no
					 * chunked re-encoding */
	bool transformed;		/* compression or any body filter */
	bool head_only;			/* HEAD request: no body goes out */
	bool request_sent;		/* the whole request went upstream */
	uint64_t left;			/* body bytes not read from upstream */
};

enum splice_end {
	SPLICE_DONE,			/* all len bytes reached the destination */
	SPLICE_SRC_EOF,			/* the source closed early */
	SPLICE_SRC_ERROR,		/* reading the source failed */
	SPLICE_DST_ERROR,		/* the destination failed (client gone) */
	SPLICE_SRC_TIMEOUT,		/* nothing came for the timeout */
	SPLICE_DST_TIMEOUT		/* the destination took nothing as long */
};

typedef void (*splice_done_cb)(struct splice_xfer *s, enum splice_end e,
    void *arg);

/* Whether a body with these facts goes through splice. */
bool splice_wanted(const struct splice_gate *g);
const char *splice_end_string(enum splice_end e);

struct splice_pipes *splice_pipes_new(struct event_base *base);
/* Closes the idle pipes; transfers must be freed before. */
void splice_pipes_free(struct splice_pipes *sp);
/* Pipes held now, idle and in use (tests, debugging). */
unsigned splice_pipes_count(const struct splice_pipes *sp);

/*
 * Move len bytes from src to dst (nonblocking sockets) with a pipe of sp.
 * Both descriptors stay the caller's, who must not read src nor write
 * dst until the transfer ended.  With held, nothing is done until
 * splice_release() (bytes the caller queued for dst go first).
 * timeout_ms bounds each wait (0: none).  cb runs once at the end, from
 * the event loop, and must free s with splice_free() before it returns.
 * NULL when no pipe can be had (the caller keeps its normal path).
 */
struct splice_xfer *splice_start(struct splice_pipes *sp,
    struct event_base *base, int src, int dst, uint64_t len,
    uint64_t timeout_ms, bool held, splice_done_cb cb, void *arg);
/* dst is free for the transfer from now on (no-op unless held). */
void splice_release(struct splice_xfer *s);
/* Bytes written to dst so far. */
uint64_t splice_moved(const struct splice_xfer *s);
/* Stop (if still running, without calling cb) and free; NULL is fine. */
void splice_free(struct splice_xfer *s);

#endif
