/*
 * pipeline — the single writer of the head-end (DESIGN.md §1): decoded
 * interval reads arrive through a bounded queue from the scheduler's event
 * loop; one thread owns the store and writes them in RocksDB batches.
 *
 * Stages, in order, for each batch: (1) validation — issue 5, vee_, not yet
 * here: reads are stored with quality 0; (2) store_ batch commit; (3)
 * publishing what was committed — issue 6, pub_, not yet here. Both seams
 * are marked in pipeline.c (pipe_writer).
 *
 * The store is not shared: other threads ask it for gap lists through
 * pipe_missing_intervals(), which takes the writer's lock, so a query never
 * runs while a batch is being built or committed (store.h threads note).
 *
 * It must not talk to links or meters, and it never drops a read: a full
 * queue makes pipe_push wait.
 */
#ifndef AH_PIPELINE_H
#define AH_PIPELINE_H

#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads held in the queue before pipe_push waits (bounded, STYLE.md §6). */
#define PIPE_QUEUE_MAX 4096
/* Most reads in one store batch. */
#define PIPE_BATCH_MAX 512

typedef struct pipe pipe_t;

/* What the scheduler read beside the interval, for validation (vee.h
 * struct vee_input). Status words 1..7 and the meter clock travel in rec
 * (STORE_REC_HAS_STATUS / STORE_REC_HAS_METER_CLOCK with headend_clock_ms,
 * the head-end clock when the meter clock was read). */
#define PIPE_HAS_COVER       (1u << 0) /* cover_count and terminal_count */
#define PIPE_HAS_CLEAR_COUNT (1u << 1) /* clear_count */
#define PIPE_HAS_SERIAL      (1u << 2) /* serial */
#define PIPE_HAS_FREEZE      (1u << 3) /* freeze_at and freeze_fwd */

struct pipe_read {
    uint32_t meter; /* store index */
    uint64_t end;   /* interval end, UTC s */
    struct store_rec rec;
    uint32_t has;            /* PIPE_HAS_* */
    uint32_t cover_count;    /* 03300D00 meter cover opened (protocols.md §2.6) */
    uint32_t terminal_count; /* 03300E00 terminal cover opened */
    uint32_t clear_count;    /* 03300100 meter clear */
    uint64_t serial;         /* meter identity: number 04000402 (or address) */
    int64_t freeze_at;       /* UTC s of the daily freeze (local midnight) */
    int64_t freeze_fwd;      /* forward total at freeze_at, 0.01 kWh secondary */
};

struct pipe_stats {
    unsigned long pushed, written, batches, commit_errors;
};

/* Start the writer thread on st (borrowed; the pipeline is its only user
 * until pipe_stop). sync: fsync each batch. AH_ENOMEM, AH_EIO. */
int pipe_start(store_t *st, bool sync, pipe_t **out);

/* Queue one read (copied); waits while the queue is full. AH_OK, or
 * AH_ECLOSED after pipe_stop began. */
int pipe_push(pipe_t *p, const struct pipe_read *r);

/* Gap list of meter (store_missing_intervals) under the writer's lock. */
int pipe_missing_intervals(pipe_t *p, uint32_t meter, uint64_t from, uint64_t to,
                           uint64_t step, uint64_t *out, size_t max, size_t *n);

/* Write everything queued, stop and join the writer, free; *p = NULL.
 * Returns AH_OK or the last commit error. Accepts NULL. */
int pipe_stop(pipe_t **p);

/* Counters (a snapshot under the lock). */
void pipe_get_stats(pipe_t *p, struct pipe_stats *out);

#endif /* AH_PIPELINE_H */
