/*
 * jsb — batch payload builder and checker (jsb.h). The builder copies the
 * exported bodies verbatim: the bridge never re-encodes what the head-end
 * committed, so a billing consumer reads the same bytes from JetStream as
 * from the head-end's replay endpoint.
 */
#include "jsb.h"

#include "ah_err.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

void jsb_init(struct jsb *b, char *buf, size_t cap)
{
    b->buf = buf;
    b->cap = cap;
    jsb_reset(b);
}

void jsb_reset(struct jsb *b)
{
    b->len = 0;
    b->count = 0;
    b->first = b->last = 0;
}

int jsb_append(struct jsb *b, uint64_t seq, const char *body, size_t blen)
{
    if (blen == 0 || seq == 0 || (b->count && seq != b->last + 1))
        return AH_EINVAL;
    /* '[' or ',' before, ']' after */
    if (b->count >= JSB_COUNT_MAX || b->len + 1 + blen + 1 > b->cap)
        return AH_EOVERFLOW;
    b->buf[b->len++] = b->count ? ',' : '[';
    memcpy(b->buf + b->len, body, blen);
    b->len += blen;
    if (!b->count)
        b->first = seq;
    b->last = seq;
    b->count++;
    return AH_OK;
}

size_t jsb_finish(struct jsb *b)
{
    if (!b->count)
        return 0;
    b->buf[b->len++] = ']';
    return b->len;
}

int jsb_msgid(char *out, size_t cap, const char *headend, uint64_t first, uint64_t last)
{
    int n = snprintf(out, cap, "%s:%" PRIu64 "-%" PRIu64, headend, first, last);
    return n < 0 || (size_t)n >= cap ? AH_EOVERFLOW : AH_OK;
}

int jsb_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s || (s[0] == '0' && s[1]))
        return AH_EFRAME;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return AH_EFRAME;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return AH_EFRAME;
        v = v * 10 + d;
    }
    *out = v;
    return AH_OK;
}

static void count_type(struct jsb_counts *c, const char *t)
{
    if (!strcmp(t, "read"))
        c->read++;
    else if (!strcmp(t, "anomaly"))
        c->anomaly++;
    else if (!strcmp(t, "gap"))
        c->gap++;
    else if (!strcmp(t, "daily"))
        c->daily++;
    else
        c->other++;
}

int jsb_check(const char *payload, size_t len, const char *headend, uint64_t first,
              uint64_t last, struct jsb_counts *c, char *why, size_t whylen)
{
    struct jsb_counts tmp = {0};
    int rc = AH_EFRAME;
    if (first == 0 || last < first || last - first >= JSB_COUNT_MAX) {
        snprintf(why, whylen, "range %" PRIu64 "-%" PRIu64 " invalid", first, last);
        return AH_EFRAME;
    }
    json_error_t je;
    json_t *a = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_array(a)) {
        snprintf(why, whylen, "not a JSON array: %s", a ? "other value" : je.text);
        goto out;
    }
    if (json_array_size(a) != last - first + 1) {
        snprintf(why, whylen, "%zu bodies for range %" PRIu64 "-%" PRIu64,
                 json_array_size(a), first, last);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        json_t *s = json_object_get(o, "seq");
        const char *h = json_string_value(json_object_get(o, "headend"));
        const char *t = json_string_value(json_object_get(o, "type"));
        if (!json_is_integer(s) || json_integer_value(s) <= 0 ||
            (uint64_t)json_integer_value(s) != first + i) {
            snprintf(why, whylen, "element %zu: seq is not %" PRIu64, i, first + i);
            goto out;
        }
        if (!h || strcmp(h, headend) || !t) {
            snprintf(why, whylen, "element %zu: headend or type missing or wrong", i);
            goto out;
        }
        count_type(&tmp, t);
        const char *end = json_string_value(json_object_get(o, "end"));
        if (!strcmp(t, "read") && end && strlen(end) < sizeof tmp.end_min) {
            if (!tmp.end_min[0] || strcmp(end, tmp.end_min) < 0)
                strcpy(tmp.end_min, end);
            if (strcmp(end, tmp.end_max) > 0)
                strcpy(tmp.end_max, end);
        }
    }
    if (c)
        *c = tmp;
    rc = AH_OK;
out:
    json_decref(a);
    return rc;
}
