/*
 * sinkdb — the central PostgreSQL store of the scale-out feed
 * (docs/scale-out.md "Schema"): the only module that includes libpq-fe.h.
 *
 * One batch = one call of the SQL function ami_apply() = one transaction:
 * per-head-end cursor locked, rows inserted with ON CONFLICT DO NOTHING,
 * cursor moved to the batch's last sequence. The cursor decides:
 *   last <= cursor           "duplicate"  already committed (a redelivery)
 *   prev  > cursor           "early"      an earlier batch is still to come
 *   prev == cursor           "applied"    (first > cursor + 1: the head-end
 *                                          lost that range; recorded in
 *                                          ami_feed_breaks, never hidden)
 * where prev is the last sequence of the batch before it on the subject.
 *
 * Errors: AH_ECLOSED when the connection is gone (reconnect and retry the
 * same batch), AH_ESTORE for anything else the server refused.
 */
#ifndef AH_SINKDB_H
#define AH_SINKDB_H

#include <stddef.h>
#include <stdint.h>

typedef struct sinkdb sinkdb_t;

enum sinkdb_result { SINKDB_APPLIED, SINKDB_DUPLICATE, SINKDB_EARLY };

/* Connect with a libpq conninfo string (borrowed for the call) and create
 * the schema if missing. AH_ECLOSED when the server is not reachable. */
int sinkdb_open(const char *conninfo, sinkdb_t **out);
void sinkdb_destroy(sinkdb_t **db);

/* A transaction around several sinkdb_apply() calls: one commit (one WAL
 * flush) for a whole fetch. Errors as sinkdb_apply; after a failed commit
 * the caller cannot know whether it happened and applies the same batches
 * again, which the cursor answers "duplicate". */
int sinkdb_begin(sinkdb_t *db);
int sinkdb_commit(sinkdb_t *db);
void sinkdb_rollback(sinkdb_t *db);

/* Apply one checked batch (payload: the JSON array, see jsb.h); its own
 * transaction unless inside sinkdb_begin/commit. kinds: what besides reads
 * the batch holds (SINKDB_HAS_*, from jsb_check's counts) and the reads'
 * interval-end range (which monthly partitions it needs), so that a batch
 * of reads costs one pass over its bodies. */
#define SINKDB_HAS_ANOMALY 1u
#define SINKDB_HAS_GAP     2u
#define SINKDB_HAS_DAILY   4u
struct sinkdb_batch {
    const char *headend;
    uint64_t prev, first, last; /* the Ami-* headers (jsb.h) */
    const char *payload;        /* the JSON array, len bytes */
    size_t len;
    uint64_t stream_seq;
    unsigned kinds;               /* SINKDB_HAS_* */
    const char *end_min, *end_max; /* of the reads (jsb_counts); "" = none */
};
int sinkdb_apply(sinkdb_t *db, const struct sinkdb_batch *b, enum sinkdb_result *res);

/* The cursor of a head-end: its last applied sequence, 0 when none yet. */
int sinkdb_cursor(sinkdb_t *db, const char *headend, uint64_t *last);

#endif /* AH_SINKDB_H */
