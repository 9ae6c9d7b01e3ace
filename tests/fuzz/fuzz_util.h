/*
 * fuzz_util — prologues the fuzz targets share. Header-only: each target is
 * one executable of one .c file (CMakeLists.txt globs tests/fuzz/fuzz_*.c).
 */
#ifndef AH_FUZZ_UTIL_H
#define AH_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The fuzzer's bytes as a C string in buf (cap bytes with its NUL), as a
 * command line or a URL query would hand them to a text parser; an embedded
 * NUL ends the string there, as it would. false when they do not fit: the
 * parsers under test bound their input far below cap. */
static inline bool fuzz_cstr(const uint8_t *data, size_t size, char *buf, size_t cap)
{
    if (size >= cap)
        return false;
    memcpy(buf, data, size);
    buf[size] = '\0';
    return true;
}

#endif /* AH_FUZZ_UTIL_H */
