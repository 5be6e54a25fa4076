/* SPDX-License-Identifier: BSD-2-Clause */
/* load.c — placeholder until the YAML loader lands. */
#include <stdlib.h>

#include "conf/config.h"
#include "conf/diag.h"

struct config *
conf_load(const char *path, struct diag *d)
{
	diag_error(d, path, 0, 0, "the configuration loader is not built yet");
	return NULL;
}

void
conf_ref(struct config *c)
{
	atomic_fetch_add(&c->refs, 1);
}

void
conf_unref(struct config *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		free(c);
}
