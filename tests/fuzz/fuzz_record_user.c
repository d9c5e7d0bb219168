/*
 * The user record decoder on any bytes: FUZZ_RECORD_TARGET (fuzz.h) checks
 * that the codec is stable and that a decoded user copies.
 */
#include "fuzz.h"
#include "record.h"

/* a decoded user points into the input: nothing to clear */
FUZZ_COPIES(user)
FUZZ_RECORD_TARGET(user, fuzz_copies_user, fuzz_nothing)
