/*
 * ah_buf — a growable byte buffer with a hard maximum (curl dynbuf).
 *
 * Used by links for receive queues. Appending past max fails with
 * AH_EOVERFLOW and leaves the buffer unchanged.
 */
#ifndef AH_BUF_H
#define AH_BUF_H

#include <stddef.h>
#include <stdint.h>

struct ah_buf {
    uint8_t *data; /* owned */
    size_t len;
    size_t cap;
    size_t max;
};

/* Initialise an empty buffer that will never hold more than max bytes. */
void ah_buf_init(struct ah_buf *b, size_t max);
/* Free the storage; the buffer may be reused after ah_buf_init. */
void ah_buf_free(struct ah_buf *b);
/* Append n bytes (borrowed). AH_OK, AH_EOVERFLOW or AH_ENOMEM. */
int ah_buf_append(struct ah_buf *b, const void *p, size_t n);
/* Drop the first n bytes (n > len drops all). */
void ah_buf_consume(struct ah_buf *b, size_t n);
void ah_buf_reset(struct ah_buf *b);

#endif /* AH_BUF_H */
