/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * oneshot.c — see oneshot.h.  The HTTP-01 responder is libevent's evhttp
 * server: it answers GET /.well-known/acme-challenge/TOKEN from the
 * manager's token store and 404 to everything else; it lives only as long
 * as the command.
 */
#include "acme/oneshot.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

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

struct oneshot {
	struct event_base *base;
	struct acme_manager *m;
	char **names;
	int n_names;
	bool all_settled;
	bool interrupted;
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
	int rc = 2, ok = 0;

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
	switch (bind_http01(os.base, cfg, http)) {
	case -1:
		rc = 1;
		goto done;
	case 0:
		fprintf(stderr, "limen certs: no plaintext listener to answer "
		    "HTTP-01 on\n");
		rc = 1;
		goto done;
	}
	if ((sigint = evsignal_new(os.base, SIGINT, on_signal, &os)) == NULL ||
	    (sigterm = evsignal_new(os.base, SIGTERM, on_signal, &os)) == NULL ||
	    evsignal_add(sigint, NULL) == -1 || evsignal_add(sigterm, NULL) == -1)
		goto done;
	/* only HTTP-01 here: the TLS listener is the proxy's */
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
	c = conf_load(config_path, &d);
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
