/*
 * cmd_release — `amihead release -c FILE --meter ID --from T --to T --reason
 * TEXT [--operator NAME]`: an operator releases the suspect reads of one
 * meter in [from, to) so that they flow to billing.
 *
 * The store has one writer, the running head-end's pipeline (DESIGN.md §1),
 * and only that writer can publish. So release does not touch the store: it
 * drops a request file into the spool beside the store
 * ("<storage.path>.release/", pipe_release_dir) and the pipeline applies it
 * in its next batch — marks the reads RELEASED, keeps who / why / when in a
 * RELEASE event and publishes the reads on read/… — then deletes the file.
 * A request made while no head-end runs waits for the next start
 * (docs/operations.md "Releasing suspect reads").
 *
 * It must not open the store for writing.
 */
#include "cmd_run.h"
#include "cmd_vee.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "cmd_util.h"
#include "config.h"
#include "pipe_rel.h"
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: amihead release -c FILE --meter ID --from T --to T --reason TEXT\n"
    "                       [--operator NAME] [--wait SECONDS]\n"
    "  releases the meter's suspect reads with from <= interval end < to (UTC) to\n"
    "  billing; the running head-end applies and publishes the request\n"
    "  --operator   who releases them ($USER, else the login name)\n"
    "  --wait S     wait up to S seconds for the head-end to apply it (0: "
    "return)\n" AH_TIME_FORMATS;

/* Write the request atomically: a reader sees the whole file or none. */
static int write_request(const char *dir, const char *text, char *path, size_t cap)
{
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return AH_EIO;
    char tmp[1024];
    long long ms = (long long)ah_wall_ms();
    int n1 = snprintf(tmp, sizeof tmp, "%s/.%lld-%ld.tmp", dir, ms, (long)getpid());
    int n2 = snprintf(path, cap, "%s/%lld-%ld.req", dir, ms, (long)getpid());
    if (n1 < 0 || (size_t)n1 >= sizeof tmp || n2 < 0 || (size_t)n2 >= cap)
        return AH_EOVERFLOW;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0640);
    if (fd < 0)
        return AH_EIO;
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return AH_EIO;
    }
    return AH_OK;
}

/* Who releases: $USER, else the login name of the terminal, else the name
 * of this uid (a service account or `su -` shell has no $USER). */
static const char *login_name(void)
{
    const char *u = getenv("USER");
    if (u && *u)
        return u;
    u = getlogin();
    if (u && *u)
        return u;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_name[0] ? pw->pw_name : NULL;
}

struct release_opts {
    const char *reason, *op;
    long wait_s;
};

static int release_opt(struct cmd_ctx *x, int opt, const char *arg, void *u)
{
    (void)x;
    struct release_opts *r = u;
    switch (opt) {
    case 'r':
        r->reason = arg;
        break;
    case 'o':
        r->op = arg;
        break;
    case 'w':
        if (cmd_parse_long(arg, 0, 86400, &r->wait_s) != 0) {
            fprintf(stderr, "amihead release: --wait wants 0..86400, got '%s'\n", arg);
            return 2;
        }
        break;
    }
    return CMD_GO;
}

/* The arguments' own checks, before the store is opened; false: usage
 * error (said on stderr). */
static bool release_args_ok(const struct cmd_ctx *x, const char *reason, const char *op)
{
    if (!reason || x->from < 0 || x->to < 0) {
        fputs(usage_text, stderr);
        return false;
    }
    if (x->to <= x->from) {
        fprintf(stderr,
                "amihead release: --from %s is not before --to %s: the range is "
                "empty\n",
                x->from_txt, x->to_txt);
        return false;
    }
    if (!reason[0]) {
        fprintf(stderr, "amihead release: --reason is empty: say why\n");
        return false;
    }
    if (!op || !op[0]) {
        fprintf(stderr, "amihead release: who releases? $USER is not set and the login "
                        "name is unknown: give --operator NAME\n");
        return false;
    }
    /* the request carries UTF-8 only: say so rather than fail later as
     * "out of memory" (issue 17 item 9); its codec says what it takes */
    const struct pipe_rel_req rq = {"m", reason, op, 0, 1, 0};
    const char *bad = pipe_rel_invalid(&rq);
    if (bad) {
        fprintf(stderr, "amihead release: --%s is not valid UTF-8\n", bad);
        return false;
    }
    return true;
}

/* Write the request file the running head-end picks up; its path in
 * path. false: said on stderr. */
static bool release_queue(const struct cfg *c, const struct cmd_ctx *x,
                          const char *reason, const char *op, char *path, size_t cap)
{
    char dir[CFG_PATH_MAX + 16];
    if (pipe_release_dir(c->storage.path, dir, sizeof dir) != AH_OK) {
        fprintf(stderr, "amihead release: storage path too long\n");
        return false;
    }
    const struct pipe_rel_req rq = {x->meter, reason, op,
                                    x->from,  x->to,  ah_wall_ms() / 1000};
    char *text = NULL;
    int rc = pipe_rel_build(&rq, &text);
    if (rc != AH_OK) {
        const char *bad = pipe_rel_invalid(&rq);
        bool t = bad && (!strcmp(bad, "from") || !strcmp(bad, "to"));
        if (t)
            fprintf(stderr, "amihead release: --%s %s is outside years 1970..9999\n", bad,
                    !strcmp(bad, "from") ? x->from_txt : x->to_txt);
        else
            fprintf(stderr, "amihead release: %s%s%s\n", bad ? bad : "",
                    bad ? ": cannot be written" : "", bad ? "" : ah_strerror(rc));
        return false;
    }
    rc = write_request(dir, text, path, cap);
    free(text);
    if (rc != AH_OK) {
        fprintf(stderr, "amihead release: %s: %s\n", dir, strerror(errno));
        return false;
    }
    return true;
}

/* Up to wait_s for the head-end to take the request (it removes the
 * file); the exit status. */
static int release_wait(const char *meter, const char *path, long wait_s)
{
    for (long i = 0; i < wait_s * 10 && access(path, F_OK) == 0; i++)
        usleep(100 * 1000);
    if (access(path, F_OK) == 0) {
        printf("release of %s queued as %s; the running head-end applies it\n", meter,
               path);
        if (wait_s)
            fprintf(stderr,
                    "amihead release: not applied within %ld s (is amihead run "
                    "running?)\n",
                    wait_s);
        return wait_s ? 1 : 0;
    }
    printf("release of %s applied by the head-end (amihead events --type RELEASE)\n",
           meter);
    return 0;
}

int cmd_release(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"meter", required_argument, 0, 'm'},
                                         {"from", required_argument, 0, 'f'},
                                         {"to", required_argument, 0, 't'},
                                         {"reason", required_argument, 0, 'r'},
                                         {"operator", required_argument, 0, 'o'},
                                         {"wait", required_argument, 0, 'w'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct cmd_ctx x = {
        .name = "release", .usage = usage_text, .need_meter = true, .from = -1, .to = -1};
    struct release_opts ro = {0};
    int status = cmd_parse(&x, argc, argv, "c:m:h", opts, release_opt, &ro);
    if (status != CMD_GO)
        return status;
    const char *op = ro.op ? ro.op : login_name();
    status = 2; /* usage errors; cmd_parse may have loaded the config */
    if (!release_args_ok(&x, ro.reason, op))
        goto out;
    status = cmd_open(&x, false);
    if (status != 0)
        goto out;
    status = 1;
    char path[1100];
    if (!cfg_meter_find(x.cfg, x.meter)) {
        fprintf(stderr, "amihead release: meter %s is not in the inventory %s\n", x.meter,
                x.cfg->inventory);
        goto out;
    }
    if (release_queue(x.cfg, &x, ro.reason, op, path, sizeof path))
        status = release_wait(x.meter, path, ro.wait_s);
out:
    cmd_close(&x);
    return status;
}
