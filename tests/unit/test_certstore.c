/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_certstore.c — certificate bundles, name lookup, swaps while other
 * threads look up, installs, reloads and self-signed fallbacks.  Every
 * certificate and key is generated here at test time.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "proxy/certstore.h"
#include "tests/unit/harness.h"
#include "tests/unit/tls_testutil.h"

/* Select for name and tell whether the ECDSA / RSA answers are a / b. */
static int
selects(struct certstore *s, const char *name, const struct cert_bundle *ec,
    const struct cert_bundle *rsa)
{
	struct cert_bundle *out[CERTBUNDLE_KEY__MAX];
	int ok;

	certstore_select(s, name, out);
	ok = out[CERTBUNDLE_KEY_ECDSA] == ec && out[CERTBUNDLE_KEY_RSA] == rsa;
	certbundle_unref(out[CERTBUNDLE_KEY_ECDSA]);
	certbundle_unref(out[CERTBUNDLE_KEY_RSA]);
	return ok;
}

static void
test_certstore_selects_exact_then_wildcard_then_first(void)
{
	struct cert_bundle *first = tu_bundle(CERTBUNDLE_KEY_ECDSA, "first",
	    "DNS:first.example");
	struct cert_bundle *wild = tu_bundle(CERTBUNDLE_KEY_ECDSA, "wild",
	    "DNS:*.example.com");
	struct cert_bundle *exact = tu_bundle(CERTBUNDLE_KEY_ECDSA, "exact",
	    "DNS:app.example.com");
	struct conf_cert cc[3];
	struct certstore *s = certstore_new();
	char err[256];

	cc[0] = tu_conf_cert(first, "first");
	cc[1] = tu_conf_cert(wild, "wild");
	cc[2] = tu_conf_cert(exact, "exact");
	REQUIRE(certstore_set_static(s, cc, 3, err, sizeof err) == 0);
	/* the store loaded its own copies: compare by certificate */
	{
		struct cert_bundle *out[CERTBUNDLE_KEY__MAX];

		certstore_select(s, "app.example.com", out);
		CHECK(X509_cmp(certbundle_leaf(out[0]),
		    certbundle_leaf(exact)) == 0);
		certbundle_unref(out[0]);
		certstore_select(s, "other.example.com", out);
		CHECK(X509_cmp(certbundle_leaf(out[0]),
		    certbundle_leaf(wild)) == 0);
		certbundle_unref(out[0]);
		/* one label only */
		certstore_select(s, "a.b.example.com", out);
		CHECK(X509_cmp(certbundle_leaf(out[0]),
		    certbundle_leaf(first)) == 0);
		certbundle_unref(out[0]);
		/* the bare parent is not covered by its wildcard */
		certstore_select(s, "example.com", out);
		CHECK(X509_cmp(certbundle_leaf(out[0]),
		    certbundle_leaf(first)) == 0);
		certbundle_unref(out[0]);
		/* no SNI */
		certstore_select(s, NULL, out);
		CHECK(X509_cmp(certbundle_leaf(out[0]),
		    certbundle_leaf(first)) == 0);
		certbundle_unref(out[0]);
		CHECK(out[1] == NULL);
	}
	CHECK(certstore_covers(s, "x.example.com"));
	CHECK(certstore_covers(s, "APP.example.com."));
	CHECK(!certstore_covers(s, "a.b.example.com"));
	certstore_unref(s);
	certbundle_unref(first);
	certbundle_unref(wild);
	certbundle_unref(exact);
}

static void
test_certstore_keeps_ecdsa_and_rsa_side_by_side(void)
{
	struct cert_bundle *ec = tu_bundle(CERTBUNDLE_KEY_ECDSA, "ec",
	    "DNS:app.example.com");
	struct cert_bundle *rsa = tu_bundle(CERTBUNDLE_KEY_RSA, "rsa",
	    "DNS:app.example.com,DNS:rsa.example.com");
	struct cert_bundle *ec2 = tu_bundle(CERTBUNDLE_KEY_ECDSA, "ec2",
	    "DNS:app.example.com");
	struct certstore *s = certstore_new();
	char err[256];

	REQUIRE(certstore_install_bundle(s, "app.example.com", ec, err,
	    sizeof err) == 0);
	/* a second install replaces what the name had */
	REQUIRE(certstore_install_bundle(s, "app.example.com", rsa, err,
	    sizeof err) == 0);
	CHECK(selects(s, "app.example.com", NULL, rsa));
	/* static certificates of both types for one name */
	{
		struct conf_cert cc[3];

		cc[0] = tu_conf_cert(ec, "ec");
		cc[1] = tu_conf_cert(rsa, "rsa");
		cc[2] = tu_conf_cert(ec2, "ec2");
		REQUIRE(certstore_set_static(s, cc, 3, err, sizeof err) == 0);
	}
	{
		struct cert_bundle *out[CERTBUNDLE_KEY__MAX];

		CHECK_INT(certstore_select(s, "app.example.com", out), ==, 2);
		REQUIRE(out[0] != NULL && out[1] != NULL);
		/* the first static ECDSA wins over the later one */
		CHECK(X509_cmp(certbundle_leaf(out[0]),
		    certbundle_leaf(ec)) == 0);
		CHECK_INT(certbundle_type(out[1]), ==,
		    CERTBUNDLE_KEY_RSA);
		certbundle_unref(out[0]);
		certbundle_unref(out[1]);
		/* the default is the first certificate's name, both types */
		CHECK_INT(certstore_select(s, "unknown.test", out), ==, 2);
		certbundle_unref(out[0]);
		certbundle_unref(out[1]);
		/* a name only the RSA certificate has */
		CHECK_INT(certstore_select(s, "rsa.example.com", out), ==, 1);
		CHECK(out[0] == NULL && out[1] != NULL);
		certbundle_unref(out[1]);
	}
	certstore_unref(s);
	certbundle_unref(ec);
	certbundle_unref(rsa);
	certbundle_unref(ec2);
}

static void
test_certstore_install_checks_name_and_expiry(void)
{
	struct certstore *s = certstore_new();
	EVP_PKEY *k = tu_key(CERTBUNDLE_KEY_ECDSA);
	X509 *old = tu_cert(k, "x", "DNS:app.example.com", NULL, NULL, 0,
	    -86400 * 2, -86400);
	const char *cp, *kp;
	char err[256] = "";
	unsigned long gen;

	struct cert_bundle *b = tu_bundle(CERTBUNDLE_KEY_ECDSA, "a",
	    "DNS:app.example.com");
	tu_write_bundle(b, "app", &cp, &kp);
	gen = certstore_generation(s);
	CHECK_INT(certstore_install(s, "other.example.com", cp, kp, err,
	    sizeof err), ==, -1);
	CHECK(strstr(err, "does not cover") != NULL);
	CHECK_INT(certstore_install(s, "bad name!", cp, kp, err, sizeof err),
	    ==, -1);
	CHECK_INT(certstore_generation(s), ==, gen);
	CHECK_INT(certstore_install(s, "App.Example.com", cp, kp, err,
	    sizeof err), ==, 0);
	CHECK_INT(certstore_generation(s), ==, gen + 1);
	CHECK(certstore_covers(s, "app.example.com"));
	/* expired */
	tu_write_pem(old, NULL, k, "old", &cp, &kp);
	CHECK_INT(certstore_install(s, "app.example.com", cp, kp, err,
	    sizeof err), ==, -1);
	CHECK(strstr(err, "expired") != NULL);
	/* remove */
	CHECK_INT(certstore_remove(s, "app.example.com"), ==, 0);
	CHECK(!certstore_covers(s, "app.example.com"));
	CHECK_INT(certstore_remove(s, "app.example.com"), ==, -1);
	certbundle_unref(b);
	certstore_unref(s);
	X509_free(old);
	EVP_PKEY_free(k);
}

static void
test_certstore_set_static_is_all_or_nothing(void)
{
	struct cert_bundle *a = tu_bundle(CERTBUNDLE_KEY_ECDSA, "a",
	    "DNS:a.example");
	struct conf_cert cc[2];
	struct certstore *s = certstore_new();
	struct cert_bundle *out[CERTBUNDLE_KEY__MAX];
	char err[256] = "";

	cc[0] = tu_conf_cert(a, "a");
	REQUIRE(certstore_set_static(s, cc, 1, err, sizeof err) == 0);
	cc[1].cert_file = "/nonexistent/b.crt";
	cc[1].key_file = "/nonexistent/b.key";
	CHECK_INT(certstore_set_static(s, cc, 2, err, sizeof err), ==, -1);
	CHECK(strstr(err, "/nonexistent/b.crt") != NULL);
	CHECK_INT(certstore_select(s, "a.example", out), ==, 1);
	certbundle_unref(out[0]);
	/* an empty list empties the store */
	CHECK_INT(certstore_set_static(s, NULL, 0, err, sizeof err), ==, 0);
	CHECK_INT(certstore_select(s, "a.example", out), ==, 0);
	certstore_unref(s);
	certbundle_unref(a);
}

static void
test_certstore_fallback_only_for_uncovered_names(void)
{
	struct cert_bundle *wild = tu_bundle(CERTBUNDLE_KEY_ECDSA, "w",
	    "DNS:*.example.com");
	struct cert_bundle *real = tu_bundle(CERTBUNDLE_KEY_ECDSA, "r",
	    "DNS:new.example.org");
	struct certstore *s = certstore_new();
	struct cert_bundle *out[CERTBUNDLE_KEY__MAX];
	struct conf_cert cc;
	char err[256];
	bool created;

	cc = tu_conf_cert(wild, "wild");
	REQUIRE(certstore_set_static(s, &cc, 1, err, sizeof err) == 0);
	REQUIRE(certstore_ensure_fallback(s, "app.example.com", &created, err,
	    sizeof err) == 0);
	CHECK(!created);
	REQUIRE(certstore_ensure_fallback(s, "new.example.org", &created, err,
	    sizeof err) == 0);
	CHECK(created);
	CHECK(!certstore_covers(s, "new.example.org"));
	REQUIRE(certstore_select(s, "new.example.org", out) == 1);
	{
		X509 *x = certbundle_leaf(out[0]);
		time_t na = certbundle_not_after(out[0]);

		CHECK(X509_check_host(x, "new.example.org", 0, 0, NULL) == 1);
		CHECK(X509_NAME_cmp(X509_get_subject_name(x),
		    X509_get_issuer_name(x)) == 0);
		CHECK(X509_verify(x, X509_get0_pubkey(x)) == 1);
		CHECK(na > time(NULL) + CERTSTORE_FALLBACK_LIFETIME - 120);
		CHECK(na <= time(NULL) + CERTSTORE_FALLBACK_LIFETIME);
	}
	certbundle_unref(out[0]);
	/* a fresh fallback is kept, not regenerated */
	REQUIRE(certstore_ensure_fallback(s, "new.example.org", &created, err,
	    sizeof err) == 0);
	CHECK(!created);
	/* the real certificate replaces it */
	REQUIRE(certstore_install_bundle(s, "new.example.org", real, err,
	    sizeof err) == 0);
	CHECK(selects(s, "new.example.org", real, NULL));
	CHECK(certstore_covers(s, "new.example.org"));
	certstore_unref(s);
	certbundle_unref(wild);
	certbundle_unref(real);
}

static void
test_certstore_reload_rereads_files_and_keeps_old_on_failure(void)
{
	struct cert_bundle *v1 = tu_bundle(CERTBUNDLE_KEY_ECDSA, "v1",
	    "DNS:app.example.com");
	struct cert_bundle *v2 = tu_bundle(CERTBUNDLE_KEY_ECDSA, "v2",
	    "DNS:app.example.com");
	struct cert_bundle *out[CERTBUNDLE_KEY__MAX];
	struct certstore *s = certstore_new();
	const char *cp, *kp;
	char ip[128], kp2[128], err[256] = "";
	struct conf_cert cc;

	cc = tu_conf_cert(v1, "static");
	REQUIRE(certstore_set_static(s, &cc, 1, err, sizeof err) == 0);
	tu_write_bundle(v1, "inst", &cp, &kp);
	snprintf(ip, sizeof ip, "%s", cp);
	snprintf(kp2, sizeof kp2, "%s", kp);
	REQUIRE(certstore_install(s, "app.example.com", ip, kp2, err,
	    sizeof err) == 0);

	/* the static file changes on disk; the installed one breaks */
	tu_write_bundle(v2, "static", &cp, &kp);
	REQUIRE(truncate(ip, 10) == 0);
	CHECK_INT(certstore_reload(s, err, sizeof err), ==, -1);
	CHECK(strstr(err, ip) != NULL);
	certstore_select(s, "app.example.com", out);
	REQUIRE(out[0] != NULL);
	CHECK(X509_cmp(certbundle_leaf(out[0]),
	    certbundle_leaf(v2)) == 0);
	certbundle_unref(out[0]);
	/* the installed one kept its old certificate */
	CHECK_INT(certstore_set_static(s, NULL, 0, err, sizeof err), ==, 0);
	certstore_select(s, "app.example.com", out);
	REQUIRE(out[0] != NULL);
	CHECK(X509_cmp(certbundle_leaf(out[0]),
	    certbundle_leaf(v1)) == 0);
	certbundle_unref(out[0]);
	certstore_unref(s);
	certbundle_unref(v1);
	certbundle_unref(v2);
}

static void
test_certstore_replaced_bundle_lives_while_held(void)
{
	struct cert_bundle *v1 = tu_bundle(CERTBUNDLE_KEY_ECDSA, "v1",
	    "DNS:app.example.com");
	struct cert_bundle *v2 = tu_bundle(CERTBUNDLE_KEY_ECDSA, "v2",
	    "DNS:app.example.com");
	struct cert_bundle *held[CERTBUNDLE_KEY__MAX];
	struct certstore *s = certstore_new();
	char err[256];

	REQUIRE(certstore_install_bundle(s, "app.example.com", v1, err,
	    sizeof err) == 0);
	certstore_select(s, "app.example.com", held);
	certbundle_unref(v1);	/* now the handshake's ref and the table's */
	REQUIRE(certstore_install_bundle(s, "app.example.com", v2, err,
	    sizeof err) == 0);
	CHECK(selects(s, "app.example.com", v2, NULL));
	/* the replaced bundle is still whole for its holder */
	CHECK_STR(certbundle_name(held[0], 0), "app.example.com");
	CHECK(X509_check_private_key(certbundle_leaf(held[0]),
	    certbundle_key(held[0])) == 1);
	certbundle_unref(held[0]);
	certstore_unref(s);
	certbundle_unref(v2);
}

struct reader_arg {
	struct certstore *s;
	atomic_int *stop;
	long lookups;
	int bad;
};

static void *
reader(void *p)
{
	struct reader_arg *a = p;
	struct cert_bundle *out[CERTBUNDLE_KEY__MAX];

	while (!atomic_load(a->stop)) {
		if (certstore_select(a->s, "app.example.com", out) != 1 ||
		    out[0] == NULL ||
		    strcmp(certbundle_name(out[0], 0),
		    "app.example.com") != 0)
			a->bad++;
		certbundle_unref(out[0]);
		certbundle_unref(out[1]);
		a->lookups++;
	}
	return NULL;
}

static void
test_certstore_swaps_while_other_threads_select(void)
{
	struct cert_bundle *v[2] = {
		tu_bundle(CERTBUNDLE_KEY_ECDSA, "v1", "DNS:app.example.com"),
		tu_bundle(CERTBUNDLE_KEY_ECDSA, "v2", "DNS:app.example.com"),
	};
	struct certstore *s = certstore_new();
	struct reader_arg args[3];
	pthread_t th[3];
	atomic_int stop = 0;
	char err[256];

	REQUIRE(certstore_install_bundle(s, "app.example.com", v[0], err,
	    sizeof err) == 0);
	for (int i = 0; i < 3; i++) {
		args[i] = (struct reader_arg){ s, &stop, 0, 0 };
		REQUIRE(pthread_create(&th[i], NULL, reader, &args[i]) == 0);
	}
	for (int i = 0; i < 2000; i++)
		CHECK_INT(certstore_install_bundle(s, "app.example.com",
		    v[i % 2], err, sizeof err), ==, 0);
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(args[i].bad, ==, 0);
	}
	certstore_unref(s);
	certbundle_unref(v[0]);
	certbundle_unref(v[1]);
}

HARNESS_MAIN(
    T(test_certstore_selects_exact_then_wildcard_then_first),
    T(test_certstore_keeps_ecdsa_and_rsa_side_by_side),
    T(test_certstore_install_checks_name_and_expiry),
    T(test_certstore_set_static_is_all_or_nothing),
    T(test_certstore_fallback_only_for_uncovered_names),
    T(test_certstore_reload_rereads_files_and_keeps_old_on_failure),
    T(test_certstore_replaced_bundle_lives_while_held),
    T(test_certstore_swaps_while_other_threads_select))
