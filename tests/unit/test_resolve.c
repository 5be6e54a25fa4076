/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_resolve.c — DNS re-resolution in the control thread against a
 * real DNS server (dnsmasq, from Debian, on a free port with a hosts file
 * the test rewrites): every A record becomes a server, a changed answer
 * is followed without a reload (after the record's TTL, shorter than
 * resolve_interval) and servers still present keep their objects, a
 * failed lookup keeps the last good servers.
 */
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proxy/pool.h"
#include "tests/unit/harness.h"
#include "tests/unit/pool_fixture.h"

extern char **environ;

struct dns_peer {
	char dir[64];
	char hosts[96];
	char log[96];
	unsigned port;
	pid_t pid;
};

/* A port of 127.0.0.1 free for both UDP and TCP (dnsmasq binds both). */
static unsigned
free_dns_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int u, t;
	unsigned port = 0;

	u = socket(AF_INET, SOCK_DGRAM, 0);
	t = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (u != -1 && t != -1 &&
	    bind(u, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(u, (struct sockaddr *)&sin, &len) == 0 &&
	    bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		port = ntohs(sin.sin_port);
	if (u != -1)
		close(u);
	if (t != -1)
		close(t);
	return port;
}

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int
dns_started(struct dns_peer *d)
{
	char line[512];
	FILE *f = fopen(d->log, "r");
	int ok = 0;

	if (f == NULL)
		return 0;
	while (!ok && fgets(line, sizeof(line), f) != NULL)
		ok = strstr(line, " read ") != NULL;
	fclose(f);
	return ok;
}

/* Start dnsmasq on a free port; another port if that one was taken. */
static int
dns_start(struct dns_peer *d, const char *hosts)
{
	char a_hosts[128], a_port[32], a_log[128];
	char *argv[] = { "dnsmasq", "--keep-in-foreground",
	    "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
	    "--local=/limen.test/",
	    a_hosts, a_port, "--listen-address=127.0.0.1",
	    "--bind-interfaces", "--pid-file=", "--user=root",
	    "--local-ttl=1", "--log-queries", a_log, NULL };
	struct timespec ts = { 0, 20 * 1000000 };
	int attempt, i;

	snprintf(d->dir, sizeof(d->dir), "/tmp/limen-resolve-XXXXXX");
	if (mkdtemp(d->dir) == NULL)
		return -1;
	snprintf(d->hosts, sizeof(d->hosts), "%s/hosts", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/dnsmasq.log", d->dir);
	if (write_file(d->hosts, hosts) == -1)
		return -1;
	snprintf(a_hosts, sizeof(a_hosts), "--addn-hosts=%s", d->hosts);
	snprintf(a_log, sizeof(a_log), "--log-facility=%s", d->log);
	for (attempt = 0; attempt < 5; attempt++) {
		d->port = free_dns_port();
		snprintf(a_port, sizeof(a_port), "--port=%u", d->port);
		unlink(d->log);
		if (posix_spawnp(&d->pid, "dnsmasq", NULL, NULL, argv,
		    environ) != 0) {
			d->pid = -1;
			return -1;	/* not installed: mk/deps.txt has it */
		}
		for (i = 0; i < 250; i++) {
			if (dns_started(d))
				return 0;
			if (waitpid(d->pid, NULL, WNOHANG) == d->pid)
				break;	/* the port was taken meanwhile */
			nanosleep(&ts, NULL);
		}
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		d->pid = -1;
	}
	return -1;
}

static void
dns_stop(struct dns_peer *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		waitpid(d->pid, NULL, 0);
	}
	unlink(d->hosts);
	unlink(d->log);
	rmdir(d->dir);
}

/* How many queries for `name` dnsmasq has logged. */
static int
dns_queries(struct dns_peer *d, const char *name)
{
	char line[512], pat[160];
	FILE *f = fopen(d->log, "r");
	int n = 0;

	if (f == NULL)
		return 0;
	snprintf(pat, sizeof(pat), "query[A] %s ", name);
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, pat) != NULL;
	fclose(f);
	return n;
}

/* The pool's addresses as "127.0.0.1:8000,127.0.0.2:8000" (sorted). */
static void
addresses(struct pool *p, char *buf, size_t len)
{
	struct server_set *set = pool_servers(p);
	char items[16][64], tmp[64];
	size_t i, j, n = 0;

	buf[0] = '\0';
	if (set == NULL)
		return;
	for (i = 0; i < set->n && n < 16; i++) {
		const char *o = strchr(set->servers[i]->name, '(');

		snprintf(items[n++], sizeof(items[0]), "%s", o ? o + 1 : "?");
		items[n - 1][strcspn(items[n - 1], ")")] = '\0';
	}
	server_set_unref(set);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (strcmp(items[j], items[i]) < 0) {
				memcpy(tmp, items[i], sizeof(tmp));
				memcpy(items[i], items[j], sizeof(tmp));
				memcpy(items[j], tmp, sizeof(tmp));
			}
	for (i = 0; i < n; i++) {
		if (i > 0)
			strncat(buf, ",", len - strlen(buf) - 1);
		strncat(buf, items[i], len - strlen(buf) - 1);
	}
}

static int
wait_addresses(struct pool *p, const char *want, int ms)
{
	struct timespec ts = { 0, 20 * 1000000 };
	char got[512];
	int i;

	for (i = 0; i < ms / 20; i++) {
		addresses(p, got, sizeof(got));
		if (strcmp(got, want) == 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	harness_fail(__FILE__, __LINE__, "addresses \"%s\", want \"%s\"", got,
	    want);
	return -1;
}

static struct server *
find_addr(struct pool *p, const char *ip)
{
	struct server_set *set = pool_servers(p);
	struct server *s = NULL;
	size_t i;

	for (i = 0; set != NULL && i < set->n; i++)
		if (strstr(set->servers[i]->name, ip) != NULL)
			s = set->servers[i];
	server_set_unref(set);	/* the pool keeps s */
	return s;
}

static void
test_resolve_follows_a_changing_dns_answer(void)
{
	const char *name = "api.limen.test";
	struct config *c = fixture_config(BALANCE_ROUND_ROBIN, NULL, 1);
	struct conf_addr *a = &c->pools[0].servers[0].addr;
	struct dns_peer d = { .pid = -1 };
	struct pools *ps;
	struct pool *p;
	struct server *s1;
	char resolver[64], *resolvers[1] = { resolver };
	int q;
	struct timespec ts = { 0, 20 * 1000000 };

	REQUIRE(dns_start(&d, "127.0.0.1 api.limen.test\n"
	    "127.0.0.2 api.limen.test\n") == 0);
	snprintf(resolver, sizeof(resolver), "127.0.0.1:%u", d.port);
	c->global.resolvers = resolvers;
	c->global.n_resolvers = 1;
	free(a->text);
	free(a->host);
	memset(a, 0, sizeof(*a));
	a->text = strdup("api.limen.test:8000");
	a->host = strdup(name);
	a->port = 8000;
	a->is_name = true;
	c->pools[0].servers[0].weight = 2;
	/* the record TTL (1 s) is shorter than the interval: it decides */
	c->pools[0].resolve_interval_ms = 30000;
	/* the system resolver does not know the name: no server at first */
	ps = pools_new(c, NULL, 1);
	REQUIRE(ps != NULL);
	p = &ps->pools[0];
	REQUIRE(health_start(ps) == 0);
	wait_addresses(p, "127.0.0.1:8000,127.0.0.2:8000", 10000);
	s1 = find_addr(p, "127.0.0.1:8000");
	REQUIRE(s1 != NULL);
	CHECK_INT(s1->weight, ==, 2);
	CHECK_STR(s1->name, "api.limen.test:8000 (127.0.0.1:8000)");
	atomic_store(&s1->drained, true);	/* state to keep */
	/* a changed answer, followed without a reload */
	REQUIRE(write_file(d.hosts, "127.0.0.1 api.limen.test\n"
	    "127.0.0.3 api.limen.test\n") == 0);
	kill(d.pid, SIGHUP);
	wait_addresses(p, "127.0.0.1:8000,127.0.0.3:8000", 10000);
	CHECK(find_addr(p, "127.0.0.1:8000") == s1);
	CHECK(atomic_load(&s1->drained));
	/* the name disappears: a failed lookup later, nothing changed */
	REQUIRE(write_file(d.hosts, "127.0.0.9 other.limen.test\n") == 0);
	kill(d.pid, SIGHUP);
	q = dns_queries(&d, name);
	for (int i = 0; i < 500 && dns_queries(&d, name) < q + 1; i++)
		nanosleep(&ts, NULL);
	CHECK_INT(dns_queries(&d, name), >=, q + 1);
	wait_addresses(p, "127.0.0.1:8000,127.0.0.3:8000", 100);
	health_stop();
	dns_stop(&d);
	pools_unref(ps);
	c->global.resolvers = NULL;
	c->global.n_resolvers = 0;
	fixture_free(c);
}

HARNESS_MAIN(T(test_resolve_follows_a_changing_dns_answer))
