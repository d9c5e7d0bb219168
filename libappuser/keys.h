/*
 * The key layout, the one place it is spelled (store.h says which file
 * holds which keys).  Shared by the writer (store_int.h), the identity
 * reader (idview.c, linked into the NSS module: this header pulls in
 * nothing but appuser.h) and the tests that plant records by hand.
 *
 *   "!meta"          settings (record.h's meta)       master, identity pair
 *   "!tgen"          be64 token generation            master
 *   "!slots"         usage slot allocation            master
 *   U<name>          user record                      master, identity pair
 *   I<uid be32>      master: the name; identity pair: the user record
 *   T<id>            token record                     master, token pair
 *   L<name>          the user's token ids, concatenated   master
 *   X<name>          opaque (store_aux.c)             master
 */
#ifndef APPUSER_KEYS_H
#define APPUSER_KEYS_H

#include "appuser.h"

#define KEY_META		"!meta"
#define KEY_META_LEN		5
#define KEY_TGEN		"!tgen"	/* be64: token generation (master) */
#define KEY_TGEN_LEN		5
#define KEY_SLOTS		"!slots" /* usage slot allocation (master) */
#define KEY_SLOTS_LEN		6
#define KEY_USER		'U'	/* U<name> -> user record */
#define KEY_UID			'I'	/* I<uid be32> -> name (master) */
#define KEY_TOKEN		'T'	/* T<id> -> token record */
#define KEY_LIST		'L'	/* L<name> -> ids, TOKEN_ID_LEN each */
#define KEY_AUX			'X'	/* X<name> -> opaque (store_aux.c) */
#define KEY_MAX			(1 + APPUSER_NAME_MAX)
#define KEY_UID_LEN		5	/* 'I' + be32 */

#endif
