/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sdnotify.h — systemd's readiness protocol without libsystemd.
 *
 * sdnotify_send("READY=1") sends one datagram to $NOTIFY_SOCKET (a path,
 * or an abstract socket when it starts with '@').  Without NOTIFY_SOCKET
 * it does nothing and returns 0.  Safe from any thread.
 */
#ifndef LIMEN_COMMON_SDNOTIFY_H
#define LIMEN_COMMON_SDNOTIFY_H

/* Returns 0 (sent, or no NOTIFY_SOCKET), -1 on error (errno set). */
int sdnotify_send(const char *state);
/* "RELOADING=1\nMONOTONIC_USEC=..." as Type=notify-reload expects. */
int sdnotify_reloading(void);

#endif
