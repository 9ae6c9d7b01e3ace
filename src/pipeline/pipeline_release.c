/*
 * pipeline_release — operator releases (part of pipeline, see
 * pipeline_int.h): request files that `amihead release` leaves in the
 * spool beside the store are applied in the writer's batch (the reads
 * re-flagged RELEASED, stored and published, a RELEASE event); the batch
 * unlinks them after its commit. Runs on the writer thread only.
 */
#include "pipeline_int.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"
#include "config.h"
#include "pipe_rel.h"
#include "vee.h"

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- operator releases ----------------------------------------------------- */

struct rel_ctx {
    struct pipe *p;
    size_t ci;
    unsigned long count;
};

static int release_one(void *vctx, uint32_t meter, const struct ah_read *r)
{
    struct rel_ctx *c = vctx;
    if (vee_is_billable(r->quality))
        return 0; /* clean, or released before */
    struct ah_read rec = *r;
    rec.quality |= VEE_F_RELEASED;
    rec.source = AH_READ_RELEASED;
    int rc = store_batch_put_read(c->p->st, meter, &rec);
    if (rc == AH_OK)
        rc = pipe_stage_read(c->p, c->ci, &rec);
    if (rc == AH_OK)
        c->count++;
    return rc;
}

/* The request file at path (up to PIPE_REL_MAX_BYTES + 1 bytes) parsed.
 * AH_OK (free *out), AH_EINVAL (said why in *why), AH_ENOMEM. */
static int release_read(const char *path, struct pipe_rel *out, const char **why)
{
    memset(out, 0, sizeof *out);
    char *buf = malloc(PIPE_REL_MAX_BYTES + 1);
    if (!buf)
        return AH_ENOMEM;
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, PIPE_REL_MAX_BYTES + 1, f) : 0;
    bool err = !f || ferror(f);
    if (f)
        fclose(f);
    int rc = AH_EINVAL;
    if (err)
        *why = "unreadable";
    else if (n > PIPE_REL_MAX_BYTES)
        *why = "too long";
    else if ((rc = pipe_rel_parse((const uint8_t *)buf, n, out)) == AH_EINVAL)
        *why = "keys missing, of another type or out of range";
    free(buf);
    return rc;
}

/* Apply one request file; *done: it was applied (or is invalid) and may go. */
static int release_apply(struct pipe *p, const char *path, bool *done)
{
    *done = false;
    struct pipe_rel rq;
    const char *why = "";
    int rc = release_read(path, &rq, &why);
    if (rc != AH_OK) {
        if (rc == AH_EINVAL) {
            ah_log(AH_LOG_WARN, "release", "%s: not a release request (%s), ignored",
                   path, why);
            *done = true;
            return AH_OK;
        }
        return rc;
    }
    const char *meter = rq.r.meter, *reason = rq.r.reason, *op = rq.r.op;
    int64_t from = rq.r.from, to = rq.r.to, req = rq.r.requested;
    const struct cfg_meter *cm = cfg_meter_find(p->cfg, meter);
    if (!cm) {
        ah_log(AH_LOG_WARN, "release", "%s: meter %s unknown: ignored", path, meter);
        pipe_rel_free(&rq);
        *done = true;
        return AH_OK;
    }
    size_t ci = (size_t)(cm - p->cfg->meters);
    struct rel_ctx c = {p, ci, 0};
    rc = store_reads_each(p->st, p->midx[ci], (uint64_t)from, (uint64_t)to, release_one,
                          &c);
    if (rc == AH_OK) {
        const struct pipe_ev_release e = {meter, reason, op,       from,
                                          to,    req,    now_s(p), c.count};
        char *body = NULL;
        rc = pipe_ev_build_release(&e, &body);
        /* key time = the request's own time: applying it twice (a crash
         * between commit and unlink) writes the same event again */
        rc = pipe_put_event(p, (uint64_t)req, p->midx[ci], PIPE_EV_RELEASE, rc, body);
        ah_log(AH_LOG_INFO, "release", "meter %s: %lu reads released by %s: %s", meter,
               c.count, op, reason);
    }
    pipe_rel_free(&rq);
    *done = rc == AH_OK;
    return rc;
}

/* Request files applied in this batch: unlinked after the commit. */
int pipe_releases_tick(struct pipe *p, char done[][PATH_MAX], size_t *ndone)
{
    *ndone = 0;
    int64_t now = ah_mono_ms();
    if (!p->release_dir[0] || now < p->rel_next_ms)
        return AH_OK;
    p->rel_next_ms = now + REL_SCAN_MS;
    pthread_mutex_lock(&p->lock);
    p->stats.release_scans++;
    pthread_mutex_unlock(&p->lock);
    DIR *dir = opendir(p->release_dir);
    if (!dir)
        return AH_OK;
    struct dirent *de;
    int rc = AH_OK;
    while (rc == AH_OK && *ndone < REL_MAX && (de = readdir(dir)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".req") != 0)
            continue;
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", p->release_dir, de->d_name) >=
            sizeof path)
            continue;
        bool ok = false;
        rc = release_apply(p, path, &ok);
        if (ok)
            memcpy(done[(*ndone)++], path, sizeof path);
    }
    closedir(dir);
    if (*ndone == REL_MAX)
        p->rel_next_ms = now; /* more may wait: the next batch looks again */
    return rc;
}

int pipe_release_dir(const char *storage_path, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s.release", storage_path);
    return n < 0 || (size_t)n >= cap ? AH_EOVERFLOW : AH_OK;
}
