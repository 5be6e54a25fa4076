/* SPDX-License-Identifier: BSD-2-Clause */
/* store.c — see store.h. */
#include "acme/store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/fsutil.h"

#define STORE_MAX_PEM	(1024 * 1024)
#define STORE_MAX_KEY	(64 * 1024)

static char store_err[PATH_MAX + 128];

static const char *
sys_err(const char *what, const char *path)
{
	snprintf(store_err, sizeof store_err, "%s %s: %s", what, path,
	    strerror(errno));
	return store_err;
}

void
store_cert_free(struct store_cert *c)
{
	free(c->ari_id);
	free(c->serial);
	memset(c, 0, sizeof *c);
}

EVP_PKEY *
store_account_key(const char *state_dir, enum jws_key_type type,
    bool *created, const char **err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char *pem = NULL;
	size_t len;
	EVP_PKEY *key = NULL;

	*created = false;
	if (snprintf(dir, sizeof dir, "%s/acme", state_dir) >= (int)sizeof dir ||
	    snprintf(path, sizeof path, "%s/account.key", dir) >=
	    (int)sizeof path) {
		*err = "state_dir path too long";
		return NULL;
	}
	if (fsutil_read_secret(path, STORE_MAX_KEY, 0, &pem, &len) == 0) {
		key = jws_key_from_pem(pem, len);
		OPENSSL_cleanse(pem, len);
		free(pem);
		if (key == NULL) {
			snprintf(store_err, sizeof store_err,
			    "%s: not a usable account key (EC P-256 or RSA)",
			    path);
			*err = store_err;
		}
		return key;
	}
	if (errno != ENOENT) {
		*err = errno == EPERM ?
		    (snprintf(store_err, sizeof store_err,
		    "%s: readable by others; must be mode 0600", path),
		    store_err) : sys_err("cannot read", path);
		return NULL;
	}
	if (fsutil_mkdirs(dir, 0700) == -1) {
		*err = sys_err("cannot create", dir);
		return NULL;
	}
	if ((key = jws_key_new(type)) == NULL ||
	    (pem = jws_key_to_pem(key, &len)) == NULL) {
		*err = "cannot generate an account key";
		EVP_PKEY_free(key);
		return NULL;
	}
	if (fsutil_write_atomic(path, pem, len, 0600) == -1) {
		*err = sys_err("cannot write", path);
		EVP_PKEY_free(key);
		key = NULL;
	} else {
		*created = true;
	}
	OPENSSL_cleanse(pem, len);
	free(pem);
	return key;
}

int
store_account_key_write(const char *state_dir, const char *pem, size_t len,
    const char **err)
{
	char dir[PATH_MAX], path[PATH_MAX];

	if (snprintf(dir, sizeof dir, "%s/acme", state_dir) >= (int)sizeof dir ||
	    snprintf(path, sizeof path, "%s/account.key", dir) >=
	    (int)sizeof path) {
		*err = "state_dir path too long";
		return -1;
	}
	if (fsutil_mkdirs(dir, 0700) == -1) {
		*err = sys_err("cannot create", dir);
		return -1;
	}
	if (fsutil_write_atomic(path, pem, len, 0600) == -1) {
		*err = sys_err("cannot write", path);
		return -1;
	}
	return 0;
}

int
store_cert_paths(const char *state_dir, const char *name, char *cert_path,
    size_t cert_size, char *key_path, size_t key_size)
{
	if (snprintf(cert_path, cert_size, "%s/certs/%s/cert.pem", state_dir,
	    name) >= (int)cert_size ||
	    snprintf(key_path, key_size, "%s/certs/%s/key.pem", state_dir,
	    name) >= (int)key_size)
		return -1;
	return 0;
}

static int
asn1_time(const ASN1_TIME *a, time_t *out)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(a, &tm) != 1)
		return -1;
	*out = timegm(&tm);
	return 0;
}

/* RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial's DER
 * content octets, with any leading zero kept). */
static char *
ari_id(X509 *x)
{
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	unsigned char *der = NULL;
	char *a = NULL, *s = NULL, *out = NULL;
	int n;
	size_t hdr;

	if (aki == NULL || (n = i2d_ASN1_INTEGER(serial, &der)) <= 2)
		goto done;
	/* tag 0x02, then a short or long form length */
	hdr = der[1] & 0x80 ? 2 + (size_t)(der[1] & 0x7f) : 2;
	if (hdr >= (size_t)n)
		goto done;
	a = jws_b64url(ASN1_STRING_get0_data(aki),
	    (size_t)ASN1_STRING_length(aki));
	s = jws_b64url(der + hdr, (size_t)n - hdr);
	if (a != NULL && s != NULL &&
	    (out = malloc(strlen(a) + strlen(s) + 2)) != NULL)
		sprintf(out, "%s.%s", a, s);
done:
	OPENSSL_free(der);
	free(a);
	free(s);
	return out;
}

static char *
serial_hex(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *h = bn ? BN_bn2hex(bn) : NULL, *out = h ? strdup(h) : NULL;

	OPENSSL_free(h);
	BN_free(bn);
	return out;
}

int
store_cert_check(const char *pem, size_t len, const char *name, EVP_PKEY *key,
    time_t now, char **pem_out, struct store_cert *info, const char **err)
{
	BIO *in = NULL, *out = NULL;
	X509 *x, *leaf = NULL;
	int n = 0, rc = -1;
	char *data;
	long outlen;

	memset(info, 0, sizeof *info);
	if (pem_out)
		*pem_out = NULL;
	if (len > STORE_MAX_PEM || (in = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (out = BIO_new(BIO_s_mem())) == NULL) {
		*err = "certificate chain too large";
		goto done;
	}
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
		if (PEM_write_bio_X509(out, x) != 1) {
			X509_free(x);
			*err = "out of memory";
			goto done;
		}
		if (n++ == 0)
			leaf = x;
		else
			X509_free(x);
	}
	/* the loop ends at the end of input (expected) or at garbage */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE &&
	    ERR_peek_last_error() != 0) {
		ERR_clear_error();
		*err = "damaged PEM in certificate chain";
		goto done;
	}
	ERR_clear_error();
	if (leaf == NULL) {
		*err = "no certificate in response";
		goto done;
	}
	if (X509_check_host(leaf, name, 0, X509_CHECK_FLAG_NO_WILDCARDS,
	    NULL) != 1) {
		*err = "certificate is not for this name";
		goto done;
	}
	if (key != NULL && X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		*err = "certificate does not match its key";
		goto done;
	}
	if (asn1_time(X509_get0_notBefore(leaf), &info->not_before) == -1 ||
	    asn1_time(X509_get0_notAfter(leaf), &info->not_after) == -1) {
		*err = "bad validity dates";
		goto done;
	}
	if (info->not_after <= now) {
		*err = "certificate has expired";
		goto done;
	}
	info->ari_id = ari_id(leaf);
	info->serial = serial_hex(leaf);
	if (pem_out != NULL) {
		outlen = BIO_get_mem_data(out, &data);
		if (outlen <= 0 || (*pem_out = malloc((size_t)outlen + 1)) ==
		    NULL) {
			*err = "out of memory";
			goto done;
		}
		memcpy(*pem_out, data, (size_t)outlen);
		(*pem_out)[outlen] = '\0';
	}
	rc = 0;
done:
	if (rc == -1)
		store_cert_free(info);
	X509_free(leaf);
	BIO_free(in);
	BIO_free(out);
	return rc;
}

int
store_cert_load(const char *state_dir, const char *name, time_t now,
    struct store_cert *info, const char **err)
{
	char cpath[PATH_MAX], kpath[PATH_MAX];
	char *cert = NULL, *kpem = NULL;
	size_t clen, klen;
	EVP_PKEY *key = NULL;
	struct stat st;
	int rc = 0;

	memset(info, 0, sizeof *info);
	*err = NULL;
	if (store_cert_paths(state_dir, name, cpath, sizeof cpath, kpath,
	    sizeof kpath) == -1) {
		*err = "path too long";
		return -1;
	}
	if (fsutil_read_file(cpath, STORE_MAX_PEM, &cert, &clen) == -1) {
		if (errno == ENOENT)
			return 0;
		*err = sys_err("cannot read", cpath);
		return -1;
	}
	if (stat(cpath, &st) == -1) {
		*err = sys_err("cannot stat", cpath);
		rc = -1;
		goto done;
	}
	if (fsutil_read_secret(kpath, STORE_MAX_KEY, 0, &kpem, &klen) == -1) {
		if (errno == ENOENT) {
			*err = "certificate without key.pem";
		} else if (errno == EPERM) {
			snprintf(store_err, sizeof store_err,
			    "%s: readable by others; must be mode 0600", kpath);
			*err = store_err;
			rc = -1;
		} else {
			*err = sys_err("cannot read", kpath);
			rc = -1;
		}
		goto done;
	}
	if ((key = jws_key_from_pem(kpem, klen)) == NULL) {
		*err = "key.pem is not a usable key";
		goto done;
	}
	if (store_cert_check(cert, clen, name, key, now, NULL, info, err) == -1)
		goto done;
	info->obtained_at = st.st_mtime;
	rc = 1;
done:
	if (kpem != NULL) {
		OPENSSL_cleanse(kpem, klen);
		free(kpem);
	}
	free(cert);
	EVP_PKEY_free(key);
	return rc;
}

int
store_cert_save(const char *state_dir, const char *name, const char *cert_pem,
    size_t cert_len, const char *key_pem, size_t key_len, const char **err)
{
	char cpath[PATH_MAX], kpath[PATH_MAX], dir[PATH_MAX];

	if (store_cert_paths(state_dir, name, cpath, sizeof cpath, kpath,
	    sizeof kpath) == -1 ||
	    snprintf(dir, sizeof dir, "%s/certs/%s", state_dir, name) >=
	    (int)sizeof dir) {
		*err = "path too long";
		return -1;
	}
	if (fsutil_mkdirs(dir, 0700) == -1) {
		*err = sys_err("cannot create", dir);
		return -1;
	}
	if (fsutil_write_atomic(kpath, key_pem, key_len, 0600) == -1) {
		*err = sys_err("cannot write", kpath);
		return -1;
	}
	if (fsutil_write_atomic(cpath, cert_pem, cert_len, 0644) == -1) {
		*err = sys_err("cannot write", cpath);
		return -1;
	}
	return 0;
}
