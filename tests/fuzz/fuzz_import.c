/*
 * One line of `appuser import` (import_parse_line, admin/cmd_import.c): any
 * bytes as the line.  What it accepts must be a user that create would
 * accept too.  The CLI's error messages go to a closed stderr stream
 * (sanitizer reports write to fd 2 directly and still show).
 */
#include <jansson.h>

#include "fuzz.h"
#include "cli.h"
#include "names.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct cli c;
	struct json_t *obj = NULL;
	struct user u;
	int r;

	if (devnull == NULL) {
		if ((devnull = fopen("/dev/null", "we")) == NULL)
			abort();
		stderr = devnull;
	}
	memset(&c, 0, sizeof(c));
	c.store_dir = "/nonexistent";
	snprintf(c.what, sizeof(c.what), "import");
	r = import_parse_line(&c, "fuzz.jsonl", 1, (const char *)data, size,
	    &obj, &u);
	if (r == EXIT_OK && (!name_is_valid(u.name) ||
	    (u.description != NULL && !text_is_valid(u.description)) ||
	    (u.home != NULL && !path_is_valid(u.home)) ||
	    (u.shell != NULL && !path_is_valid(u.shell)) ||
	    u.uid >= 2147483647u))
		fuzz_fail("import accepted a user that create refuses");
	json_decref(obj);
	return 0;
}
