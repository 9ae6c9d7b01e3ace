/*
 * sinkdb — the central PostgreSQL store of the scale-out feed
 * (docs/scale-out.md "Schema"): the only module that includes libpq-fe.h.
 *
 * One batch = one call of the SQL function ami_apply() = one transaction:
 * per-head-end cursor locked, rows inserted with ON CONFLICT DO NOTHING,
 * cursor moved to the batch's last sequence. The cursor decides:
 *   last <= cursor           "duplicate"  already committed (a redelivery)
 *   prev  > cursor           "early"      an earlier batch is still to come
 *   bodies do not match      "rejected"   not a JSON array of last-first+1
 *   the headers                           objects of this head-end with seq
 *                                         first, first+1, ... (nothing written)
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

enum sinkdb_result { SINKDB_APPLIED, SINKDB_DUPLICATE, SINKDB_EARLY, SINKDB_REJECTED };

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
 * transaction unless inside sinkdb_begin/commit. The server checks the
 * bodies against the headers itself (it parses them anyway), in the same
 * pass that finds what the batch holds and which monthly partitions it
 * needs. */
struct sinkdb_batch {
    const char *headend;
    uint64_t prev, first, last; /* the Ami-* headers (jsb.h) */
    const char *payload;        /* the JSON array, len bytes */
    size_t len;
    uint64_t stream_seq;
};
int sinkdb_apply(sinkdb_t *db, const struct sinkdb_batch *b, enum sinkdb_result *res);

/* The cursor of a head-end: its last applied sequence, 0 when none yet. */
int sinkdb_cursor(sinkdb_t *db, const char *headend, uint64_t *last);

#endif /* AH_SINKDB_H */
