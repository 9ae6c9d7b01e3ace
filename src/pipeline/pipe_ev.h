/*
 * pipe_ev — the events codec: the one place that builds and parses the
 * bodies of the store's events column family (key time | meter | type,
 * value one JSON object; docs/operations.md "Events"). The writer builds
 * them; `amihead events`, `amihead districts` and the writer at start (the
 * district days already judged) parse them back.
 *
 * It must not touch the store or the clock: bytes in, struct out, and the
 * other way. A body it cannot read is AH_EINVAL, never a crash (the bytes
 * come from disk: tests/fuzz/fuzz_events.c).
 */
#ifndef AH_PIPE_EV_H
#define AH_PIPE_EV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Event types (the key's type): a meter rule's episode transition uses its
 * enum vee_bit (< VEE_NRULES); the others follow. */
#define PIPE_EV_GAP        0x100 /* intervals left the backfill window missing */
#define PIPE_EV_RELEASE    0x101 /* an operator released suspect reads */
#define PIPE_EV_DAILY      0x200 /* a district day judged (totals, loss) */
#define PIPE_EV_LINE_LOSS  0x201
#define PIPE_EV_LOSS_SWING 0x202
#define PIPE_EV_INCOMPLETE 0x203
#define PIPE_EV_NO_ENERGY  0x204
#define PIPE_EV_PARTIAL    0x205 /* judged on the rest, meters with unknown energy named */
#define PIPE_EV_LINK_DOWN  0x300 /* a link was down longer than one interval */
#define PIPE_EV_LINK_UP    0x301 /* ... and is back */

/* Times are UTC seconds (ISO 8601 "…Z" in the body), within years
 * 1970..9999: 0 .. PIPE_EV_TIME_MAX. Strings are borrowed: for a build, the caller's; for
 * a parse, the parsed event's (valid until pipe_ev_free). */

#define PIPE_EV_TIME_MAX 253402300799LL

/* A meter rule's episode started or cleared (type: its enum vee_bit; the
 * body's "type" is vee_flag_name of it). */
struct pipe_ev_rule {
    bool started; /* "state": "start" / "cleared" */
    const char *meter, *district;
    int64_t since, at;
    int64_t value, threshold, aux[3]; /* units per docs/validation.md */
    uint32_t quality;                 /* the read's flags */
};

/* Intervals first..last (interval ends) still missing past the window. */
struct pipe_ev_gap {
    const char *meter, *district;
    int64_t first, last;
    uint32_t intervals;
};

/* An operator's release request, applied. */
struct pipe_ev_release {
    const char *meter, *reason, *op; /* op: "operator" */
    int64_t from, to, requested, applied;
    uint64_t released; /* reads */
};

/* A link outage passed one interval (LINK_DOWN) or ended (LINK_UP). */
struct pipe_ev_link {
    const char *link, *endpoint;
    int64_t since, at; /* down_s = at - since */
};

struct pipe_ev_unknown {
    const char *meter, *reason; /* a meter whose day energy is unknown */
};

struct pipe_ev_mover {
    const char *meter;
    int64_t energy, previous, change; /* primary 0.01 kWh */
};

/* A district day judged: DAILY, and a copy for each flag raised (type
 * PIPE_EV_LINE_LOSS .. PIPE_EV_PARTIAL). Energies primary 0.01 kWh. */
struct pipe_ev_day {
    const char *district;
    int32_t day; /* "day_number": local days since 1970-01-01; "day" its date */
    bool complete;
    uint32_t expected, collected;
    int64_t district_energy, district_reverse, customers_energy, customers_export;
    bool loss_valid; /* supply, sales and loss_pct are there */
    int64_t supply, sales;
    double loss_pct;
    uint32_t flags; /* VEE_DIST_*; swing_*_pct are there with LINE_LOSS_SWING */
    double swing_day_pct, swing_month_pct;
    const struct pipe_ev_unknown *unknown;
    size_t nunknown;
    const struct pipe_ev_mover *movers; /* "customers" */
    size_t nmovers;
};

/* The body of one event as JSON text (sorted keys, compact), NUL
 * terminated, in *out (caller frees). type: for a day, PIPE_EV_DAILY or a
 * flag's type; for a rule, its enum vee_bit. AH_OK, AH_ENOMEM, AH_EINVAL
 * (a type or time this codec cannot write). */
int pipe_ev_build_rule(unsigned bit, const struct pipe_ev_rule *e, char **out);
int pipe_ev_build_gap(const struct pipe_ev_gap *e, char **out);
int pipe_ev_build_release(const struct pipe_ev_release *e, char **out);
int pipe_ev_build_link(bool up, const struct pipe_ev_link *e, char **out);
int pipe_ev_build_day(uint16_t type, const struct pipe_ev_day *e, char **out);

/* The event type of one district flag (a single VEE_DIST_* bit) and its
 * name ("LINE_LOSS", …). */
uint16_t pipe_ev_day_flag_type(uint32_t flag);
const char *pipe_ev_day_flag_name(uint32_t flag);

enum pipe_ev_kind {
    PIPE_EVK_RULE = 1,
    PIPE_EVK_GAP,
    PIPE_EVK_RELEASE,
    PIPE_EVK_DAY,
    PIPE_EVK_LINK,
};

/* One event parsed (pipe_ev_parse); free with pipe_ev_free. */
struct pipe_ev {
    uint16_t type; /* the key's */
    enum pipe_ev_kind kind;
    const char *name; /* the body's "type": STOPPED, GAP, DAILY, … */
    union {
        struct pipe_ev_rule rule;
        struct pipe_ev_gap gap;
        struct pipe_ev_release release;
        struct pipe_ev_day day;
        struct pipe_ev_link link; /* up: type == PIPE_EV_LINK_UP */
    } u;
    char date[16];     /* day: "YYYY-MM-DD" as the body says */
    void *doc_, *arr_; /* owned: the document, the day's lists */
};

/* The kind of an event type, 0 when none this codec knows. */
enum pipe_ev_kind pipe_ev_kind_of(uint16_t type);

/* Parse the body (len bytes, not NUL terminated) of an event of type.
 * AH_OK (free *out with pipe_ev_free), AH_EINVAL (not a body of that
 * type: nothing to free), AH_ENOMEM. */
int pipe_ev_parse(uint16_t type, const uint8_t *bytes, size_t len, struct pipe_ev *out);

/* Accepts a zeroed or freed event. */
void pipe_ev_free(struct pipe_ev *e);

#endif /* AH_PIPE_EV_H */
