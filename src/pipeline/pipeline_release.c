/*
 * pipeline_release — operator releases (part of pipeline, see
 * pipeline_int.h): request files that `amihead release` leaves in the
 * spool beside the store are applied in the writer's batch (the reads
 * re-flagged RELEASED, stored and published, a RELEASE event); the batch
 * unlinks them after its commit. Runs on the writer thread only.
 */
#include "pipeline_int.h"

#include "ah_err.h"
#include "ah_log.h"
#include "config.h"
#include "vee.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* ---- operator releases ----------------------------------------------------- */

struct rel_ctx {
    struct pipe *p;
    size_t ci;
    unsigned long count;
};

static int release_one(void *vctx, uint32_t meter, uint64_t end, const struct ah_read *r)
{
    struct rel_ctx *c = vctx;
    if (vee_is_billable(r->quality))
        return 0; /* clean, or released before */
    struct ah_read rec = *r;
    rec.quality |= VEE_F_RELEASED;
    rec.source = AH_READ_RELEASED;
    int rc = store_batch_put_read(c->p->st, meter, end, &rec);
    if (rc == AH_OK)
        rc = pipe_stage_read(c->p, c->ci, &rec);
    if (rc == AH_OK)
        c->count++;
    return rc;
}

/* Apply one request file; *done: it was applied (or is invalid) and may go. */
static int release_apply(struct pipe *p, const char *path, bool *done)
{
    *done = false;
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    const char *meter = NULL, *reason = NULL, *op = NULL;
    json_int_t from = 0, to = 0, req = 0;
    if (!o ||
        json_unpack(o, "{s:s,s:I,s:I,s:s,s:s,s:I}", "meter", &meter, "from", &from, "to",
                    &to, "reason", &reason, "operator", &op, "requested", &req) != 0) {
        ah_log(AH_LOG_WARN, "release", "%s: not a release request (%s), ignored", path,
               o ? "fields" : je.text);
        json_decref(o);
        *done = true;
        return AH_OK;
    }
    const struct cfg_meter *cm = cfg_meter_find(p->cfg, meter);
    /* times the event can carry (pipe_ev), or the request would stay */
    if (!cm || from < 0 || to <= from || to > PIPE_EV_TIME_MAX || req < 0 ||
        req > PIPE_EV_TIME_MAX) {
        ah_log(AH_LOG_WARN, "release",
               "%s: meter %s unknown, or its range empty or out of bounds: ignored", path,
               meter);
        json_decref(o);
        *done = true;
        return AH_OK;
    }
    size_t ci = (size_t)(cm - p->cfg->meters);
    struct rel_ctx c = {p, ci, 0};
    int rc = store_reads_each(p->st, p->midx[ci], (uint64_t)from, (uint64_t)to,
                              release_one, &c);
    if (rc == AH_OK) {
        const struct pipe_ev_release e = {meter,         reason,      op,
                                          (int64_t)from, (int64_t)to, (int64_t)req,
                                          now_s(p),      c.count};
        char *body = NULL;
        rc = pipe_ev_build_release(&e, &body);
        /* key time = the request's own time: applying it twice (a crash
         * between commit and unlink) writes the same event again */
        rc = pipe_put_event(p, (uint64_t)req, p->midx[ci], PIPE_EV_RELEASE, rc, body);
        ah_log(AH_LOG_INFO, "release", "meter %s: %lu reads released by %s: %s", meter,
               c.count, op, reason);
    }
    json_decref(o);
    *done = rc == AH_OK;
    return rc;
}

/* Request files applied in this batch: unlinked after the commit. */
int pipe_releases_tick(struct pipe *p, char done[][PATH_MAX], size_t *ndone)
{
    *ndone = 0;
    if (!p->release_dir[0])
        return AH_OK;
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
    return rc;
}

int pipe_release_dir(const char *storage_path, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s.release", storage_path);
    return n < 0 || (size_t)n >= cap ? AH_EOVERFLOW : AH_OK;
}
