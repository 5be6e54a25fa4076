/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * server.c — the running proxy.  For now: load and report the
 * configuration and wait for SIGTERM/SIGINT; the workers, listeners and
 * reload come with the HTTP/1.1 core.
 */
#include "proxy/server.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "common/log.h"
#include "conf/config.h"
#include "conf/diag.h"

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int
server_run(const char *config_path)
{
	struct diag d;
	struct config *c;
	struct sigaction sa = { .sa_handler = on_stop };

	diag_init(&d);
	c = conf_load(config_path, &d);
	diag_sort(&d);
	diag_print(&d, stderr);
	diag_free(&d);
	if (c == NULL)
		return 1;
	log_init(c->global.log_level, c->global.log_format);
	log_info("limen %s: configuration %s loaded: %zu listeners, %zu routes, "
	    "%zu pools", LIMEN_VERSION, config_path, c->n_listeners,
	    c->n_routes, c->n_pools);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stop_requested)
		pause();
	log_info("limen: shutting down");
	conf_unref(c);
	return 0;
}

int
server_reload_command(const char *config_path)
{
	(void)config_path;
	fprintf(stderr, "limen: reload: no running instance support yet\n");
	return 2;
}
