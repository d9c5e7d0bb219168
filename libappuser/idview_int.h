/*
 * Internal: the layout of identity.gen, which the writer (store_snap.c)
 * writes and readers (idview.c) map; its protocol is explained at the top
 * of idview.c.
 */
#ifndef APPUSER_IDVIEW_INT_H
#define APPUSER_IDVIEW_INT_H

#include "store.h"

/*
 * identity.gen (see store.h): exactly GEN_FILE_SIZE bytes, which readers
 * check before they map it, so that what they read is always inside the
 * file.  It starts with native-endian, 8-aligned 64-bit words:
 *   [GEN_W_COUNTER]    +1 after each publication of the identity pair; readers
 *                      watch this word only
 *   [GEN_W_PUBLISHED]  generation of the identity pair published when the
 *                      counter was last written (lets the next writer see
 *                      that a writer died between the rename and the bump)
 * The rest is zero.  Only the store's owner writes it, with pwrite, under
 * the store lock; a usable file is never truncated nor replaced.
 */
#define GEN_FILE_SIZE		4096
#define GEN_W_COUNTER		0
#define GEN_W_PUBLISHED		1
#define GEN_WORDS		2


#endif
