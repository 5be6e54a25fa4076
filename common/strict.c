/* SPDX-License-Identifier: BSD-2-Clause */
/* strict.c — see strict.h. */
#include "common/strict.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Digits at *s into *v; advances *s.  -1 on overflow or no digit. */
static int
strict_digits(const char **s, uint64_t *v, const char **errstr)
{
	const char *p = *s;
	uint64_t n = 0;

	if (!is_digit(*p)) {
		*errstr = "not a number";
		return -1;
	}
	for (; is_digit(*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10) {
			*errstr = "out of range";
			return -1;
		}
		n = n * 10 + d;
	}
	*s = p;
	*v = n;
	return 0;
}

int
strict_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **errstr)
{
	uint64_t v;

	if (*s == '\0') {
		*errstr = "empty";
		return -1;
	}
	if (strict_digits(&s, &v, errstr) == -1)
		return -1;
	if (*s != '\0') {
		*errstr = "not a number";
		return -1;
	}
	if (v < min) {
		*errstr = "too small";
		return -1;
	}
	if (v > max) {
		*errstr = "too large";
		return -1;
	}
	*out = v;
	return 0;
}

int
strict_int(const char *s, int64_t min, int64_t max, int64_t *out,
    const char **errstr)
{
	bool neg = false;
	uint64_t v;

	if (*s == '-') {
		neg = true;
		s++;
	}
	if (strict_uint(s, 0, (uint64_t)INT64_MAX + 1, &v, errstr) == -1)
		return -1;
	if (!neg && v > (uint64_t)INT64_MAX) {
		*errstr = "too large";
		return -1;
	}
	int64_t r = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
	    -(int64_t)v) : (int64_t)v;
	if (r < min) {
		*errstr = "too small";
		return -1;
	}
	if (r > max) {
		*errstr = "too large";
		return -1;
	}
	*out = r;
	return 0;
}

int
strict_duration(const char *s, uint64_t *ms, const char **errstr)
{
	uint64_t total = 0, v, mul;

	if (*s == '\0') {
		*errstr = "empty";
		return -1;
	}
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	while (*s != '\0') {
		if (strict_digits(&s, &v, errstr) == -1)
			return -1;
		if (s[0] == 'm' && s[1] == 's') {
			mul = 1;
			s += 2;
		} else if (*s == 's') {
			mul = 1000;
			s++;
		} else if (*s == 'm') {
			mul = 60 * 1000;
			s++;
		} else if (*s == 'h') {
			mul = 3600 * 1000;
			s++;
		} else if (*s == 'd') {
			mul = 86400 * 1000;
			s++;
		} else if (*s == 'w') {
			mul = 7ULL * 86400 * 1000;
			s++;
		} else if (*s == 'y') {		/* 365 days, as HSTS counts */
			mul = 365ULL * 86400 * 1000;
			s++;
		} else {
			*errstr = *s == '\0' ?
			    "missing unit (ms, s, m, h, d, w, y)" :
			    "unknown unit (ms, s, m, h, d, w, y)";
			return -1;
		}
		if (v > UINT64_MAX / mul || total > UINT64_MAX - v * mul) {
			*errstr = "out of range";
			return -1;
		}
		total += v * mul;
	}
	*ms = total;
	return 0;
}

int
strict_size(const char *s, uint64_t *bytes, const char **errstr)
{
	uint64_t v, mul = 1;

	if (*s == '\0') {
		*errstr = "empty";
		return -1;
	}
	if (strict_digits(&s, &v, errstr) == -1)
		return -1;
	switch (*s) {
	case '\0':
		break;
	case 'k': case 'K':
		mul = 1ULL << 10;
		s++;
		break;
	case 'm': case 'M':
		mul = 1ULL << 20;
		s++;
		break;
	case 'g': case 'G':
		mul = 1ULL << 30;
		s++;
		break;
	case 't': case 'T':
		mul = 1ULL << 40;
		s++;
		break;
	default:
		*errstr = "unknown unit (k, m, g)";
		return -1;
	}
	if (*s != '\0') {
		*errstr = "unknown unit (k, m, g)";
		return -1;
	}
	if (v > UINT64_MAX / mul) {
		*errstr = "out of range";
		return -1;
	}
	*bytes = v * mul;
	return 0;
}

int
strict_port(const char *s, uint16_t *port, const char **errstr)
{
	uint64_t v;

	if (strict_uint(s, 1, 65535, &v, errstr) == -1) {
		*errstr = "port must be 1..65535";
		return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

int
strict_bool(const char *s, bool *out, const char **errstr)
{
	if (strcmp(s, "true") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0)
		*out = false;
	else {
		*errstr = "expected true or false";
		return -1;
	}
	return 0;
}

bool
strict_hostname(const char *s)
{
	size_t len = strlen(s), label = 0;
	char prev = '.';

	if (len == 0 || len > 253)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		if (c == '.') {
			if (label == 0 || prev == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    is_digit(c) || c == '_' || (c == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else
			return false;
		prev = c;
	}
	return prev != '-' && prev != '.';
}

/* "1.2.3" or "300.1.1.1": only digits and dots, so not a host name. */
static bool
strict_looks_numeric(const char *s)
{
	for (; *s; s++)
		if (!is_digit(*s) && *s != '.')
			return false;
	return true;
}

static bool
strict_have_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return false;
	close(fd);
	return true;
}

int
strict_addr(struct arena *a, const char *s, struct conf_addr *out,
    const char **errstr)
{
	const char *colon, *port;
	char host[256];
	size_t hlen;
	bool bracket = false;

	memset(out, 0, sizeof *out);
	if (*s == '\0') {
		*errstr = "empty address";
		return -1;
	}
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL) {
			*errstr = "missing ']'";
			return -1;
		}
		if (end[1] != ':') {
			*errstr = "missing port ([addr]:port)";
			return -1;
		}
		hlen = (size_t)(end - s - 1);
		if (hlen == 0 || hlen >= sizeof host) {
			*errstr = "invalid IPv6 address";
			return -1;
		}
		memcpy(host, s + 1, hlen);
		port = end + 2;
		bracket = true;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			*errstr = "missing port (host:port or :port)";
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
			*errstr = "an IPv6 address needs brackets ([::1]:port)";
			return -1;
		}
		hlen = (size_t)(colon - s);
		if (hlen >= sizeof host) {
			*errstr = "host name too long";
			return -1;
		}
		memcpy(host, s, hlen);
		port = colon + 1;
	}
	host[hlen] = '\0';
	if (strict_port(port, &out->port, errstr) == -1)
		return -1;

	if (bracket) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->sa;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*errstr = "invalid IPv6 address";
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(out->port);
		out->sa_len = sizeof *sin6;
	} else if (hlen == 0) {
		if (strict_have_ipv6()) {
			struct sockaddr_in6 *sin6 =
			    (struct sockaddr_in6 *)&out->sa;
			sin6->sin6_family = AF_INET6;
			sin6->sin6_addr = in6addr_any;
			sin6->sin6_port = htons(out->port);
			out->sa_len = sizeof *sin6;
		} else {
			struct sockaddr_in *sin = (struct sockaddr_in *)&out->sa;
			sin->sin_family = AF_INET;
			sin->sin_addr.s_addr = htonl(INADDR_ANY);
			sin->sin_port = htons(out->port);
			out->sa_len = sizeof *sin;
		}
	} else if (strict_looks_numeric(host)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->sa;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			*errstr = "invalid IPv4 address";
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons(out->port);
		out->sa_len = sizeof *sin;
	} else if (strict_hostname(host)) {
		out->is_name = true;
	} else {
		*errstr = "invalid host name";
		return -1;
	}
	out->text = arena_strdup(a, s);
	out->host = hlen ? arena_strdup(a, host) : NULL;
	if (out->text == NULL || (hlen && out->host == NULL)) {
		*errstr = "out of memory";
		return -1;
	}
	return 0;
}

int
strict_cidr(const char *s, struct conf_cidr *out, const char **errstr)
{
	const char *slash = strchr(s, '/');
	char host[INET6_ADDRSTRLEN + 1];
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t prefix;
	unsigned max;
	struct in_addr v4;

	memset(out, 0, sizeof *out);
	if (hlen == 0 || hlen >= sizeof host) {
		*errstr = "invalid address";
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &v4) == 1) {
		out->addr[10] = out->addr[11] = 0xff;
		memcpy(&out->addr[12], &v4, 4);
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		max = 128;
	} else {
		*errstr = "invalid address";
		return -1;
	}
	prefix = max;
	if (slash && strict_uint(slash + 1, 0, max, &prefix, errstr) == -1) {
		*errstr = max == 32 ? "prefix length must be 0..32" :
		    "prefix length must be 0..128";
		return -1;
	}
	out->prefix = (uint8_t)(prefix + (128 - max));
	/* host bits must be zero: "10.0.0.1/8" is almost always a typo */
	for (unsigned bit = out->prefix; bit < 128; bit++) {
		if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
			*errstr = "host bits set after the prefix length";
			return -1;
		}
	}
	return 0;
}

bool
strict_cidr_match16(const struct conf_cidr *c, const uint8_t addr[16])
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	if (memcmp(c->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (c->addr[full] & mask) == (addr[full] & mask);
}

bool
strict_cidr_match(const struct conf_cidr *c, const struct sockaddr *sa)
{
	uint8_t a[16] = { 0 };

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		a[10] = a[11] = 0xff;
		memcpy(&a[12], &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;
		memcpy(a, &sin6->sin6_addr, 16);
	} else
		return false;
	return strict_cidr_match16(c, a);
}

int
strict_rate(const char *s, double *per_sec, const char **errstr)
{
	uint64_t n, frac = 0, scale = 1;
	double secs;

	if (strict_digits(&s, &n, errstr) == -1) {
		*errstr = "expected N/s, N/m, N/h or N/d";
		return -1;
	}
	if (*s == '.') {
		s++;
		if (!is_digit(*s)) {
			*errstr = "expected N/s, N/m, N/h or N/d";
			return -1;
		}
		for (; is_digit(*s) && scale < 1000000; s++) {
			frac = frac * 10 + (uint64_t)(*s - '0');
			scale *= 10;
		}
		if (is_digit(*s)) {
			*errstr = "too many decimals";
			return -1;
		}
	}
	if (*s++ != '/') {
		*errstr = "expected N/s, N/m, N/h or N/d";
		return -1;
	}
	if (strcmp(s, "s") == 0)
		secs = 1;
	else if (strcmp(s, "m") == 0)
		secs = 60;
	else if (strcmp(s, "h") == 0)
		secs = 3600;
	else if (strcmp(s, "d") == 0)
		secs = 86400;
	else {
		*errstr = "unknown unit (s, m, h, d)";
		return -1;
	}
	double r = ((double)n + (double)frac / (double)scale) / secs;
	if (!(r > 0)) {
		*errstr = "rate must be above zero";
		return -1;
	}
	*per_sec = r;
	return 0;
}
