/* ah_buf — bounded byte buffer (see ah_buf.h). */
#include "ah_buf.h"
#include "ah_err.h"

#include <stdlib.h>
#include <string.h>

void ah_buf_init(struct ah_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void ah_buf_free(struct ah_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int ah_buf_append(struct ah_buf *b, const void *p, size_t n)
{
    if (n > b->max - b->len)
        return AH_EOVERFLOW;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        if (cap > b->max)
            cap = b->max;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return AH_ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return AH_OK;
}

void ah_buf_consume(struct ah_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void ah_buf_reset(struct ah_buf *b)
{
    b->len = 0;
}
