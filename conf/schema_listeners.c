/* SPDX-License-Identifier: BSD-2-Clause */
/* schema_listeners.c — the key tables of `listeners:` and their `tls:`. */
#include <openssl/tls1.h>

#include "conf/schema.h"

#define L(f) offsetof(struct conf_listener, f)
#define T(f) offsetof(struct conf_tls, f)
#define C(f) offsetof(struct conf_cert, f)

static const struct conf_key cert_keys[] = {
	{ .name = "cert", .type = &conf_t_path, .off = C(cert_file),
	  .flags = CK_REQUIRED, .example = "/etc/limen/tls/example.crt",
	  .doc = "PEM certificate chain, leaf first" },
	{ .name = "key", .type = &conf_t_path, .off = C(key_file),
	  .flags = CK_REQUIRED, .example = "/etc/limen/tls/example.key",
	  .doc = "PEM private key matching the certificate" },
	{ .name = NULL },
};

static const struct conf_section cert_section = {
	.name = "listeners[].tls.certificates[]", .keys = cert_keys,
	.size = sizeof(struct conf_cert),
	.doc = "A static certificate; chosen by SNI among the names it holds.",
};

static const struct conf_enum tls_versions[] = {
	{ "1.2", TLS1_2_VERSION }, { "1.3", TLS1_3_VERSION }, { NULL, 0 },
};

static void
tls_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	struct conf_tls *t = obj;

	if (!t->acme && t->n_certs == 0)
		conf_err(x, n, "needs acme: true or certificates");
}

static const struct conf_key tls_keys[] = {
	{ .name = "acme", .type = &conf_t_bool, .off = T(acme), .def = "false",
	  .doc = "obtain certificates for the route hosts over ACME" },
	{ .name = "certificates", .type = &conf_t_list, .off = T(certs),
	  .off2 = T(n_certs), .sub = &cert_section,
	  .doc = "static certificates, chosen by SNI" },
	{ .name = "min_version", .type = &conf_t_enum, .off = T(min_version),
	  .def = "1.2", .enums = tls_versions, .doc = "\"1.2\" or \"1.3\"" },
	{ .name = NULL },
};

static const struct conf_section tls_section = {
	.name = "listeners[].tls", .keys = tls_keys,
	.size = sizeof(struct conf_tls), .finish = tls_finish,
	.doc = "TLS on this listener.  Needs `acme: true`, `certificates`, "
	    "or both (static certificates win for their names).",
};

static void
listener_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	struct conf_listener *l = obj;

	l->line = n->line;
	l->col = n->col;
	if (l->tls.enabled && l->redirect_https)
		conf_err_key(x, n, "redirect_https", "a TLS listener cannot "
		    "redirect to https (it would loop)");
}

static const struct conf_key listener_keys[] = {
	{ .name = "name", .type = &conf_t_string, .off = L(name),
	  .flags = CK_REQUIRED, .example = "websecure",
	  .doc = "unique name, used in logs and metrics" },
	{ .name = "listen", .type = &conf_t_addrs, .off = L(addrs),
	  .off2 = L(n_addrs), .flags = CK_REQUIRED, .example = "[\":443\"]",
	  .doc = "one address or a list: host:port, :port, [::1]:port" },
	{ .name = "redirect_https", .type = &conf_t_bool,
	  .off = L(redirect_https), .def = "false",
	  .doc = "answer 308 to https://, except ACME HTTP-01 paths" },
	{ .name = "proxy_protocol", .type = &conf_t_bool,
	  .off = L(proxy_protocol), .def = "false",
	  .doc = "expect PROXY v1/v2 from a fronting load balancer" },
	{ .name = "http2", .type = &conf_t_bool, .off = L(http2), .def = "true",
	  .doc = "offer h2 by ALPN (TLS listeners only)" },
	{ .name = "tls", .type = &conf_t_section, .off = L(tls),
	  .off2 = L(tls) + T(enabled), .sub = &tls_section,
	  .doc = "TLS settings; without it the listener speaks plain HTTP" },
	{ .name = NULL },
};

const struct conf_section conf_schema_listener = {
	.name = "listeners[]", .keys = listener_keys,
	.size = sizeof(struct conf_listener), .finish = listener_finish,
	.doc = "Where limen accepts connections.  Addresses of different "
	    "listeners must not collide.",
};
