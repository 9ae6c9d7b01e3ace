/*
 * ut_hex — frames in the tests are written as the reference prints them
 * ("68 12 34 ..."): hex pairs, spaces anywhere.
 */
#ifndef AH_UT_HEX_H
#define AH_UT_HEX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Bytes of s into out (large enough); returns how many. */
static inline size_t ut_unhex(const char *s, uint8_t *out)
{
    size_t n = 0;
    unsigned v;
    int k;
    while (sscanf(s, " %2x%n", &v, &k) == 1) {
        out[n++] = (uint8_t)v;
        s += k;
    }
    return n;
}

#endif /* AH_UT_HEX_H */
