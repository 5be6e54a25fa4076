/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_acme_manager.c — the manager's bookkeeping without a CA
 * (acme/acme.c): stored certificates are installed before
 * acme_manager_new returns, a reload adds and drops names, and a
 * configuration that cannot answer any challenge is refused.  The event
 * loop is never run, so nothing reaches the network.  (A reload that
 * turns ACME off drops every name.)
 */
#include <arpa/inet.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme/acme.h"
#include "acme/jws.h"
#include "acme/store.h"
#include "conf/config.h"
#include "tests/unit/harness.h"

static int installed;
static char last_installed[256];

static void
on_installed(void *arg, const char *name, const char *cert_path,
    const char *key_path)
{
	(void)arg;
	(void)cert_path;
	(void)key_path;
	installed++;
	snprintf(last_installed, sizeof last_installed, "%s", name);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Store a self-signed certificate for name, valid for 90 days. */
static void
store_self_signed(const char *dir, const char *name)
{
	EVP_PKEY *key = jws_key_new(JWS_KEY_EC_P256);
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *kpem;
	long len;
	const char *err;

	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_set_version(x, X509_VERSION_3);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 90 * 86400);
	X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_ASC,
	    (const unsigned char *)name, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, key);
	ASN1_STRING_set(ia5, name, -1);
	GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
	sk_GENERAL_NAME_push(gens, g);
	X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0);
	X509_sign(x, key, EVP_sha256());
	PEM_write_bio_X509(b, x);
	len = BIO_get_mem_data(b, &data);
	kpem = jws_key_to_pem(key, NULL);
	store_cert_save(dir, name, data, (size_t)len, kpem, strlen(kpem), &err);
	free(kpem);
	BIO_free(b);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(n);
	X509_free(x);
	EVP_PKEY_free(key);
}

struct fixture {
	struct config c;
	struct conf_listener ls[2];
	struct conf_addr addr;
	struct conf_route route;
	char *hosts[4];
	char dir[64];
};

static void
fixture_init(struct fixture *f, bool plaintext)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&f->addr.sa;

	memset(f, 0, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/limen-test-mgr-XXXXXX");
	mkdtemp(f->dir);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(1);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->addr.sa_len = sizeof *sin;
	f->addr.text = "127.0.0.1:1";
	f->ls[0].name = "web";
	f->ls[0].addrs = &f->addr;
	f->ls[0].n_addrs = 1;
	f->ls[1].name = "websecure";
	f->ls[1].addrs = &f->addr;
	f->ls[1].n_addrs = 1;
	f->ls[1].tls.enabled = true;
	f->ls[1].tls.acme = true;
	f->c.listeners = plaintext ? f->ls : f->ls + 1;
	f->c.n_listeners = plaintext ? 2 : 1;
	f->hosts[0] = "a.example.com";
	f->hosts[1] = "b.example.com";
	f->route.hosts = f->hosts;
	f->route.n_hosts = 2;
	f->c.routes = &f->route;
	f->c.n_routes = 1;
	f->c.global.state_dir = f->dir;
	f->c.acme.enabled = true;
	f->c.acme.directory = "https://127.0.0.1:1/dir";
}

static void
fixture_free(struct fixture *f)
{
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
test_manager_installs_stored_certs_and_follows_reloads(void)
{
	struct fixture f;
	struct event_base *base = event_base_new();
	struct acme_hooks hooks = { .cert_installed = on_installed };
	struct acme_manager *m;
	struct acme_name_status st;
	char buf[64];

	fixture_init(&f, true);
	store_self_signed(f.dir, "a.example.com");
	installed = 0;
	m = acme_manager_new(base, NULL, &f.c, &hooks);
	REQUIRE(m != NULL);
	/* the stored one is installed at once; b waits for an order */
	CHECK_INT(installed, ==, 1);
	CHECK_STR(last_installed, "a.example.com");
	REQUIRE(acme_manager_status(m, "a.example.com", &st) == 0);
	CHECK(st.has_cert);
	CHECK(st.not_after > 0);
	REQUIRE(acme_manager_status(m, "b.example.com", &st) == 0);
	CHECK(!st.has_cert);
	CHECK_INT(st.attempts, ==, 0);
	CHECK_INT(acme_manager_status(m, "c.example.com", &st), ==, -1);
	CHECK_INT(acme_manager_http01_lookup(m, "token", buf, sizeof buf),
	    ==, -1);

	/* a reload: a goes, c comes, b stays untouched */
	f.hosts[0] = "c.example.com";
	CHECK_INT(acme_manager_update_config(m, &f.c), ==, 0);
	CHECK_INT(acme_manager_status(m, "a.example.com", &st), ==, -1);
	CHECK_INT(acme_manager_status(m, "b.example.com", &st), ==, 0);
	CHECK_INT(acme_manager_status(m, "c.example.com", &st), ==, 0);
	CHECK_INT(installed, ==, 1);

	/* a new directory restarts every name from the store */
	f.hosts[0] = "a.example.com";
	f.c.acme.directory = "https://127.0.0.1:2/dir";
	CHECK_INT(acme_manager_update_config(m, &f.c), ==, 0);
	CHECK_INT(acme_manager_status(m, "a.example.com", &st), ==, 0);
	CHECK(st.has_cert);
	CHECK_INT(acme_manager_status(m, "c.example.com", &st), ==, -1);
	CHECK_INT(installed, ==, 2);

	/* a reload that leaves no way to answer is refused as a whole */
	f.c.listeners = f.ls + 1;
	f.c.n_listeners = 1;
	CHECK_INT(acme_manager_update_config(m, &f.c), ==, -1);
	CHECK_INT(acme_manager_status(m, "b.example.com", &st), ==, 0);

	/* ...but one that turns ACME off drops every name: none is renewed
	 * any more */
	f.ls[1].tls.acme = false;
	CHECK_INT(acme_manager_update_config(m, &f.c), ==, 0);
	CHECK_INT(acme_manager_status(m, "a.example.com", &st), ==, -1);
	CHECK_INT(acme_manager_status(m, "b.example.com", &st), ==, -1);

	acme_manager_free(m);
	event_base_free(base);
	fixture_free(&f);
}

static int
fake_alpn_set(void *arg, const char *name, const char *cert_pem,
    const char *key_pem)
{
	(void)arg;
	(void)name;
	(void)cert_pem;
	(void)key_pem;
	return 0;
}

static void
test_manager_needs_a_way_to_answer_a_challenge(void)
{
	struct fixture f;
	struct event_base *base = event_base_new();
	struct acme_hooks hooks = { .cert_installed = on_installed };
	struct acme_manager *m;

	/* only a TLS listener, and no TLS-ALPN-01 hook: nothing works */
	fixture_init(&f, false);
	CHECK(acme_manager_new(base, NULL, &f.c, &hooks) == NULL);
	/* with the hook, TLS-ALPN-01 is enough */
	hooks.tlsalpn01_set = fake_alpn_set;
	m = acme_manager_new(base, NULL, &f.c, &hooks);
	CHECK(m != NULL);
	acme_manager_free(m);
	/* http-01 only, and no plaintext listener: refused */
	f.c.acme.challenges[0] = ACME_CHALLENGE_HTTP01;
	f.c.acme.n_challenges = 1;
	CHECK(acme_manager_new(base, NULL, &f.c, &hooks) == NULL);
	event_base_free(base);
	fixture_free(&f);
}

HARNESS_MAIN(
    T(test_manager_installs_stored_certs_and_follows_reloads),
    T(test_manager_needs_a_way_to_answer_a_challenge))
