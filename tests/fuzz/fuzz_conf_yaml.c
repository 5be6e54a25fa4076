/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_conf_yaml.c — libFuzzer target for the whole configuration loader:
 * YAML, ${ENV} expansion, the key tables and cross-key validation.  Any
 * input must give a config or a list of diagnostics, never a crash, a
 * leak or undefined behaviour.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "conf/config.h"
#include "conf/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag d;
	struct config *c;
	char *s;

	if (size > 64 * 1024)
		return 0;
	diag_init(&d);
	c = conf_load_buffer("fuzz.yaml", (const char *)data, size, &d);
	diag_sort(&d);
	s = diag_join(&d);
	free(s);
	diag_free(&d);
	conf_unref(c);
	return 0;
}
