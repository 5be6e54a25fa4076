/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * acme_glue.h — the ACME manager (acme/acme.h) inside `limen run`.
 *
 * The manager runs on the control thread's event loop (server.c): it is
 * created after the privilege drop and before the workers start (so the
 * certificates already on disk are installed before the first handshake),
 * follows every reload that went live, and is freed at shutdown after the
 * workers stopped.  Its hooks:
 *
 *  - cert_installed: tls_listen_install() into the certstore of every
 *    listener with `tls.acme: true` (a pointer swap per store);
 *  - tlsalpn01_set/clear: a name -> challenge certificate map under a
 *    mutex, read by the TLS-ALPN-01 hook of the SSL contexts
 *    (acme_glue_alpn, set by tls_listen_build on `acme: true` listeners);
 *  - name_status: metrics_acme_failure/success (proxy/metrics.h);
 *    installed certificates also go to metrics_cert_set (expiry).
 *
 * Workers answer `GET /.well-known/acme-challenge/TOKEN` on plaintext
 * listeners with acme_glue_http01() before routing and before any
 * redirect_https.
 */
#ifndef LIMEN_PROXY_ACME_GLUE_H
#define LIMEN_PROXY_ACME_GLUE_H

#include "conf/config.h"
#include "proxy/certbundle.h"

struct event_base;
struct exchange;

/*
 * Start the manager for c on base if some listener has tls.acme (else do
 * nothing).  Installs stored certificates before returning.  0, or -1 if
 * ACME cannot run (logged; the proxy serves on with fallbacks).
 */
int acme_glue_start(struct event_base *base, struct config *c);
/* A configuration went live: follow it (starts the manager if needed). */
void acme_glue_reload(struct config *c);
/* Stop the manager (control thread, after the workers stopped). */
void acme_glue_stop(void);

/*
 * On a worker: if x is GET/HEAD /.well-known/acme-challenge/TOKEN on a
 * plaintext listener and TOKEN is a pending HTTP-01 challenge, answer it
 * and return 0; -1 to go on with the request as usual.
 */
int acme_glue_http01(struct exchange *x);

/* The tls_acme_alpn_fn of the SSL contexts: the challenge certificate for
 * servername with a new reference, or NULL.  Any thread. */
struct cert_bundle *acme_glue_alpn(const char *servername, void *arg);

#endif
