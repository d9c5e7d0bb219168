/*
 * The meta record decoder on any bytes: FUZZ_RECORD_TARGET (fuzz.h) checks
 * that the codec is stable.
 */
#include "fuzz.h"
#include "record.h"

FUZZ_RECORD_TARGET(meta, fuzz_nothing, meta_clear)
