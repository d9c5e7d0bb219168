/*
 * pam_appuser's argument parser (pam_appuser/options.c) on any argument
 * vector: the input split at NUL bytes, the first byte's low bit as
 * PAM_SILENT.  pam_syslog is replaced here (formatted, then dropped), so the
 * target needs no libpam.  Properties: the options always end up usable.
 */
#include <stdarg.h>

#include <security/pam_ext.h>

#include "fuzz.h"
#include "appuser.h"
#include "pam_appuser.h"

#define MAX_ARGS	32

void
pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	(void)pamh;
	(void)priority;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *argv[MAX_ARGS];
	struct pam_opts o;
	char *blob, *p, *end;
	int argc = 0;

	if (size == 0)
		return 0;
	if ((blob = malloc(size)) == NULL)
		abort();
	memcpy(blob, data + 1, size - 1);
	blob[size - 1] = '\0';
	end = blob + size - 1;
	for (p = blob; p < end && argc < MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	pam_opts_parse(NULL, (data[0] & 1) ? PAM_SILENT : 0, argc, argv, &o);
	if (o.store == NULL || o.prompt == NULL ||
	    o.warn_days > PAM_APPUSER_MAX_WARN_DAYS)
		fuzz_fail("options out of bounds");
	if (o.bad_store != (o.store[0] != '/'))
		fuzz_fail("a relative store= is not marked bad");
	free(blob);
	return 0;
}
