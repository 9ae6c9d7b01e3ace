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

struct pipe_read {
    uint32_t meter; /* store index */
    uint64_t end;   /* interval end, UTC s */
    struct store_rec rec;
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
