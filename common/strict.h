/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * strict.h — strict parsers for the values a configuration holds.
 *
 * Every parser takes the whole string (no leading or trailing blanks, no
 * sign unless stated, no trailing garbage), checks overflow, and returns
 * 0 or -1 with *errstr set to a short static reason ("unknown unit 'x'"
 * style reasons are composed by the caller).  Like OpenBSD's strtonum and
 * unlike sscanf, nothing is accepted by accident.
 *
 *   durations  "250ms" "2s" "5m" "1h" "7d" "2w" "1y", also "1h30m"; "0" -> ms
 *   sizes      "512" "16k" "8m" "1g" (powers of 1024)            -> bytes
 *   ports      1..65535
 *   bools      "true" | "false"
 *   addresses  "host:port" ":port" "[::1]:port"  -> struct conf_addr
 *   CIDRs      "10.0.0.0/8" "2001:db8::/32" "192.0.2.1" (a host) -> conf_cidr
 *   rates      "100/s" "10/m" "5/h" "1/d"                      -> per second
 */
#ifndef LIMEN_COMMON_STRICT_H
#define LIMEN_COMMON_STRICT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/config.h"

struct arena;

/* Decimal digits only, min <= value <= max. */
int strict_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **errstr);
/* Like strict_uint with an optional leading '-'. */
int strict_int(const char *s, int64_t min, int64_t max, int64_t *out,
    const char **errstr);
int strict_duration(const char *s, uint64_t *ms, const char **errstr);
int strict_size(const char *s, uint64_t *bytes, const char **errstr);
int strict_port(const char *s, uint16_t *port, const char **errstr);
int strict_bool(const char *s, bool *out, const char **errstr);
/* A host name: letters, digits, '-', '_' and dots, labels 1..63, total
 * <= 253, no leading/trailing '-' in a label. */
bool strict_hostname(const char *s);
/* Fills every field of *out; text and host are copied into the arena. */
int strict_addr(struct arena *a, const char *s, struct conf_addr *out,
    const char **errstr);
int strict_cidr(const char *s, struct conf_cidr *out, const char **errstr);
/* Does the network contain the 16-byte (IPv4-mapped for v4) address? */
bool strict_cidr_match16(const struct conf_cidr *c, const uint8_t addr[16]);
/* The same for an AF_INET or AF_INET6 socket address; false otherwise. */
bool strict_cidr_match(const struct conf_cidr *c, const struct sockaddr *sa);
int strict_rate(const char *s, double *per_sec, const char **errstr);

#endif
