/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * admin_certs.c — the static certificates of the configuration (listeners'
 * tls.certificates) in the metrics' certificate table, so /metrics, the
 * status API and the page show their expiry like ACME's.
 *
 * Only the certificate files are read (the leaf, first PEM block), never
 * the keys: the admin thread has no business with private keys.  Names
 * are the leaf's DNS subjectAltNames, else its CN.  ACME certificates
 * reach the same table through metrics_cert_set() from the ACME manager.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "conf/config.h"
#include "proxy/admin_internal.h"
#include "proxy/metrics.h"

#define ADMIN_CERTS_SOURCE "static"

static time_t
admin_certs_not_after(X509 *x)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		return 0;
	return timegm(&tm);
}

static void
admin_certs_add(const char *file)
{
	GENERAL_NAMES *sans;
	X509 *x = NULL;
	BIO *b;
	time_t na;
	int n_dns = 0;

	if ((b = BIO_new_file(file, "r")) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		log_debug("admin: certificate %s not readable", file);
		BIO_free(b);
		return;
	}
	BIO_free(b);
	na = admin_certs_not_after(x);
	sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		const unsigned char *d;
		char name[256];
		int len;

		if (g->type != GEN_DNS)
			continue;
		d = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || len >= (int)sizeof(name) ||
		    memchr(d, '\0', (size_t)len) != NULL)
			continue;
		memcpy(name, d, (size_t)len);
		name[len] = '\0';
		metrics_cert_set(name, na, ADMIN_CERTS_SOURCE);
		n_dns++;
	}
	GENERAL_NAMES_free(sans);
	if (n_dns == 0) {
		char cn[256];

		if (X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		    NID_commonName, cn, sizeof(cn)) > 0)
			metrics_cert_set(cn, na, ADMIN_CERTS_SOURCE);
	}
	X509_free(x);
}

void
admin_certs_scan(const struct config *c)
{
	metrics_cert_mark(ADMIN_CERTS_SOURCE);
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_tls *t = &c->listeners[i].tls;

		if (!t->enabled)
			continue;
		for (size_t j = 0; j < t->n_certs; j++)
			if (t->certs[j].cert_file != NULL)
				admin_certs_add(t->certs[j].cert_file);
	}
	metrics_cert_sweep(ADMIN_CERTS_SOURCE);
}
