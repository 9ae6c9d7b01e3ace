/*
 * sink — fetch, check, apply, ack (sink.h).
 */
#include "sink.h"

#include "ah_err.h"
#include "ah_log.h"
#include "jsb.h"
#include "jsx.h"
#include "sinkdb.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(x) offsetof(struct sink_cfg, x)
#define S(x) sizeof(((struct sink_cfg *)0)->x)
const struct scfg_key sink_keys[] = {
    JSX_CFG_KEYS(struct sink_cfg, js),
    {"durable", SCFG_SEG, F(durable), S(durable), 0, 0, "ami-sink",
     "durable consumer name"},
    {"postgres", SCFG_STR, F(postgres), S(postgres), 0, 0, NULL, "libpq conninfo"},
    {"fetch", SCFG_INT, F(fetch), 0, 1, 256, "32", "batches per fetch"},
    {"ack_wait_ms", SCFG_INT, F(ack_wait_ms), 0, 500, 3600000, "30000",
     "redelivery after an unanswered batch"},
    {"max_ack_pending", SCFG_INT, F(max_ack_pending), 0, 1, 100000, "256",
     "batches in flight"},
};
const size_t sink_nkeys = sizeof sink_keys / sizeof sink_keys[0];
#undef F
#undef S

#define SINK_FETCH_MAX 256

/* Test hook (tests/integration/it_scaleout.py): with
 * AMIHEAD_SINK_DIE_AFTER_COMMIT=N the sink kills itself with SIGKILL right
 * after its N-th committed batch, before the ack — the one moment a crash
 * could double-count if the cursor did not guard. */
static long die_after_commit(void)
{
    const char *s = getenv("AMIHEAD_SINK_DIE_AFTER_COMMIT");
    uint64_t v = 0;
    return s && jsb_parse_u64(s, &v) == AH_OK && v < 1000000 ? (long)v : 0;
}

static int db_connect(const struct sink_cfg *c, volatile sig_atomic_t *stop,
                      sinkdb_t **db)
{
    for (long wait = 100; !*stop; jsx_backoff(&wait, 2000)) {
        int rc = sinkdb_open(c->postgres, db);
        if (rc == AH_OK)
            return AH_OK;
        if (rc != AH_ECLOSED)
            return rc;
    }
    return AH_OK;
}

/* A batch that cannot be applied is acked and logged: it stays in the
 * stream for inspection, and must not block the head-ends behind it. */
static void reject(struct jsx_msg *m, struct sink_stats *st)
{
    char why[160] = "Ami-* headers missing or inconsistent";
    if (m->headend[0] && m->first && m->last >= m->first)
        jsb_check(m->data, m->len, m->headend, m->first, m->last, NULL, why, sizeof why);
    ah_log(AH_LOG_ERROR, "sink",
           "stream seq %" PRIu64 " (%s %" PRIu64 "-%" PRIu64 ") rejected: %s",
           m->stream_seq, m->headend, m->first, m->last, why);
    st->rejected++;
    (void)jsx_ack(m);
}

/* Apply m[0..n) (the ones not yet answered) in one transaction, or each in
 * its own when together gives anything but a clean commit. res[i] is set
 * for every batch applied. Returns AH_OK, AH_ECLOSED (connection lost:
 * nothing is known to be committed) or AH_ESTORE. */
static int apply_group(sinkdb_t *db, struct jsx_msg *m, int n, bool together,
                       enum sinkdb_result *res)
{
    int rc = together ? sinkdb_begin(db) : AH_OK;
    for (int i = 0; !rc && i < n; i++) {
        if (!m[i].m)
            continue;
        struct sinkdb_batch b = {m[i].headend, m[i].prev, m[i].first,     m[i].last,
                                 m[i].data,    m[i].len,  m[i].stream_seq};
        rc = sinkdb_apply(db, &b, &res[i]);
    }
    if (together) {
        if (rc == AH_OK)
            rc = sinkdb_commit(db);
        else if (rc != AH_ECLOSED)
            sinkdb_rollback(db);
    }
    return rc;
}

/* A fetched group until every batch in it is answered. */
static int handle(const struct sink_cfg *c, volatile sig_atomic_t *stop, sinkdb_t **db,
                  struct jsx_msg *m, int n, struct sink_stats *st, long *die_at)
{
    enum sinkdb_result res[SINK_FETCH_MAX];
    for (int i = 0; i < n; i++)
        if (!m[i].headend[0] || !m[i].first || m[i].last < m[i].first ||
            m[i].last - m[i].first >= JSB_COUNT_MAX)
            reject(&m[i], st); /* leaves m[i].m NULL */
    bool together = true;
    for (long wait = 100; !*stop;) {
        if (!*db) {
            int rc = db_connect(c, stop, db);
            if (rc)
                return rc;
            if (!*db)
                break;
            st->reconnects++;
        }
        int rc = apply_group(*db, m, n, together, res);
        if (rc == AH_ECLOSED) {
            sinkdb_destroy(db);
            jsx_backoff(&wait, 2000);
            continue;
        }
        if (rc && together) {
            together = false; /* find the batch the server refuses */
            continue;
        }
        if (rc) {
            /* refused on its own: leave the rest for a redelivery after
             * ack_wait (the cursor skips what did commit) */
            long pause = 1000;
            jsx_backoff(&pause, 1000);
            break;
        }
        /* committed: only now answer JetStream */
        for (int i = 0; i < n; i++) {
            if (!m[i].m)
                continue;
            if (res[i] == SINKDB_REJECTED) {
                reject(&m[i], st);
                continue;
            }
            if (res[i] == SINKDB_EARLY) {
                st->early++;
                if (m[i].delivered >= 20)
                    ah_log(AH_LOG_WARN, m[i].headend,
                           "batch %" PRIu64 "-%" PRIu64
                           " still waits for the batch ending at "
                           "%" PRIu64 " (delivered %" PRIu64
                           " times): lost from the stream?",
                           m[i].first, m[i].last, m[i].prev, m[i].delivered);
                (void)jsx_nak(&m[i], 500);
                continue;
            }
            if (res[i] == SINKDB_APPLIED) {
                st->applied++;
                st->rows += m[i].last - m[i].first + 1;
                if (*die_at && --*die_at == 0) {
                    ah_log(AH_LOG_WARN, "sink",
                           "test hook: SIGKILL after commit, before ack");
                    raise(SIGKILL);
                }
            } else {
                st->duplicates++;
            }
            (void)jsx_ack(&m[i]); /* a lost ack = one redelivery, answered "duplicate" */
        }
        return AH_OK;
    }
    for (int i = 0; i < n; i++)
        jsx_msg_done(&m[i]);
    return AH_OK;
}

int sink_run(const struct sink_cfg *c, volatile sig_atomic_t *stop,
             struct sink_stats *stp)
{
    struct sink_stats dummy = {0};
    struct sink_stats *st = stp ? stp : &dummy;
    char subjects[80];
    snprintf(subjects, sizeof subjects, "%s.>", c->js.subject_prefix);
    long die_at = die_after_commit();
    sinkdb_t *db = NULL;
    jsx_t *js = NULL;
    int rc = db_connect(c, stop, &db);
    for (long wait = 100; !rc && !*stop; jsx_backoff(&wait, 2000)) {
        if (!js && (rc = jsx_open(&c->js, c->durable, stop, &js)) != AH_OK)
            break;
        if (js && jsx_pull_open(js, c->durable, subjects, c->ack_wait_ms,
                                (int)c->max_ack_pending) == AH_OK)
            break;
    }
    struct jsx_msg *msgs = calloc(SINK_FETCH_MAX, sizeof *msgs);
    if (!msgs)
        rc = AH_ENOMEM;
    while (!rc && js && !*stop) {
        int n = jsx_fetch(js, msgs, (int)c->fetch, 1000);
        if (n < 0) {
            long pause = 200; /* leader election, a node down: the client reconnects */
            jsx_backoff(&pause, 200);
            continue;
        }
        if (n > 0)
            rc = handle(c, stop, &db, msgs, n, st, &die_at);
    }
    free(msgs);
    jsx_destroy(&js);
    sinkdb_destroy(&db);
    return rc;
}
