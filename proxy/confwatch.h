/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * confwatch.h — reload when the configuration file changes
 * (global.watch_config), for a file that another program rewrites: an
 * editor, configuration management, or a Kubernetes ConfigMap volume.
 *
 * inotify watches the directory that holds the file (and the directory of
 * the file it resolves to, when it is a symlink elsewhere), not the file:
 * editors and ConfigMaps replace a file rather than write into it, and a
 * ConfigMap update is a rename of the `..data` symlink in the mounted
 * directory.  Events are debounced (CONFWATCH_DEBOUNCE_MS after the last
 * one); then the file's contents are hashed and, only if they differ from
 * the last ones seen, the process sends itself SIGHUP, so the reload takes
 * exactly the path an operator's `kill -HUP` takes.
 */
#ifndef LIMEN_PROXY_CONFWATCH_H
#define LIMEN_PROXY_CONFWATCH_H

#include <stdbool.h>

#define CONFWATCH_DEBOUNCE_MS 300
#define CONFWATCH_MAX_SIZE (16 * 1024 * 1024)

struct event_base;

/* Start (or keep) watching path on base; 0, or -1 (logged). */
int confwatch_start(struct event_base *base, const char *path);
void confwatch_stop(void);
bool confwatch_active(void);

#endif
