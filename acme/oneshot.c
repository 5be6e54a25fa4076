/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * oneshot.c — see oneshot.h.  The responders live only as long as the
 * command:
 *
 *  - HTTP-01 on the plaintext listeners: libevent's evhttp server answers
 *    GET /.well-known/acme-challenge/TOKEN from the manager's token store
 *    and 404 to everything else;
 *  - TLS-ALPN-01 on the TLS listeners with acme: a TLS server that only
 *    completes handshakes offering ALPN "acme-tls/1" for a name with a
 *    pending challenge, presenting its RFC 8737 certificate, then closes.
 */
#include "acme/oneshot.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "acme/acme.h"
#include "acme/challenge.h"
#include "acme/renew.h"
#include "acme/store.h"
#include "common/log.h"
#include "conf/config.h"
#include "conf/diag.h"

#define ONESHOT_ATTEMPTS	3
#define ONESHOT_RETRY_BASE_MS	1000
#define ONESHOT_RETRY_MAX_MS	8000
#define ONESHOT_MAX_LISTENERS	32

/* A pending TLS-ALPN-01 certificate. */
struct alpn_cert {
	struct alpn_cert *next;
	char *name;
	X509 *cert;
	EVP_PKEY *key;
};

struct oneshot {
	struct event_base *base;
	struct acme_manager *m;
	char **names;
	int n_names;
	bool all_settled;
	bool interrupted;
	SSL_CTX *alpn_ctx;
	struct alpn_cert *alpn_certs;
	struct evconnlistener *alpn_listeners[ONESHOT_MAX_LISTENERS];
	size_t n_alpn_listeners;
};

static void
http01_cb(struct evhttp_request *req, void *arg)
{
	struct oneshot *os = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL, *token;
	char ka[512];
	int n;
	struct evbuffer *body;

	if (path == NULL || (token = challenge_http01_token(path)) == NULL ||
	    os->m == NULL ||
	    (n = acme_manager_http01_lookup(os->m, token, ka, sizeof ka)) < 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	log_info("acme: answered HTTP-01 for token %.8s...", token);
	body = evbuffer_new();
	if (body == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add(body, ka, (size_t)n);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

/* A name is settled when it has a certificate and nothing left to do,
 * or when its attempts are used up. */
static void
check_settled(struct oneshot *os)
{
	struct acme_name_status st;

	for (int i = 0; i < os->n_names; i++) {
		if (acme_manager_status(os->m, os->names[i], &st) == -1)
			continue;
		if (st.busy)
			return;
		if (!(st.gave_up || (st.has_cert && st.failures == 0 &&
		    st.attempts > 0)))
			return;
	}
	os->all_settled = true;
	event_base_loopbreak(os->base);
}

static void
on_status(void *arg, const char *name, const struct acme_name_status *st)
{
	(void)name;
	(void)st;
	check_settled(arg);
}

static void
on_installed(void *arg, const char *name, const char *cert_path,
    const char *key_path)
{
	(void)arg;
	(void)key_path;
	log_debug("acme: %s: %s in place", name, cert_path);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct oneshot *os = arg;

	(void)what;
	log_warnx("limen certs: interrupted by signal %d", (int)sig);
	os->interrupted = true;
	event_base_loopbreak(os->base);
}

/* Listen for HTTP-01 on every address of every plaintext listener. */
static int
bind_http01(struct event_base *base, const struct config *cfg,
    struct evhttp *http)
{
	int bound = 0;

	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct conf_listener *l = &cfg->listeners[i];

		if (l->tls.enabled)
			continue;
		for (size_t k = 0; k < l->n_addrs; k++) {
			const struct conf_addr *a = &l->addrs[k];
			struct evconnlistener *lev;

			lev = evconnlistener_new_bind(base, NULL, NULL,
			    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
			    LEV_OPT_CLOSE_ON_EXEC, 128,
			    (const struct sockaddr *)&a->sa, (int)a->sa_len);
			if (lev == NULL) {
				log_warn("limen certs: cannot listen on %s "
				    "(listener %s)", a->text, l->name);
				return -1;
			}
			if (evhttp_bind_listener(http, lev) == NULL) {
				evconnlistener_free(lev);
				return -1;
			}
			log_info("limen certs: answering HTTP-01 on %s",
			    a->text);
			bound++;
		}
	}
	return bound;
}

/* ---- TLS-ALPN-01 ---------------------------------------------------------- */

static struct alpn_cert *
alpn_find(struct oneshot *os, const char *name)
{
	for (struct alpn_cert *c = os->alpn_certs; c != NULL; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static void
alpn_clear(void *arg, const char *name)
{
	struct oneshot *os = arg;
	struct alpn_cert **pp, *c;

	for (pp = &os->alpn_certs; (c = *pp) != NULL; pp = &c->next)
		if (strcmp(c->name, name) == 0) {
			*pp = c->next;
			X509_free(c->cert);
			EVP_PKEY_free(c->key);
			free(c->name);
			free(c);
			return;
		}
}

static int
alpn_set(void *arg, const char *name, const char *cert_pem,
    const char *key_pem)
{
	struct oneshot *os = arg;
	struct alpn_cert *c = calloc(1, sizeof *c);
	BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem,
	    -1);

	if (c == NULL || cb == NULL || kb == NULL ||
	    (c->name = strdup(name)) == NULL ||
	    (c->cert = PEM_read_bio_X509(cb, NULL, NULL, NULL)) == NULL ||
	    (c->key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) == NULL) {
		if (c != NULL) {
			X509_free(c->cert);
			free(c->name);
		}
		free(c);
		BIO_free(cb);
		BIO_free(kb);
		return -1;
	}
	BIO_free(cb);
	BIO_free(kb);
	alpn_clear(os, name);
	c->next = os->alpn_certs;
	os->alpn_certs = c;
	return 0;
}

/* SNI, early in the handshake (before the cipher is chosen, which needs
 * a certificate): the challenge certificate of a name with a pending
 * challenge, or a fatal alert. */
static int
alpn_servername(SSL *ssl, int *alert, void *arg)
{
	struct oneshot *os = arg;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct alpn_cert *c;

	if (sni == NULL || (c = alpn_find(os, sni)) == NULL ||
	    SSL_use_certificate(ssl, c->cert) != 1 ||
	    SSL_use_PrivateKey(ssl, c->key) != 1) {
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* ALPN: acme-tls/1 only (RFC 8737 §4: nothing else is served here). */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char acme_tls[] = "acme-tls/1";

	(void)arg;
	for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
		if (in[i] != 10 || i + 1u + 10 > inlen ||
		    memcmp(in + i + 1, acme_tls, 10) != 0)
			continue;
		log_info("acme: answered TLS-ALPN-01 for %s",
		    SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
		*out = acme_tls;
		*outlen = 10;
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void
alpn_conn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	(void)arg;
	/* handshake done (the validator closes next) or failed: either way
	 * this connection has nothing more to say */
	bufferevent_free(bev);
}

static void
alpn_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct oneshot *os = arg;
	struct timeval tv = { 10, 0 };
	struct bufferevent *bev;
	SSL *ssl = SSL_new(os->alpn_ctx);

	(void)lev;
	(void)sa;
	(void)salen;
	if (ssl == NULL) {
		evutil_closesocket(fd);
		return;
	}
	bev = bufferevent_openssl_socket_new(os->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		return;
	}
	bufferevent_setcb(bev, NULL, NULL, alpn_conn_event, os);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ);
}

/* Listen for TLS-ALPN-01 on every address of every TLS listener with
 * acme; the number of addresses bound, or -1. */
static int
bind_tlsalpn(struct oneshot *os, const struct config *cfg)
{
	if ((os->alpn_ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(os->alpn_ctx, TLS1_2_VERSION) != 1)
		return -1;
	SSL_CTX_set_tlsext_servername_callback(os->alpn_ctx, alpn_servername);
	SSL_CTX_set_tlsext_servername_arg(os->alpn_ctx, os);
	SSL_CTX_set_alpn_select_cb(os->alpn_ctx, alpn_select, os);
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct conf_listener *l = &cfg->listeners[i];

		if (!l->tls.enabled || !l->tls.acme)
			continue;
		for (size_t k = 0; k < l->n_addrs; k++) {
			const struct conf_addr *a = &l->addrs[k];
			struct evconnlistener *lev;

			if (os->n_alpn_listeners == ONESHOT_MAX_LISTENERS)
				return -1;
			lev = evconnlistener_new_bind(os->base, alpn_accept, os,
			    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
			    LEV_OPT_CLOSE_ON_EXEC, 128,
			    (const struct sockaddr *)&a->sa, (int)a->sa_len);
			if (lev == NULL) {
				log_warn("limen certs: cannot listen on %s "
				    "(listener %s)", a->text, l->name);
				return -1;
			}
			os->alpn_listeners[os->n_alpn_listeners++] = lev;
			log_info("limen certs: answering TLS-ALPN-01 on %s",
			    a->text);
		}
	}
	return (int)os->n_alpn_listeners;
}

static void
alpn_free(struct oneshot *os)
{
	for (size_t i = 0; i < os->n_alpn_listeners; i++)
		evconnlistener_free(os->alpn_listeners[i]);
	while (os->alpn_certs != NULL)
		alpn_clear(os, os->alpn_certs->name);
	SSL_CTX_free(os->alpn_ctx);
}

/* Whether the configuration asks for challenge type t (the default is
 * both). */
static bool
wants(const struct config *cfg, enum conf_acme_challenge t)
{
	if (cfg->acme.n_challenges == 0)
		return true;
	for (size_t i = 0; i < cfg->acme.n_challenges; i++)
		if (cfg->acme.challenges[i] == t)
			return true;
	return false;
}

int
oneshot_certs_config(const struct config *cfg)
{
	struct oneshot os = { 0 };
	struct evdns_base *dns = NULL;
	struct evhttp *http = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
	struct acme_hooks hooks = {
		.arg = &os,
		.cert_installed = on_installed,
		.name_status = on_status,
	};
	struct acme_name_status st;
	char cpath[PATH_MAX], kpath[PATH_MAX], tb[32];
	int rc = 2, ok = 0, n_http = 0, n_alpn = 0;

	os.n_names = acme_names(cfg, &os.names);
	if (os.n_names == -1) {
		fprintf(stderr, "limen certs: out of memory\n");
		return 2;
	}
	if (os.n_names == 0) {
		printf("no names to certify: no route host is a plain DNS name "
		    "on a listener with tls.acme: true\n");
		return 0;
	}
	/* a peer that closes first must not kill us (validators do) */
	signal(SIGPIPE, SIG_IGN);
	if ((os.base = event_base_new()) == NULL ||
	    (dns = evdns_base_new(os.base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL ||
	    (http = evhttp_new(os.base)) == NULL)
		goto done;
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(http, 10);
	evhttp_set_max_headers_size(http, 16 * 1024);
	evhttp_set_max_body_size(http, 0);
	evhttp_set_gencb(http, http01_cb, &os);
	if (wants(cfg, ACME_CHALLENGE_HTTP01) &&
	    (n_http = bind_http01(os.base, cfg, http)) == -1) {
		rc = 1;
		goto done;
	}
	if (wants(cfg, ACME_CHALLENGE_TLSALPN01)) {
		if ((n_alpn = bind_tlsalpn(&os, cfg)) == -1) {
			rc = 1;
			goto done;
		}
		if (n_alpn > 0) {
			hooks.tlsalpn01_set = alpn_set;
			hooks.tlsalpn01_clear = alpn_clear;
		}
	}
	if (n_http + n_alpn == 0) {
		fprintf(stderr, "limen certs: no listener to answer the "
		    "configured challenges on\n");
		rc = 1;
		goto done;
	}
	if ((sigint = evsignal_new(os.base, SIGINT, on_signal, &os)) == NULL ||
	    (sigterm = evsignal_new(os.base, SIGTERM, on_signal, &os)) == NULL ||
	    evsignal_add(sigint, NULL) == -1 || evsignal_add(sigterm, NULL) == -1)
		goto done;
	if ((os.m = acme_manager_new(os.base, dns, cfg, &hooks)) == NULL) {
		rc = 1;
		goto done;
	}
	acme_manager_set_retry(os.m, ONESHOT_RETRY_BASE_MS,
	    ONESHOT_RETRY_MAX_MS, ONESHOT_ATTEMPTS);
	event_base_dispatch(os.base);

	for (int i = 0; i < os.n_names; i++) {
		acme_manager_status(os.m, os.names[i], &st);
		store_cert_paths(cfg->global.state_dir ? cfg->global.state_dir :
		    "/var/lib/limen", os.names[i], cpath, sizeof cpath, kpath,
		    sizeof kpath);
		if (st.has_cert) {
			ok++;
			printf("%s: ok, valid until %s: %s\n", os.names[i],
			    renew_time_str(st.not_after, tb, sizeof tb), cpath);
		} else {
			printf("%s: failed: %s\n", os.names[i],
			    st.last_error ? st.last_error : os.interrupted ?
			    "interrupted" : "no certificate");
		}
	}
	rc = ok == os.n_names && !os.interrupted ? 0 : 1;
done:
	if (rc == 2)
		fprintf(stderr, "limen certs: cannot set up the event loop\n");
	acme_manager_free(os.m);
	alpn_free(&os);
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	if (http)
		evhttp_free(http);
	if (dns)
		evdns_base_free(dns, 0);
	if (os.base)
		event_base_free(os.base);
	acme_names_free(os.names, os.n_names);
	return rc;
}

int
oneshot_certs(const char *config_path)
{
	struct diag d;
	struct config *c;
	int rc;

	diag_init(&d);
	/* the backup jobs' secrets are limen-backup's, not ours */
	c = conf_load_ex(config_path, CONF_LOAD_SKIP_BACKUP_SECRETS, &d);
	diag_sort(&d);
	diag_print(&d, stderr);
	diag_free(&d);
	if (c == NULL)
		return 1;
	log_init(c->global.log_level, c->global.log_format);
	rc = oneshot_certs_config(c);
	conf_unref(c);
	return rc;
}
