/*
 * sink — the durable JetStream consumer that fills the central PostgreSQL
 * store (docs/scale-out.md). For each fetch of up to `fetch` batches:
 *
 *     headers missing ──────────────────────────► log, ack ("rejected": kept
 *        │                                          in the stream, written nowhere)
 *        ▼
 *     BEGIN; ami_apply() per batch; COMMIT  ── connection lost ──► reconnect,
 *        │      (cursor check, bodies vs headers,                  same fetch again
 *        │       inserts, cursor update)
 *        │                                   ── refused ──► each batch on its own
 *        ├─ applied / duplicate ──► ack (only now: after the commit)
 *        ├─ rejected ────────────► log why (jsb_check), ack
 *        └─ early ───────────────► nak with a delay: an earlier batch is still
 *                                   due (redelivered after ack_wait)
 *
 * A crash between commit and ack costs redeliveries, which the cursor
 * answers "duplicate". Must not: ack before the commit, or commit a batch
 * that does not follow the cursor.
 */
#ifndef AH_SINK_H
#define AH_SINK_H

#include "jsx.h"
#include "scfg.h"

#include <signal.h>
#include <stdint.h>

struct sink_cfg {
    struct jsx_cfg js;
    char durable[64];
    char postgres[512]; /* libpq conninfo */
    int64_t fetch;
    int64_t ack_wait_ms;
    int64_t max_ack_pending;
};

extern const struct scfg_key sink_keys[];
extern const size_t sink_nkeys;

struct sink_stats {
    uint64_t applied, duplicates, early, rejected, rows, reconnects;
};

/* Run until *stop is set. AH_OK after a stop. stats may be NULL. */
int sink_run(const struct sink_cfg *c, volatile sig_atomic_t *stop,
             struct sink_stats *st);

#endif /* AH_SINK_H */
