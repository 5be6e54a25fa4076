/* SPDX-License-Identifier: BSD-2-Clause */
/* test_diag.c — conf/diag.c: an allocation failure among the problems
 * marks the list (limen check / run / reload then exit 2, not 1). */
#include <errno.h>
#include <string.h>

#include "conf/diag.h"
#include "tests/unit/harness.h"

static void
test_diag_user_errors_are_not_oom(void)
{
	struct diag d;

	diag_init(&d);
	diag_error(&d, "f.yaml", 3, 4, "unknown key '%s'", "x");
	diag_error(&d, "f.yaml", 0, 0, "cannot read: %s", strerror(EACCES));
	CHECK_INT(d.n_errors, ==, 2);
	CHECK_INT(d.oom, ==, 0);
	diag_free(&d);
}

static void
test_diag_out_of_memory_marks_the_list(void)
{
	struct diag d;

	diag_init(&d);
	diag_error(&d, "f.yaml", 1, 1, "unknown key 'x'");
	diag_error(&d, "f.yaml", 0, 0, "out of memory");
	CHECK_INT(d.oom, ==, 1);
	diag_free(&d);
	CHECK_INT(d.oom, ==, 0);	/* diag_free resets */

	diag_init(&d);
	diag_error(&d, "f.yaml", 0, 0, "cannot read: %s", strerror(ENOMEM));
	CHECK_INT(d.oom, ==, 1);
	diag_free(&d);

	diag_init(&d);
	diag_error(&d, "f.yaml", 0, 0, "out of memory building the "
	    "configuration");
	CHECK_INT(d.oom, ==, 1);
	diag_free(&d);
}

HARNESS_MAIN(T(test_diag_user_errors_are_not_oom),
    T(test_diag_out_of_memory_marks_the_list))
