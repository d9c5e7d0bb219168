/*
 * The token record decoder on any bytes: FUZZ_RECORD_TARGET (fuzz.h) checks
 * that the codec is stable and that a decoded token copies.
 */
#include "fuzz.h"
#include "record.h"

FUZZ_COPIES(token)
FUZZ_RECORD_TARGET(token, fuzz_copies_token, token_clear)
