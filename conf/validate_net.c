/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * validate_net.c — listeners: unique names, IP addresses only, no two
 * sockets on the same address (admin and backup endpoints included), and
 * TLS certificates and keys that load and match (OpenSSL).
 */
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "conf/diag.h"
#include "conf/schema.h"
#include "conf/validate.h"

struct net_sock {
	const struct conf_addr *addr;
	const struct ynode *node;
	char path[96];
};

static bool
net_is_wildcard(const struct conf_addr *a)
{
	if (a->host == NULL)
		return true;
	if (a->sa.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	if (a->sa.ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
		    &((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
	return false;
}

static bool
net_collide(const struct conf_addr *a, const struct conf_addr *b)
{
	if (a->port != b->port)
		return false;
	if (net_is_wildcard(a) || net_is_wildcard(b))
		return true;
	if (a->sa.ss_family != b->sa.ss_family)
		return false;
	if (a->sa.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)&b->sa)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr,
	    &((const struct sockaddr_in6 *)&b->sa)->sin6_addr, 16) == 0;
}

static const char *
net_ssl_error(void)
{
	unsigned long e = ERR_peek_error();	/* the first, the cause */
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : "unknown OpenSSL error";
}

/* Never prompt on a terminal for an encrypted key: refuse it. */
static int
net_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

static void
net_check_cert(struct conf_ctx *x, const struct ynode *cn,
    const struct conf_cert *cert, size_t li, size_t ci)
{
	const struct ynode *certn = conf_validate_at(cn, "cert");
	const struct ynode *keyn = conf_validate_at(cn, "key");
	SSL_CTX *ctx;
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	int ok = 0;

	if (cert->cert_file == NULL || cert->key_file == NULL)
		return;
	conf_validate_path(x, "listeners[%zu].tls.certificates[%zu].cert", li,
	    ci);
	if (conf_validate_readable(x, certn, cert->cert_file) == 0)
		ok++;
	conf_validate_path(x, "listeners[%zu].tls.certificates[%zu].key", li,
	    ci);
	if (conf_validate_readable(x, keyn, cert->key_file) == 0)
		ok++;
	if (ok != 2)
		return;
	if ((ctx = SSL_CTX_new(TLS_method())) == NULL) {
		conf_err(x, keyn, "out of memory");
		return;
	}
	ERR_clear_error();
	conf_validate_path(x, "listeners[%zu].tls.certificates[%zu].cert", li,
	    ci);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert->cert_file) != 1) {
		conf_err(x, certn, "cannot load certificate '%s': %s",
		    cert->cert_file, net_ssl_error());
		goto done;
	}
	conf_validate_path(x, "listeners[%zu].tls.certificates[%zu].key", li,
	    ci);
	if ((bio = BIO_new_file(cert->key_file, "r")) == NULL ||
	    (key = PEM_read_bio_PrivateKey(bio, NULL,
	    net_no_passphrase, NULL)) == NULL) {
		conf_err(x, keyn, "cannot load private key '%s': %s",
		    cert->key_file, net_ssl_error());
		goto done;
	}
	if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), key) != 1)
		conf_err(x, keyn, "'%s' does not match the certificate '%s'",
		    cert->key_file, cert->cert_file);
done:
	ERR_clear_error();
	EVP_PKEY_free(key);
	BIO_free(bio);
	SSL_CTX_free(ctx);
}

static void
net_add(struct net_sock *socks, size_t *n, const struct conf_addr *a,
    const struct ynode *node, const char *path)
{
	socks[*n].addr = a;
	socks[*n].node = node;
	snprintf(socks[*n].path, sizeof socks[*n].path, "%s", path);
	(*n)++;
}

void
conf_validate_listeners(struct conf_ctx *x, const struct ynode *root)
{
	const struct ynode *ll = conf_yaml_get(root, "listeners");
	struct config *c = x->c;
	struct net_sock *socks;
	size_t total = 2, n = 0;
	char path[96];

	for (size_t i = 0; i < c->n_listeners; i++)
		total += c->listeners[i].n_addrs;
	if ((socks = calloc(total, sizeof *socks)) == NULL) {
		conf_err(x, root, "out of memory");
		return;
	}
	for (size_t i = 0; i < c->n_listeners; i++) {
		struct conf_listener *l = &c->listeners[i];
		const struct ynode *ln = conf_validate_item(ll, i);
		const struct ynode *an = conf_yaml_get(ln, "listen");

		for (size_t j = 0; l->name && j < i; j++) {
			if (c->listeners[j].name &&
			    strcmp(c->listeners[j].name, l->name) == 0) {
				conf_validate_path(x, "listeners[%zu].name", i);
				conf_err(x, conf_validate_at(ln, "name"),
				    "duplicate listener name '%s' (first at "
				    "line %d)", l->name, c->listeners[j].line);
				break;
			}
		}
		for (size_t k = 0; k < l->n_addrs; k++) {
			const struct ynode *node = conf_validate_item(an, k);
			if (an && an->kind == YNODE_SEQ)
				snprintf(path, sizeof path,
				    "listeners[%zu].listen[%zu]", i, k);
			else
				snprintf(path, sizeof path,
				    "listeners[%zu].listen", i);
			if (l->addrs[k].text == NULL)
				continue;	/* did not parse */
			if (l->addrs[k].is_name) {
				conf_validate_path(x, "%s", path);
				conf_err(x, node, "'%s': listen on an IP address "
				    "or :port, not a host name",
				    l->addrs[k].text);
				continue;
			}
			net_add(socks, &n, &l->addrs[k], node, path);
		}
		if (l->tls.enabled) {
			const struct ynode *tn = conf_yaml_get(ln, "tls");
			const struct ynode *cl = conf_yaml_get(tn, "certificates");
			if (l->tls.acme && !c->acme.enabled) {
				conf_validate_path(x, "listeners[%zu].tls.acme", i);
				conf_err(x, conf_validate_at(tn, "acme"),
				    "needs an acme: section");
			}
			for (size_t k = 0; k < l->tls.n_certs; k++)
				net_check_cert(x, conf_validate_item(cl, k),
				    &l->tls.certs[k], i, k);
		}
	}
	const struct ynode *adm = conf_yaml_get(root, "admin");
	if (c->admin.enabled && c->admin.listen.text != NULL) {
		if (c->admin.listen.is_name) {
			conf_validate_path(x, "admin.listen");
			conf_err(x, conf_validate_at(adm, "listen"),
			    "'%s': listen on an IP address, not a host name",
			    c->admin.listen.text);
		} else
			net_add(socks, &n, &c->admin.listen,
			    conf_validate_at(adm, "listen"), "admin.listen");
	}
	const struct ynode *bk = conf_yaml_get(root, "backup");
	if (c->backup.enabled && c->backup.has_listen &&
	    c->backup.listen.text != NULL) {
		if (c->backup.listen.is_name) {
			conf_validate_path(x, "backup.listen");
			conf_err(x, conf_validate_at(bk, "listen"),
			    "'%s': listen on an IP address, not a host name",
			    c->backup.listen.text);
		} else
			net_add(socks, &n, &c->backup.listen,
			    conf_validate_at(bk, "listen"), "backup.listen");
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (!net_collide(socks[i].addr, socks[j].addr))
				continue;
			conf_validate_path(x, "%s", socks[i].path);
			conf_err(x, socks[i].node, "'%s' collides with %s '%s' "
			    "(line %d)", socks[i].addr->text, socks[j].path,
			    socks[j].addr->text, socks[j].node->line);
			break;
		}
	}
	free(socks);
}
