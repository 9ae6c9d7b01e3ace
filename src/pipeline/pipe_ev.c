/*
 * pipe_ev — the events codec (see pipe_ev.h). Keys and their JSON types
 * live here only; the body is dumped with sorted keys so that one event
 * has one byte form (a release applied twice writes the same value).
 */
#include "pipe_ev.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "vee.h"
#include "vee_district.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 9999-12-31T23:59:59Z: the last second the ISO form has four digits for */
#define T_MAX PIPE_EV_TIME_MAX

/* ---- build ---------------------------------------------------------------- */

/* A body under construction: the first value that cannot be made (a time
 * out of range, a string that is not UTF-8, no memory) fails the build. */
struct bld {
    json_t *o;
    int rc;
};

static void put(struct bld *b, json_t *o, const char *key, json_t *v)
{
    if (!v) {
        if (b->rc == AH_OK)
            b->rc = AH_EINVAL;
        return;
    }
    if (json_object_set_new(o, key, v) != 0 && b->rc == AH_OK)
        b->rc = AH_ENOMEM;
}

static json_t *jtime(int64_t s)
{
    if (s < 0 || s > T_MAX)
        return NULL;
    char t[32];
    ah_time_format(s * 1000, t, sizeof t);
    return json_string(t);
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : NULL;
}

static int bld_begin(struct bld *b, const char *type)
{
    b->rc = AH_OK;
    b->o = json_object();
    if (!b->o)
        return AH_ENOMEM;
    put(b, b->o, "type", jstr(type));
    return b->rc;
}

static int bld_end(struct bld *b, char **out)
{
    *out = NULL;
    if (b->rc == AH_OK) {
        *out = json_dumps(b->o, JSON_COMPACT | JSON_SORT_KEYS);
        if (!*out)
            b->rc = AH_ENOMEM;
    }
    json_decref(b->o);
    return b->rc;
}

int pipe_ev_build_rule(unsigned bit, const struct pipe_ev_rule *e, char **out)
{
    struct bld b;
    if (bit >= VEE_NRULES)
        return AH_EINVAL;
    if (bld_begin(&b, vee_flag_name(bit)) == AH_OK) {
        put(&b, b.o, "state", json_string(e->started ? "start" : "cleared"));
        put(&b, b.o, "meter", jstr(e->meter));
        put(&b, b.o, "district", jstr(e->district));
        put(&b, b.o, "since", jtime(e->since));
        put(&b, b.o, "at", jtime(e->at));
        put(&b, b.o, "value", json_integer(e->value));
        put(&b, b.o, "threshold", json_integer(e->threshold));
        put(&b, b.o, "aux",
            json_pack("[III]", (json_int_t)e->aux[0], (json_int_t)e->aux[1],
                      (json_int_t)e->aux[2]));
        put(&b, b.o, "quality", json_integer(e->quality));
    }
    return bld_end(&b, out);
}

int pipe_ev_build_gap(const struct pipe_ev_gap *e, char **out)
{
    struct bld b;
    if (bld_begin(&b, "GAP") == AH_OK) {
        put(&b, b.o, "meter", jstr(e->meter));
        put(&b, b.o, "district", jstr(e->district));
        put(&b, b.o, "first", jtime(e->first));
        put(&b, b.o, "last", jtime(e->last));
        put(&b, b.o, "intervals", json_integer(e->intervals));
    }
    return bld_end(&b, out);
}

int pipe_ev_build_release(const struct pipe_ev_release *e, char **out)
{
    struct bld b;
    if (e->released > INT64_MAX)
        return AH_EINVAL;
    if (bld_begin(&b, "RELEASE") == AH_OK) {
        put(&b, b.o, "meter", jstr(e->meter));
        put(&b, b.o, "reason", jstr(e->reason));
        put(&b, b.o, "operator", jstr(e->op));
        put(&b, b.o, "from", jtime(e->from));
        put(&b, b.o, "to", jtime(e->to));
        put(&b, b.o, "requested", jtime(e->requested));
        put(&b, b.o, "applied", jtime(e->applied));
        put(&b, b.o, "released", json_integer((json_int_t)e->released));
    }
    return bld_end(&b, out);
}

int pipe_ev_build_link(bool up, const struct pipe_ev_link *e, char **out)
{
    struct bld b;
    if (bld_begin(&b, up ? "LINK_UP" : "LINK_DOWN") == AH_OK) {
        put(&b, b.o, "link", jstr(e->link));
        put(&b, b.o, "endpoint", jstr(e->endpoint));
        put(&b, b.o, "state", json_string(up ? "cleared" : "start"));
        put(&b, b.o, "since", jtime(e->since));
        put(&b, b.o, "at", jtime(e->at));
        /* both times are in range: no overflow */
        put(&b, b.o, "down_s", json_integer(e->at - e->since));
    }
    return bld_end(&b, out);
}

static const struct {
    uint32_t flag;
    uint16_t type;
    const char *name;
} day_flags[] = {
    {VEE_DIST_LINE_LOSS, PIPE_EV_LINE_LOSS, "LINE_LOSS"},
    {VEE_DIST_LINE_LOSS_SWING, PIPE_EV_LOSS_SWING, "LINE_LOSS_SWING"},
    {VEE_DIST_INCOMPLETE, PIPE_EV_INCOMPLETE, "INCOMPLETE"},
    {VEE_DIST_NO_ENERGY, PIPE_EV_NO_ENERGY, "NO_ENERGY"},
    {VEE_DIST_PARTIAL, PIPE_EV_PARTIAL, "PARTIAL"},
};
#define NFLAGS (sizeof day_flags / sizeof day_flags[0])

uint16_t pipe_ev_day_flag_type(uint32_t flag)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (day_flags[i].flag == flag)
            return day_flags[i].type;
    return PIPE_EV_NO_ENERGY;
}

const char *pipe_ev_day_flag_name(uint32_t flag)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (day_flags[i].flag == flag)
            return day_flags[i].name;
    return "NO_ENERGY";
}

static const char *day_type_name(uint16_t type)
{
    if (type == PIPE_EV_DAILY)
        return "DAILY";
    for (size_t i = 0; i < NFLAGS; i++)
        if (day_flags[i].type == type)
            return day_flags[i].name;
    return NULL;
}

static void day_lists(struct bld *b, const struct pipe_ev_day *e)
{
    json_t *unk = json_array(), *fl = json_array(), *mv = json_array();
    for (size_t i = 0; unk && i < e->nunknown; i++)
        if (json_array_append_new(unk,
                                  json_pack("{s:s,s:s}", "meter", e->unknown[i].meter,
                                            "reason", e->unknown[i].reason)) != 0)
            b->rc = AH_EINVAL;
    for (size_t i = 0; fl && i < NFLAGS; i++)
        if ((e->flags & day_flags[i].flag) &&
            json_array_append_new(fl, json_string(day_flags[i].name)) != 0)
            b->rc = AH_ENOMEM;
    for (size_t i = 0; mv && i < e->nmovers; i++) {
        const struct pipe_ev_mover *m = &e->movers[i];
        if (json_array_append_new(mv, json_pack("{s:s,s:I,s:I,s:I}", "meter", m->meter,
                                                "energy", (json_int_t)m->energy,
                                                "previous", (json_int_t)m->previous,
                                                "change", (json_int_t)m->change)) != 0)
            b->rc = AH_EINVAL;
    }
    put(b, b->o, "unknown", unk);
    put(b, b->o, "flags", fl);
    put(b, b->o, "customers", mv);
}

int pipe_ev_build_day(uint16_t type, const struct pipe_ev_day *e, char **out)
{
    struct bld b;
    const char *name = day_type_name(type);
    if (!name)
        return AH_EINVAL;
    time_t lt = (time_t)((int64_t)e->day * 86400);
    struct tm tm;
    char date[40];
    if (!gmtime_r(&lt, &tm))
        return AH_EINVAL;
    snprintf(date, sizeof date, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday);
    if (bld_begin(&b, name) == AH_OK) {
        put(&b, b.o, "district", jstr(e->district));
        put(&b, b.o, "day", json_string(date));
        put(&b, b.o, "day_number", json_integer(e->day));
        put(&b, b.o, "complete", json_boolean(e->complete));
        put(&b, b.o, "expected", json_integer(e->expected));
        put(&b, b.o, "collected", json_integer(e->collected));
        put(&b, b.o, "district_energy", json_integer(e->district_energy));
        put(&b, b.o, "district_reverse", json_integer(e->district_reverse));
        put(&b, b.o, "customers_energy", json_integer(e->customers_energy));
        put(&b, b.o, "customers_export", json_integer(e->customers_export));
        if (e->loss_valid) {
            put(&b, b.o, "supply", json_integer(e->supply));
            put(&b, b.o, "sales", json_integer(e->sales));
            put(&b, b.o, "loss_pct", json_real(e->loss_pct));
        }
        if (e->flags & VEE_DIST_LINE_LOSS_SWING) {
            put(&b, b.o, "swing_day_pct", json_real(e->swing_day_pct));
            put(&b, b.o, "swing_month_pct", json_real(e->swing_month_pct));
        }
        day_lists(&b, e);
    }
    return bld_end(&b, out);
}

/* ---- parse ---------------------------------------------------------------- */

enum pipe_ev_kind pipe_ev_kind_of(uint16_t type)
{
    if (type < VEE_NRULES)
        return PIPE_EVK_RULE;
    if (type == PIPE_EV_GAP)
        return PIPE_EVK_GAP;
    if (type == PIPE_EV_RELEASE)
        return PIPE_EVK_RELEASE;
    if (day_type_name(type))
        return PIPE_EVK_DAY;
    if (type == PIPE_EV_LINK_DOWN || type == PIPE_EV_LINK_UP)
        return PIPE_EVK_LINK;
    return 0;
}

/* Readers of one key: a key missing or of another type marks the body bad. */
static const char *rstr(json_t *o, const char *key, bool *bad)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s)
        *bad = true;
    return s;
}

static int64_t rnum(json_t *o, const char *key, int64_t lo, int64_t hi, bool *bad)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        *bad = true;
        return 0;
    }
    return (int64_t)json_integer_value(v);
}

/* A key bodies of older versions lack: absent is 0 (present, it must be
 * of its type). */
static int64_t onum(json_t *o, const char *key, int64_t lo, int64_t hi, bool *bad)
{
    return json_object_get(o, key) ? rnum(o, key, lo, hi, bad) : 0;
}

static double rreal(json_t *o, const char *key, bool *bad)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) {
        *bad = true;
        return 0;
    }
    return json_number_value(v);
}

static int64_t rtime(json_t *o, const char *key, bool *bad)
{
    const char *s = rstr(o, key, bad);
    int64_t ms = 0;
    if (!s || ah_time_parse(s, &ms) != AH_OK || ms < 0 || ms / 1000 > T_MAX) {
        *bad = true;
        return 0;
    }
    return ms / 1000;
}

static bool rbool(json_t *o, const char *key, bool *bad)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v))
        *bad = true;
    return json_is_true(v);
}

static void parse_rule(json_t *o, struct pipe_ev_rule *e, bool *bad)
{
    const char *st = rstr(o, "state", bad);
    e->started = st && strcmp(st, "start") == 0;
    if (st && !e->started && strcmp(st, "cleared") != 0)
        *bad = true;
    e->meter = rstr(o, "meter", bad);
    e->district = rstr(o, "district", bad);
    e->since = rtime(o, "since", bad);
    e->at = rtime(o, "at", bad);
    e->value = rnum(o, "value", INT64_MIN, INT64_MAX, bad);
    e->threshold = rnum(o, "threshold", INT64_MIN, INT64_MAX, bad);
    e->quality = (uint32_t)onum(o, "quality", 0, UINT32_MAX, bad);
    json_t *aux = json_object_get(o, "aux");
    if (!aux)
        return; /* older bodies: none */
    if (!json_is_array(aux) || json_array_size(aux) != 3) {
        *bad = true;
        return;
    }
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_array_get(aux, i);
        if (!json_is_integer(v))
            *bad = true;
        e->aux[i] = (int64_t)json_integer_value(v);
    }
}

static void parse_gap(json_t *o, struct pipe_ev_gap *e, bool *bad)
{
    e->meter = rstr(o, "meter", bad);
    /* bodies written before the gap carried its district have none */
    e->district = json_string_value(json_object_get(o, "district"));
    if (!e->district)
        e->district = "";
    e->first = rtime(o, "first", bad);
    e->last = rtime(o, "last", bad);
    e->intervals = (uint32_t)rnum(o, "intervals", 0, UINT32_MAX, bad);
}

static void parse_release(json_t *o, struct pipe_ev_release *e, bool *bad)
{
    e->meter = rstr(o, "meter", bad);
    e->reason = rstr(o, "reason", bad);
    e->op = rstr(o, "operator", bad);
    e->from = rtime(o, "from", bad);
    e->to = rtime(o, "to", bad);
    e->requested = rtime(o, "requested", bad);
    e->applied = rtime(o, "applied", bad);
    e->released = (uint64_t)rnum(o, "released", 0, INT64_MAX, bad);
}

static void parse_link(json_t *o, struct pipe_ev_link *e, bool *bad)
{
    e->link = rstr(o, "link", bad);
    e->endpoint = rstr(o, "endpoint", bad);
    e->since = rtime(o, "since", bad);
    e->at = rtime(o, "at", bad);
}

/* The day's lists: movers and unknown meters in one block (ev->arr_). */
static int parse_day_lists(json_t *o, struct pipe_ev *ev, bool *bad)
{
    struct pipe_ev_day *e = &ev->u.day;
    json_t *unk = json_object_get(o, "unknown"), *mv = json_object_get(o, "customers");
    json_t *fl = json_object_get(o, "flags"), *v;
    /* older bodies lack some lists: absent is empty */
    if ((unk && !json_is_array(unk)) || (mv && !json_is_array(mv)) ||
        (fl && !json_is_array(fl))) {
        *bad = true;
        return AH_OK;
    }
    size_t nu = json_array_size(unk), nm = json_array_size(mv), i;
    json_array_foreach(fl, i, v)
    {
        const char *f = json_string_value(v);
        for (size_t k = 0; f && k < NFLAGS; k++)
            if (strcmp(f, day_flags[k].name) == 0)
                e->flags |= day_flags[k].flag;
        *bad = *bad || !f;
    }
    if (nu + nm == 0)
        return AH_OK;
    struct pipe_ev_mover *m =
        malloc(nm * sizeof *m + nu * sizeof(struct pipe_ev_unknown));
    if (!m)
        return AH_ENOMEM;
    struct pipe_ev_unknown *u = (struct pipe_ev_unknown *)(void *)(m + nm);
    ev->arr_ = m;
    json_array_foreach(mv, i, v)
    {
        m[i].meter = rstr(v, "meter", bad);
        m[i].energy = rnum(v, "energy", INT64_MIN, INT64_MAX, bad);
        m[i].previous = rnum(v, "previous", INT64_MIN, INT64_MAX, bad);
        m[i].change = rnum(v, "change", INT64_MIN, INT64_MAX, bad);
    }
    json_array_foreach(unk, i, v)
    {
        u[i].meter = rstr(v, "meter", bad);
        u[i].reason = rstr(v, "reason", bad);
    }
    e->movers = m;
    e->nmovers = nm;
    e->unknown = u;
    e->nunknown = nu;
    return AH_OK;
}

static int parse_day(json_t *o, struct pipe_ev *ev, bool *bad)
{
    struct pipe_ev_day *e = &ev->u.day;
    e->district = rstr(o, "district", bad);
    const char *date = rstr(o, "day", bad);
    if (date && strlen(date) < sizeof ev->date)
        memcpy(ev->date, date, strlen(date) + 1);
    else
        *bad = true;
    e->day = (int32_t)rnum(o, "day_number", INT32_MIN, INT32_MAX, bad);
    e->complete = rbool(o, "complete", bad);
    e->expected = (uint32_t)onum(o, "expected", 0, UINT32_MAX, bad);
    e->collected = (uint32_t)onum(o, "collected", 0, UINT32_MAX, bad);
    e->district_energy = onum(o, "district_energy", INT64_MIN, INT64_MAX, bad);
    e->district_reverse = onum(o, "district_reverse", INT64_MIN, INT64_MAX, bad);
    e->customers_energy = onum(o, "customers_energy", INT64_MIN, INT64_MAX, bad);
    e->customers_export = onum(o, "customers_export", INT64_MIN, INT64_MAX, bad);
    e->loss_valid = json_object_get(o, "loss_pct") != NULL;
    if (e->loss_valid) {
        e->supply = rnum(o, "supply", INT64_MIN, INT64_MAX, bad);
        e->sales = rnum(o, "sales", INT64_MIN, INT64_MAX, bad);
        e->loss_pct = rreal(o, "loss_pct", bad);
    }
    int rc = parse_day_lists(o, ev, bad);
    if (rc == AH_OK && (e->flags & VEE_DIST_LINE_LOSS_SWING)) {
        e->swing_day_pct = rreal(o, "swing_day_pct", bad);
        e->swing_month_pct = rreal(o, "swing_month_pct", bad);
    }
    return rc;
}

int pipe_ev_parse(uint16_t type, const uint8_t *bytes, size_t len, struct pipe_ev *out)
{
    memset(out, 0, sizeof *out);
    out->type = type;
    out->kind = pipe_ev_kind_of(type);
    if (!out->kind)
        return AH_EINVAL;
    json_t *o = json_loadb((const char *)bytes, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return AH_EINVAL;
    }
    out->doc_ = o;
    bool bad = false;
    int rc = AH_OK;
    out->name = rstr(o, "type", &bad);
    switch (out->kind) {
    case PIPE_EVK_RULE:
        parse_rule(o, &out->u.rule, &bad);
        break;
    case PIPE_EVK_GAP:
        parse_gap(o, &out->u.gap, &bad);
        break;
    case PIPE_EVK_RELEASE:
        parse_release(o, &out->u.release, &bad);
        break;
    case PIPE_EVK_DAY:
        rc = parse_day(o, out, &bad);
        break;
    case PIPE_EVK_LINK:
        parse_link(o, &out->u.link, &bad);
        break;
    }
    if (rc == AH_OK && bad)
        rc = AH_EINVAL;
    if (rc != AH_OK)
        pipe_ev_free(out);
    return rc;
}

void pipe_ev_free(struct pipe_ev *e)
{
    if (!e)
        return;
    json_decref(e->doc_);
    free(e->arr_);
    e->doc_ = e->arr_ = NULL;
}
