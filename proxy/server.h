/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * server.h — the running proxy as a whole: load the configuration, bind,
 * drop privileges, start the workers, handle signals, reload, shut down.
 */
#ifndef LIMEN_PROXY_SERVER_H
#define LIMEN_PROXY_SERVER_H

/* `limen run`: returns the process exit code (0, 1 bad config, 2 internal). */
int server_run(const char *config_path);
/* `limen reload`: ask the running instance to load its file again; 0 if
 * the new configuration is live, 1 (reasons on stderr) if rejected. */
int server_reload_command(const char *config_path);

#endif
