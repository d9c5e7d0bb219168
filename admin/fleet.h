/*
 * Fleet: one set of application users for many hosts, kept in etcd.
 *
 * Data model.  Every key lives under the configured prefix P (default
 * "/appuser/"):
 *
 *   P meta                   the fleet's settings: a meta record (uid_min,
 *                            uid_max, next_uid, admin_group, admin_gid;
 *                            generation, n_users and the admin list are
 *                            left 0/empty: the admins are the users whose
 *                            admin flag is set).  Absent until the first
 *                            write, which creates it with the defaults of a
 *                            new store.
 *   P user/<name>            a user record (uid == gid, admin flag,
 *                            description, home, shell, create_time)
 *   P uid/<uid, 10 digits>   the user's name (raw bytes): makes a uid
 *                            unique across the fleet, since a txn creating
 *                            a user compares its create_revision to 0
 *   P token/<user>/<id>      a token record: verifier, create/expiry/revoke
 *                            times, max age, allowlist, scope, description.
 *                            Never the secret (only its BLAKE2b verifier is
 *                            ever sent), never last-use fields (those stay
 *                            on each host), never extend_when_used (refused
 *                            in fleet mode: a sliding expiry needs every
 *                            host's logins).
 *
 * Values use the store's own record encodings (libappuser/record.h), not
 * JSON: the same strict decoders that guard the local store (every length
 * checked, versions, bounds on times and list sizes) then guard what comes
 * from the network, a host applies exactly the bytes the CLI validated, and
 * a future record version is refused the same way everywhere.  (The gateway
 * base64s values anyway, so JSON would not be readable on the wire either;
 * `appuser --fleet F list/show/token list` is the readable view.)
 *
 * Writes.  Each change is one etcd txn guarded by compares on what it read:
 * create_revision == 0 for every key it creates, mod_revision == M for
 * every key it read (meta when it allocates an id).  A failed compare means
 * someone else changed the fleet meanwhile: re-read, rebuild, retry with a
 * jittered pause.  A user's deletion removes user/<name>, uid/<uid> and
 * every token/<name>/ key in one txn (user first, so a host sees it first).
 *
 * Hosts (appuser-syncd) record in the local store, with store_aux_*:
 *   "fleet.rev"       the etcd revision the store reflects (decimal)
 *   "fleet.conf"      the fleet config the store follows (its path): its
 *                     presence makes local lifecycle writes refused
 *   "fleet.lrevoked"  ids revoked locally (`appuser token revoke` on the
 *                     host), 12 bytes each: re-applied after any re-add so
 *                     that a local revocation is never undone by a sync
 *   "fleet.skipped"   users not applied because they collide with a host
 *                     account: "name\treason\n" lines
 * and, outside the store, STORE/fleet.state (JSON, 0644, replaced by
 * rename; written by the agent at most once a second, read by `appuser
 * fleet status`): "config", "endpoints", "heard" (unix time it last heard
 * from etcd), "revision" (applied), "fleet_revision" (etcd's then),
 * "synced_revision" (no event pending up to it: the lag is fleet_revision
 * minus this), "last_error" and "last_error_time" (0: none yet).
 */
#ifndef APPUSER_FLEET_H
#define APPUSER_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd.h"
#include "fleet_conf.h"
#include "record.h"
#include "store.h"

#define FLEET_AUX_REV		"fleet.rev"
#define FLEET_AUX_CONF		"fleet.conf"
#define FLEET_AUX_LREVOKED	"fleet.lrevoked"
#define FLEET_AUX_SKIPPED	"fleet.skipped"
#define FLEET_STATE_FILE	"fleet.state"
#define FLEET_KEY_MAX		512

struct fleet {
	struct fleet_conf	*conf;
	struct etcd		*etcd;
};

/* Load the config at path and make a client (nothing contacted yet). */
int fleet_open(const char *path, int timeout_ms, struct fleet **fp,
    char *errbuf, size_t errlen);
void fleet_close(struct fleet *f);	/* accepts NULL */

/* "https://a:2379, https://b:2379" into buf. */
void fleet_endpoints(const struct fleet_conf *conf, char *buf, size_t len);

/* Keys: prefix + the rest.  Return the length, or -1 if too long. */
int fleet_key_meta(const struct fleet *f, char *buf, size_t len);
int fleet_key_user(const struct fleet *f, const char *name, char *buf,
    size_t len);
int fleet_key_uid(const struct fleet *f, uint32_t uid, char *buf,
    size_t len);
int fleet_key_token(const struct fleet *f, const char *user, const char *id,
    char *buf, size_t len);
/* Prefixes for ranges: P"user/", P"token/", P"token/<user>/", P. */
int fleet_key_users(const struct fleet *f, char *buf, size_t len);
int fleet_key_tokens(const struct fleet *f, const char *user, char *buf,
    size_t len);

enum fleet_kind { FLEET_KEY_OTHER, FLEET_KEY_META, FLEET_KEY_USER,
	FLEET_KEY_UID, FLEET_KEY_TOKEN };
/* Classify a key; for USER/TOKEN *namep, *idp point into a copy in buf. */
enum fleet_kind fleet_key_kind(const struct fleet *f, const char *key,
    size_t keylen, char *buf, size_t buflen, const char **namep,
    const char **idp);

/* The meta of a fleet that has none yet: the defaults of a new store. */
void fleet_meta_default(struct meta *m);

/* Encoders for values (strip what never goes to etcd); *bufp malloc'd. */
int fleet_encode_meta(const struct meta *m, uint8_t **bufp, size_t *lenp);
int fleet_encode_token(const struct token *t, uint8_t **bufp, size_t *lenp);

/* --- host side (the local store) --------------------------------------- */

/* Does the store follow a fleet?  *pathp (malloc'd, optional): its config.
 * 0 yes, NOT_FOUND no, else an error. */
int fleet_store_following(struct store *st, char **pathp);

/* Record a local revocation of id (inside the caller's transaction). */
int fleet_note_local_revoke(struct store *st, const char *id);

/* Is id in the local revocation list? */
bool fleet_locally_revoked(const uint8_t *list, size_t len, const char *id);

#endif
