/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * oneshot.h — `limen certs -c FILE`: obtain or renew the configured
 * certificates now, without the proxy (docs/acme.md).
 *
 * Runs the ACME manager on its own event loop, answers HTTP-01 itself on
 * the configuration's plaintext listener addresses while it runs, gives
 * every name a few attempts, prints one line per name on stdout and
 * returns the exit code: 0 when every name has a valid certificate, 1
 * otherwise (or on a bad configuration), 2 on an internal failure.
 */
#ifndef LIMEN_ACME_ONESHOT_H
#define LIMEN_ACME_ONESHOT_H

struct config;

int oneshot_certs(const char *config_path);
/* The same with a loaded configuration (tests, and the proxy's future
 * use of it). */
int oneshot_certs_config(const struct config *cfg);

#endif
