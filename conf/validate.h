/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * validate.h — checks across keys and sections, after the tables.
 *
 * The schema has filled the typed config and checked each value on its
 * own; these functions check what needs the whole picture: references
 * (route -> pool), collisions (listener addresses, duplicate names,
 * shadowed routes), files that must load (certificates and keys, htpasswd,
 * JWKS, CA roots) and expressions (cron).  They are written to cope with
 * a config that already had errors (NULL fields), so one run reports all.
 * Positions come from the YAML tree.
 */
#ifndef LIMEN_CONF_VALIDATE_H
#define LIMEN_CONF_VALIDATE_H

#include <stddef.h>

struct conf_ctx;
struct ynode;

void conf_validate(struct conf_ctx *x, const struct ynode *root);

/* validate.c: helpers shared with validate_net.c */
/* The node at key in map (or the map itself when absent). */
const struct ynode *conf_validate_at(const struct ynode *map, const char *key);
/* The i-th item of a list node (or the node itself for a scalar). */
const struct ynode *conf_validate_item(const struct ynode *list, size_t i);
/* Set the key path for the next messages (printf-style). */
void conf_validate_path(struct conf_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A readable regular file, else an error at n naming it. */
int conf_validate_readable(struct conf_ctx *x, const struct ynode *n,
    const char *path);

/* validate_cron.c */
struct conf_backup_job;
void conf_validate_backup_cron(struct conf_ctx *x, const struct ynode *jn,
    const struct conf_backup_job *j, size_t i);

/* validate_net.c */
void conf_validate_listeners(struct conf_ctx *x, const struct ynode *root);

#endif
