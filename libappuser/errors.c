/*
 * Error strings (a table, as tdb's error.c) and the default store location.
 */
#include <stdlib.h>

#include "appuser.h"

static const char *const errtab[APPUSER_ERR_MAX + 1] = {
	[0] = "success",
	[-APPUSER_ERR_INTERNAL] = "internal error",
	[-APPUSER_ERR_NOT_FOUND] = "not found",
	[-APPUSER_ERR_EXISTS] = "already exists",
	[-APPUSER_ERR_INVALID] = "invalid argument",
	[-APPUSER_ERR_CORRUPT] = "corrupt record or store",
	[-APPUSER_ERR_PERMISSION] = "permission denied",
	[-APPUSER_ERR_BUSY] = "store is busy, try again",
	[-APPUSER_ERR_NOMEM] = "out of memory",
	[-APPUSER_ERR_SYSTEM] = "system error",
	[-APPUSER_ERR_EXPIRED] = "expired",
	[-APPUSER_ERR_DENIED] = "denied by policy",
	[-APPUSER_ERR_VERSION] = "written by a newer version of appuser: "
	    "upgrade appuser",
	[-APPUSER_ERR_UNSAFE] = "unsafe ownership or permissions",
	[-APPUSER_ERR_RANGE] = "id outside the range or range exhausted",
	[-APPUSER_ERR_NOSTORE] = "store does not exist (not initialised)",
};

const char *
appuser_strerror(int r)
{
	if (r > 0 || r < -APPUSER_ERR_MAX || errtab[-r] == NULL)
		return "unknown error";
	return errtab[-r];
}
