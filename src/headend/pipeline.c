/*
 * pipeline — the single writer thread (see pipeline.h). Must not do I/O on
 * links; the store is touched only while holding p->store_lock.
 */
#include "pipeline.h"

#include "ah_err.h"
#include "ah_log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pipe {
    store_t *st;
    bool sync;
    pthread_t thread;
    pthread_mutex_t lock; /* queue, flags, stats */
    pthread_cond_t not_empty, not_full;
    pthread_mutex_t store_lock; /* the store: writer's batches vs gap queries */
    struct pipe_read *q;        /* ring of PIPE_QUEUE_MAX */
    size_t head, len;
    bool stopping;
    int last_err;
    struct pipe_stats stats;
};

/* Write up to n reads as one batch; on a commit failure keep trying with
 * a pause, since dropping reads would make them gaps (DESIGN.md §5). */
static void write_batch(struct pipe *p, const struct pipe_read *r, size_t n)
{
    pthread_mutex_lock(&p->store_lock);
    for (int attempt = 0;; attempt++) {
        store_batch_begin(p->st);
        int rc = AH_OK;
        for (size_t i = 0; i < n && rc == AH_OK; i++)
            rc = store_batch_put_read(p->st, r[i].meter, r[i].end, &r[i].rec);
        /* issue 5 seam: vee_ validation of r[] with per-meter state goes
         * here, before the reads enter the batch. */
        if (rc == AH_OK)
            rc = store_batch_commit(p->st, p->sync);
        if (rc == AH_OK) {
            pthread_mutex_lock(&p->lock);
            p->last_err = AH_OK;
            pthread_mutex_unlock(&p->lock);
            break;
        }
        ah_log(AH_LOG_ERROR, "pipeline", "store commit of %zu reads failed: %s (%s)", n,
               ah_strerror(rc), store_last_error(p->st));
        pthread_mutex_lock(&p->lock);
        p->stats.commit_errors++;
        p->last_err = rc;
        bool give_up = p->stopping && attempt >= 3;
        pthread_mutex_unlock(&p->lock);
        if (rc == AH_EINVAL || give_up)
            break; /* a record that cannot be encoded will never commit */
        pthread_mutex_unlock(&p->store_lock);
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&p->store_lock);
    }
    pthread_mutex_unlock(&p->store_lock);
    /* issue 6 seam: pub_ publishes what this batch committed, from here. */
}

static void *pipe_writer(void *arg)
{
    struct pipe *p = arg;
    struct pipe_read *batch = malloc(PIPE_BATCH_MAX * sizeof *batch);
    if (!batch) {
        ah_log(AH_LOG_ERROR, "pipeline", "out of memory for the batch");
        abort(); /* the writer cannot run; reads would pile up silently */
    }
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->len == 0 && !p->stopping)
            pthread_cond_wait(&p->not_empty, &p->lock);
        if (p->len == 0 && p->stopping) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        size_t n = 0;
        while (p->len > 0 && n < PIPE_BATCH_MAX) {
            batch[n++] = p->q[p->head];
            p->head = (p->head + 1) % PIPE_QUEUE_MAX;
            p->len--;
        }
        pthread_cond_broadcast(&p->not_full);
        pthread_mutex_unlock(&p->lock);

        write_batch(p, batch, n);

        pthread_mutex_lock(&p->lock);
        p->stats.written += n;
        p->stats.batches++;
        pthread_mutex_unlock(&p->lock);
    }
    free(batch);
    return NULL;
}

int pipe_start(store_t *st, bool sync, pipe_t **out)
{
    struct pipe *p = calloc(1, sizeof *p);
    if (!p)
        return AH_ENOMEM;
    p->q = malloc(PIPE_QUEUE_MAX * sizeof *p->q);
    if (!p->q) {
        free(p);
        return AH_ENOMEM;
    }
    p->st = st;
    p->sync = sync;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->store_lock, NULL);
    pthread_cond_init(&p->not_empty, NULL);
    pthread_cond_init(&p->not_full, NULL);
    if (pthread_create(&p->thread, NULL, pipe_writer, p) != 0) {
        pthread_cond_destroy(&p->not_full);
        pthread_cond_destroy(&p->not_empty);
        pthread_mutex_destroy(&p->store_lock);
        pthread_mutex_destroy(&p->lock);
        free(p->q);
        free(p);
        return AH_EIO;
    }
    *out = p;
    return AH_OK;
}

int pipe_push(pipe_t *p, const struct pipe_read *r)
{
    pthread_mutex_lock(&p->lock);
    while (p->len == PIPE_QUEUE_MAX && !p->stopping)
        pthread_cond_wait(&p->not_full, &p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return AH_ECLOSED;
    }
    p->q[(p->head + p->len) % PIPE_QUEUE_MAX] = *r;
    p->len++;
    p->stats.pushed++;
    pthread_cond_signal(&p->not_empty);
    pthread_mutex_unlock(&p->lock);
    return AH_OK;
}

int pipe_missing_intervals(pipe_t *p, uint32_t meter, uint64_t from, uint64_t to,
                           uint64_t step, uint64_t *out, size_t max, size_t *n)
{
    pthread_mutex_lock(&p->store_lock);
    int rc = store_missing_intervals(p->st, meter, from, to, step, out, max, n);
    pthread_mutex_unlock(&p->store_lock);
    return rc;
}

int pipe_stop(pipe_t **pp)
{
    if (!pp || !*pp)
        return AH_OK;
    struct pipe *p = *pp;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->not_empty);
    pthread_cond_broadcast(&p->not_full);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    int rc = p->last_err;
    pthread_cond_destroy(&p->not_full);
    pthread_cond_destroy(&p->not_empty);
    pthread_mutex_destroy(&p->store_lock);
    pthread_mutex_destroy(&p->lock);
    free(p->q);
    free(p);
    *pp = NULL;
    return rc;
}

void pipe_get_stats(pipe_t *p, struct pipe_stats *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->stats;
    pthread_mutex_unlock(&p->lock);
}
