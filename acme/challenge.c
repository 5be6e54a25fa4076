/* SPDX-License-Identifier: BSD-2-Clause */
/* challenge.c — see challenge.h. */
#include "acme/challenge.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme/jws.h"

struct challenge_entry {
	struct challenge_entry *next;
	char *token;
	char *key_authorization;
};

struct challenge_store {
	pthread_mutex_t lock;
	struct challenge_entry *head;	/* a handful at a time: a list */
};

struct challenge_store *
challenge_store_new(void)
{
	struct challenge_store *s = calloc(1, sizeof *s);

	if (s != NULL && pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		s = NULL;
	}
	return s;
}

void
challenge_store_free(struct challenge_store *s)
{
	struct challenge_entry *e, *next;

	if (s == NULL)
		return;
	for (e = s->head; e != NULL; e = next) {
		next = e->next;
		free(e->token);
		free(e->key_authorization);
		free(e);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int
challenge_store_set(struct challenge_store *s, const char *token,
    const char *key_authorization)
{
	struct challenge_entry *e = calloc(1, sizeof *e);

	if (e == NULL || (e->token = strdup(token)) == NULL ||
	    (e->key_authorization = strdup(key_authorization)) == NULL) {
		if (e != NULL)
			free(e->token);
		free(e);
		return -1;
	}
	challenge_store_clear(s, token);
	pthread_mutex_lock(&s->lock);
	e->next = s->head;
	s->head = e;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void
challenge_store_clear(struct challenge_store *s, const char *token)
{
	struct challenge_entry **pp, *e;

	pthread_mutex_lock(&s->lock);
	for (pp = &s->head; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->token, token) == 0) {
			*pp = e->next;
			free(e->token);
			free(e->key_authorization);
			free(e);
			break;
		}
	pthread_mutex_unlock(&s->lock);
}

int
challenge_store_lookup(struct challenge_store *s, const char *token,
    char *out, size_t outsize)
{
	struct challenge_entry *e;
	int rc = -1;

	pthread_mutex_lock(&s->lock);
	for (e = s->head; e != NULL; e = e->next)
		if (strcmp(e->token, token) == 0) {
			size_t n = strlen(e->key_authorization);
			if (n < outsize) {
				memcpy(out, e->key_authorization, n + 1);
				rc = (int)n;
			}
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

const char *
challenge_http01_token(const char *path)
{
	const char *t;
	size_t n;

	if (strncmp(path, CHALLENGE_HTTP01_PREFIX,
	    sizeof CHALLENGE_HTTP01_PREFIX - 1) != 0)
		return NULL;
	t = path + sizeof CHALLENGE_HTTP01_PREFIX - 1;
	n = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_");
	if (n == 0 || n > 256 || t[n] != '\0')
		return NULL;
	return t;
}

static char *
pem_of_cert(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (b != NULL && PEM_write_bio_X509(b, x) == 1 &&
	    (n = BIO_get_mem_data(b, &data)) > 0 &&
	    (out = malloc((size_t)n + 1)) != NULL) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	return out;
}

int
challenge_tlsalpn_cert(const char *name, const char *key_authorization,
    char **cert_pem, char **key_pem)
{
	EVP_PKEY *key = jws_key_new(JWS_KEY_EC_P256);
	X509 *x = X509_new();
	X509_NAME *subj = NULL;
	X509_EXTENSION *ext = NULL;
	ASN1_OBJECT *oid = NULL;
	ASN1_OCTET_STRING *digest = NULL, *extval = NULL;
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *g = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	unsigned char md[32], serial[16], *der = NULL;
	unsigned int mdlen;
	int derlen, rc = -1;
	BIGNUM *bn = NULL;

	*cert_pem = *key_pem = NULL;
	if (key == NULL || x == NULL || X509_set_version(x, X509_VERSION_3) != 1)
		goto done;
	if (RAND_bytes(serial, sizeof serial) != 1)
		goto done;
	serial[0] &= 0x7f;
	if ((bn = BN_bin2bn(serial, sizeof serial, NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto done;
	if (X509_gmtime_adj(X509_getm_notBefore(x), -86400) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400) == NULL ||
	    (subj = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_ASC,
	    (const unsigned char *)"limen ACME TLS-ALPN-01", -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, subj) != 1 ||
	    X509_set_issuer_name(x, subj) != 1 ||
	    X509_set_pubkey(x, key) != 1)
		goto done;
	/* subjectAltName: exactly the name being validated (RFC 8737 §3) */
	if ((gens = GENERAL_NAMES_new()) == NULL ||
	    (g = GENERAL_NAME_new()) == NULL ||
	    (ia5 = ASN1_IA5STRING_new()) == NULL ||
	    ASN1_STRING_set(ia5, name, -1) != 1)
		goto done;
	GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
	ia5 = NULL;
	if (sk_GENERAL_NAME_push(gens, g) == 0)
		goto done;
	g = NULL;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT) != 1)
		goto done;
	/* id-pe-acmeIdentifier, critical, holding the DER of an OCTET
	 * STRING with SHA-256 of the key authorization */
	if (EVP_Digest(key_authorization, strlen(key_authorization), md,
	    &mdlen, EVP_sha256(), NULL) != 1 ||
	    (digest = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(digest, md, (int)mdlen) != 1 ||
	    (derlen = i2d_ASN1_OCTET_STRING(digest, &der)) <= 0 ||
	    (extval = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(extval, der, derlen) != 1 ||
	    (oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1)) == NULL ||
	    (ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, extval)) == NULL ||
	    X509_add_ext(x, ext, -1) != 1)
		goto done;
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto done;
	if ((*cert_pem = pem_of_cert(x)) == NULL ||
	    (*key_pem = jws_key_to_pem(key, NULL)) == NULL) {
		free(*cert_pem);
		*cert_pem = NULL;
		goto done;
	}
	rc = 0;
done:
	BN_free(bn);
	OPENSSL_free(der);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(digest);
	ASN1_OCTET_STRING_free(extval);
	X509_EXTENSION_free(ext);
	GENERAL_NAME_free(g);
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(subj);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}
