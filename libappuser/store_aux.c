/*
 * Auxiliary values in the master: small opaque blobs that a component
 * outside the store keeps in step with the store's own records, in the same
 * transaction (the fleet agent's applied revision and its local decisions).
 * They never reach a snapshot, so no module reads them.
 */
#include <string.h>

#include "appuser.h"
#include "store_int.h"

_Static_assert(STORE_AUX_KEY_MAX + 1 <= KEY_MAX, "aux names fit a key");

static int
key_aux(struct key *k, const char *name)
{
	size_t len;

	if (name == NULL || (len = strnlen(name, STORE_AUX_KEY_MAX + 1)) == 0 ||
	    len > STORE_AUX_KEY_MAX)
		return APPUSER_ERR_INVALID;
	k->b[0] = KEY_AUX;
	memcpy(k->b + 1, name, len);
	k->len = 1 + len;
	return 0;
}

int
store_aux_get(struct store *st, const char *name, uint8_t **valp,
    size_t *lenp)
{
	struct key k;
	TDB_DATA d;
	int r;

	if (st == NULL || valp == NULL || lenp == NULL)
		return APPUSER_ERR_INVALID;
	if ((r = key_aux(&k, name)) != 0 || (r = db_fetch(st, &k, &d)) != 0)
		return r;
	*valp = d.dptr;
	*lenp = d.dsize;
	return 0;
}

int
store_aux_put(struct store *st, const char *name, const void *val,
    size_t len)
{
	struct key k;
	bool began;
	int r;

	if (val == NULL || len > STORE_AUX_VALUE_MAX)
		return APPUSER_ERR_INVALID;
	if ((r = key_aux(&k, name)) != 0 || (r = txn_enter(st, &began)) != 0)
		return r;
	r = db_store(st, &k, val, len, TDB_REPLACE);
	if (r != 0)
		r = txn_fail(st, r);
	return txn_leave(st, began, r);
}

int
store_aux_delete(struct store *st, const char *name)
{
	struct key k;
	bool began;
	int r;

	if ((r = key_aux(&k, name)) != 0 || (r = txn_enter(st, &began)) != 0)
		return r;
	r = db_delete(st, &k);
	if (r == APPUSER_ERR_NOT_FOUND)
		r = 0;
	if (r != 0)
		r = txn_fail(st, r);
	return txn_leave(st, began, r);
}
