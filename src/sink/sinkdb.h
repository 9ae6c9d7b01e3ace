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

/* Apply one checked batch (payload: the JSON array, see jsb.h). */
int sinkdb_apply(sinkdb_t *db, const char *headend, uint64_t prev, uint64_t first,
                 uint64_t last, const char *payload, size_t len, uint64_t stream_seq,
                 enum sinkdb_result *res);

#endif /* AH_SINKDB_H */
