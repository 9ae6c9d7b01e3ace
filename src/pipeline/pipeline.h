/*
 * pipeline — the single writer of the head-end (DESIGN.md §1): decoded
 * interval reads arrive through a bounded queue from the scheduler's event
 * loop; one thread owns the store and writes them in RocksDB batches.
 *
 * Stages, in order, for each batch: (1) validation (vee_) of each meter's
 * reads in time order; (2) the store_ batch commit; (3) publishing what
 * that commit made durable (pub_committed).
 *
 * The writer owns the store's write batch (and tells the publisher what
 * each commit made durable, pub_committed). Other threads only read the
 * store — gap lists through pipe_missing_intervals(), replay in pub — with
 * no lock of the writer's: RocksDB reads are thread safe and see committed
 * batches only.
 *
 * It must not talk to links or meters, and it never drops a read: a full
 * queue makes pipe_push wait.
 */
#ifndef AH_PIPELINE_H
#define AH_PIPELINE_H

#include "ah_clock.h"
#include "ah_read.h"
#include "pipe_ev.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads held in the queue before pipe_push waits (bounded, STYLE.md §6). */
#define PIPE_QUEUE_MAX 4096
/* Most reads in one store batch. */
#define PIPE_BATCH_MAX 512
/* meters a batch carries of a gap pass (the pass spreads over batches) */
#define PIPE_TICK_METERS 10000

typedef struct pipe pipe_t;

/* What a queue message is. Control is not data: none of these is a
 * presence bit of the read. */
enum pipe_kind {
    PIPE_READ = 0, /* a read to validate, store and publish */
    /* Issue 13: a live read of a meter whose older intervals are still being
     * backfilled. It is stored at once but validated (and published) only
     * when that backlog is in — a PIPE_FLUSH of the meter, a later
     * PIPE_READ, or PIPE_DEFER_MAX deferred reads — so that the validator
     * sees the meter's reads in order. */
    PIPE_DEFER,
    /* No read: the meter's backlog is in, validate its deferred reads
     * (meter set; read.end orders it after the meter's reads, the rest of
     * read ignored). */
    PIPE_FLUSH,
    /* No read: remember lr_blocks, the load-record blocks per request the
     * meter answers (issue 16 item 2), in the store (meter and read.end as
     * for PIPE_FLUSH). */
    PIPE_LR_BLOCKS,
};
#define PIPE_DEFER_MAX 96

/* One queue message: a read of a meter (struct ah_read, with what the
 * meter job read beside the interval for validation: AH_READ_HAS_COVER,
 * _CLEAR_COUNT, _SERIAL, _FREEZE), or a control message. */
struct pipe_read {
    uint32_t meter;      /* store index */
    uint8_t kind;        /* enum pipe_kind */
    uint8_t lr_blocks;   /* PIPE_LR_BLOCKS: 1..255 */
    struct ah_read read; /* read.end: interval end, UTC s */
};

struct pipe_stats {
    unsigned long pushed, written, batches, commit_errors;
    unsigned long max_batch;     /* most puts in one committed store batch */
    unsigned long evictions;     /* meter states written back and unloaded */
    unsigned long release_scans; /* looks into the release spool (once a second) */
};

/* Start the writer thread on st (borrowed; the pipeline is its only user
 * until pipe_stop). sync: fsync each batch. AH_ENOMEM, AH_EIO. */
int pipe_start(store_t *st, bool sync, pipe_t **out);

/* Event types of the events column family (key time|meter|type): PIPE_EV_*
 * and the bodies' codec are pipe_ev.h (docs/operations.md "Events"). */

struct cfg;
typedef struct pub pub_t;

/* What validation and publishing need (all borrowed, must outlive the
 * pipeline). */
struct pipe_vee {
    const struct cfg *cfg;
    const uint32_t *midx;       /* store index of cfg->meters[i] */
    pub_t *pub;                 /* NULL: validate and store, publish nothing */
    const struct ah_clock *clk; /* head-end clock */
    const char *release_dir;    /* spool of `amihead release` requests, or NULL */
    size_t resident_max;        /* meter states kept loaded between batches
                                   (least recently used go first); 0 = 32768 */
};

/* pipe_start with validation (vee_), events, gaps, district days, operator
 * releases and publishing (pub_) in the writer's batches. AH_ENOMEM,
 * AH_EIO, AH_EINVAL (a meter the validator refuses). */
int pipe_start_vee(store_t *st, bool sync, const struct pipe_vee *v, pipe_t **out);

/* Directory of release requests beside the store: "<storage>.release". */
int pipe_release_dir(const char *storage_path, char *buf, size_t cap);

/* Queue one read (copied); waits while the queue is full. AH_OK,
 * AH_ECLOSED after pipe_stop began, or AH_ENOSPC (not queued, at once) when
 * the queue is full behind a batch held for lack of disk space. */
int pipe_push(pipe_t *p, const struct pipe_read *r);

/* A link outage longer than one interval (up false: LINK_DOWN, since the
 * head-end clock UTC s it went down) or its end (up true: LINK_UP): stored
 * as an event at `at` and published as anomaly/LINK_DOWN|LINK_UP/<link>.
 * Never blocks: with PIPE_LINK_EVENTS_MAX waiting, AH_EBUSY (logged by the
 * caller). link and endpoint are copied. */
#define PIPE_LINK_EVENTS_MAX 64
int pipe_push_link(pipe_t *p, const char *link, const char *endpoint, bool up,
                   int64_t since_s, int64_t at_s);

/* Gap list of meter (store_missing_intervals), read beside the writer:
 * intervals still queued or in the batch being built count as missing. */
int pipe_missing_intervals(pipe_t *p, uint32_t meter, uint64_t from, uint64_t to,
                           uint64_t step, uint64_t *out, size_t max, size_t *n);

/* The load-record blocks per request remembered for meter (store index):
 * AH_OK with *n, AH_ENOENT when never learned. */
int pipe_meter_lr_blocks(pipe_t *p, uint32_t meter, uint8_t *n);

/* Write everything queued, stop and join the writer, free; *p = NULL.
 * Returns AH_OK or the last commit error. Accepts NULL. */
int pipe_stop(pipe_t **p);

/* Register the writer's own series in m (borrowed, must outlive p):
 * amihead_store_full (1 while writes are held for space) and
 * amihead_store_commit_errors_total. Call once, before reads flow. */
typedef struct met met_t;
void pipe_set_metrics(pipe_t *p, met_t *m);

/* Counters (a snapshot under the lock). */
void pipe_get_stats(pipe_t *p, struct pipe_stats *out);

#endif /* AH_PIPELINE_H */
