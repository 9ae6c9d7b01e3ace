/*
 * jsx — NATS JetStream through nats.c (jsx.h). Headers are set on the
 * message by hand rather than through jsPubOptions because nats.c sends
 * no Nats-Expected-Last-Subject-Sequence for 0, and "0 = this subject is
 * still empty" is exactly what a head-end's first batch must assert.
 */
#include "jsx.h"

#include "ah_err.h"
#include "ah_log.h"
#include "jsb.h"

#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JSX_MAX_URLS 16

struct jsx {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *pull;
    char stream[64];
    char subjects[128];
    int replicas;
    int64_t dup_window_ms;
    int64_t max_age_ms;
    int timeout_ms;
};

static int from_nats(natsStatus s, jsErrCode jerr)
{
    if (s == NATS_OK)
        return AH_OK;
    if (jerr == JSStreamWrongLastSequenceErr)
        return AH_EBUSY;
    if (jerr == JSStreamNotFoundErr || jerr == JSNoMessageFoundErr || s == NATS_NOT_FOUND)
        return AH_ENOENT;
    if (s == NATS_TIMEOUT)
        return AH_ETIMEDOUT;
    if (s == NATS_NO_SERVER || s == NATS_CONNECTION_CLOSED ||
        s == NATS_CONNECTION_DISCONNECTED || s == NATS_NO_RESPONDERS)
        return s == NATS_NO_RESPONDERS ? AH_ETIMEDOUT : AH_ECONNREFUSED;
    return AH_EIO;
}

static void log_nats(const char *what, natsStatus s, jsErrCode jerr)
{
    ah_log(AH_LOG_WARN, "jetstream", "%s: %s (js error %d)", what, natsStatus_GetText(s),
           (int)jerr);
}

int jsx_connect(const struct jsx_opts *o, jsx_t **out)
{
    if (!o || !o->urls || !o->stream || strlen(o->stream) >= 64 || !o->subjects ||
        strlen(o->subjects) >= 128 || strlen(o->urls) >= 1024)
        return AH_EINVAL;
    struct jsx *j = calloc(1, sizeof *j);
    if (!j)
        return AH_ENOMEM;
    snprintf(j->stream, sizeof j->stream, "%s", o->stream);
    snprintf(j->subjects, sizeof j->subjects, "%s", o->subjects);
    j->replicas = o->replicas > 0 ? o->replicas : 1;
    j->dup_window_ms = o->dup_window_ms > 0 ? o->dup_window_ms : 120000;
    j->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    j->max_age_ms = o->max_age_ms > 0 ? o->max_age_ms : 0;

    char urls[1024];
    const char *list[JSX_MAX_URLS];
    int n = 0;
    snprintf(urls, sizeof urls, "%s", o->urls);
    for (char *save = NULL, *t = strtok_r(urls, ",", &save); t && n < JSX_MAX_URLS;
         t = strtok_r(NULL, ",", &save))
        list[n++] = t;

    natsOptions *no = NULL;
    natsStatus s = natsOptions_Create(&no);
    if (s == NATS_OK)
        s = natsOptions_SetServers(no, list, n);
    if (s == NATS_OK)
        s = natsOptions_SetName(no, o->name ? o->name : "amihead");
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(no, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(no, 200);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(no, j->timeout_ms);
    if (s == NATS_OK)
        s = natsConnection_Connect(&j->nc, no);
    natsOptions_Destroy(no);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = j->timeout_ms;
    if (s == NATS_OK)
        s = natsConnection_JetStream(&j->js, j->nc, &jo);
    if (s != NATS_OK) {
        log_nats("connect", s, 0);
        int rc = from_nats(s, 0);
        jsx_destroy(&j);
        return rc == AH_EIO ? AH_ECONNREFUSED : rc;
    }
    *out = j;
    return AH_OK;
}

void jsx_destroy(jsx_t **jp)
{
    if (!jp || !*jp)
        return;
    struct jsx *j = *jp;
    if (j->pull)
        natsSubscription_Destroy(j->pull);
    jsCtx_Destroy(j->js);
    if (j->nc) {
        natsConnection_Close(j->nc);
        natsConnection_Destroy(j->nc);
    }
    free(j);
    *jp = NULL;
}

int jsx_ensure_stream(jsx_t *j)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, j->js, j->stream, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return AH_OK;
    }
    if (from_nats(s, jerr) != AH_ENOENT) {
        log_nats("stream info", s, jerr);
        return from_nats(s, jerr);
    }
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subj[1] = {j->subjects};
    cfg.Name = j->stream;
    cfg.Subjects = subj;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Retention = js_LimitsPolicy;
    cfg.Replicas = j->replicas;
    cfg.Duplicates = j->dup_window_ms * 1000000; /* nanoseconds */
    cfg.MaxAge = j->max_age_ms * 1000000;
    jerr = 0;
    s = js_AddStream(&si, j->js, &cfg, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return AH_OK;
    }
    if (jerr == JSStreamNameExistErr)
        return AH_OK; /* a racing creator with the same name */
    log_nats("add stream", s, jerr);
    return from_nats(s, jerr);
}

static uint64_t header_u64(natsMsg *m, const char *key)
{
    const char *v = NULL;
    uint64_t x = 0;
    if (natsMsgHeader_Get(m, key, &v) != NATS_OK || jsb_parse_u64(v, &x))
        return 0;
    return x;
}

int jsx_last(jsx_t *j, const char *subject, uint64_t *stream_seq, uint64_t *ami_last)
{
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetLastMsg(&m, j->js, j->stream, subject, NULL, &jerr);
    int rc = from_nats(s, jerr);
    if (rc) {
        if (rc != AH_ENOENT)
            log_nats("last message", s, jerr);
        return rc;
    }
    *stream_seq = natsMsg_GetSequence(m);
    *ami_last = header_u64(m, "Ami-Last");
    natsMsg_Destroy(m);
    return *ami_last ? AH_OK : AH_EIO;
}

static natsStatus set_u64(natsMsg *m, const char *key, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%" PRIu64, v);
    return natsMsgHeader_Set(m, key, b);
}

int jsx_publish(jsx_t *j, const struct jsx_batch *b, uint64_t *stream_seq, bool *dup)
{
    if (b->len > INT32_MAX)
        return AH_EINVAL;
    natsMsg *m = NULL;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = natsMsg_Create(&m, b->subject, NULL, b->data, (int)b->len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Nats-Msg-Id", b->msgid);
    if (s == NATS_OK)
        s = set_u64(m, "Nats-Expected-Last-Subject-Sequence", b->expect_subj_seq);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Ami-Headend", b->headend);
    if (s == NATS_OK)
        s = set_u64(m, "Ami-Prev", b->prev);
    if (s == NATS_OK)
        s = set_u64(m, "Ami-First", b->first);
    if (s == NATS_OK)
        s = set_u64(m, "Ami-Last", b->last);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = j->timeout_ms;
    if (s == NATS_OK)
        s = js_PublishMsg(&pa, j->js, m, &po, &jerr);
    natsMsg_Destroy(m);
    int rc = from_nats(s, jerr);
    if (rc == AH_OK) {
        *stream_seq = pa->Sequence;
        *dup = pa->Duplicate;
    } else if (rc != AH_EBUSY) {
        log_nats("publish", s, jerr);
    }
    jsPubAck_Destroy(pa);
    return rc;
}

int jsx_publish_plain(jsx_t *j, const char *subject, const char *msgid, const void *data,
                      size_t len)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = j->timeout_ms;
    po.MsgId = msgid;
    jsErrCode jerr = 0;
    natsStatus s = js_Publish(NULL, j->js, subject, data, (int)len, &po, &jerr);
    return from_nats(s, jerr);
}

int jsx_pull_open(jsx_t *j, const char *durable, const char *filter, int64_t ack_wait_ms,
                  int max_ack_pending)
{
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = j->stream;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckWait = ack_wait_ms * 1000000; /* nanoseconds */
    so.Config.MaxAckPending = max_ack_pending;
    so.Config.MaxDeliver = -1;
    jsErrCode jerr = 0;
    natsStatus s = js_PullSubscribe(&j->pull, j->js, filter, durable, NULL, &so, &jerr);
    if (s != NATS_OK)
        log_nats("pull subscribe", s, jerr);
    return from_nats(s, jerr);
}

int jsx_fetch(jsx_t *j, struct jsx_msg *out, int max, int timeout_ms)
{
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    natsStatus s = natsSubscription_Fetch(&list, j->pull, max, timeout_ms, &jerr);
    if (s == NATS_TIMEOUT)
        return 0;
    if (s != NATS_OK) {
        log_nats("fetch", s, jerr);
        return from_nats(s, jerr);
    }
    int n = 0;
    for (int i = 0; i < list.Count; i++) {
        natsMsg *m = list.Msgs[i];
        struct jsx_msg *x = &out[n++];
        memset(x, 0, sizeof *x);
        x->m = m;
        list.Msgs[i] = NULL; /* ours now */
        const char *h = NULL;
        x->headend = natsMsgHeader_Get(m, "Ami-Headend", &h) == NATS_OK ? h : "";
        x->prev = header_u64(m, "Ami-Prev");
        x->first = header_u64(m, "Ami-First");
        x->last = header_u64(m, "Ami-Last");
        x->data = natsMsg_GetData(m);
        x->len = (size_t)natsMsg_GetDataLength(m);
        jsMsgMetaData *md = NULL;
        if (natsMsg_GetMetaData(&md, m) == NATS_OK) {
            x->stream_seq = md->Sequence.Stream;
            x->delivered = md->NumDelivered;
            jsMsgMetaData_Destroy(md);
        }
    }
    natsMsgList_Destroy(&list);
    return n;
}

void jsx_msg_done(struct jsx_msg *m)
{
    if (m->m)
        natsMsg_Destroy(m->m);
    m->m = NULL;
}

int jsx_ack(struct jsx_msg *m)
{
    natsStatus s = natsMsg_Ack(m->m, NULL);
    jsx_msg_done(m);
    return from_nats(s, 0);
}

int jsx_nak(struct jsx_msg *m, int64_t delay_ms)
{
    natsStatus s = natsMsg_NakWithDelay(m->m, delay_ms, NULL);
    jsx_msg_done(m);
    return from_nats(s, 0);
}

void jsx_backoff(long *wait_ms, long max_ms)
{
    struct timespec ts = {*wait_ms / 1000, (*wait_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    *wait_ms = *wait_ms < max_ms / 2 ? 2 * *wait_ms : max_ms;
}

int jsx_open(const struct jsx_cfg *c, const char *name, volatile sig_atomic_t *stop,
             jsx_t **out)
{
    char subjects[80];
    snprintf(subjects, sizeof subjects, "%s.>", c->subject_prefix);
    struct jsx_opts jo = {.urls = c->nats,
                          .stream = c->stream,
                          .subjects = subjects,
                          .replicas = (int)c->replicas,
                          .dup_window_ms = c->dup_window_s * 1000,
                          .max_age_ms = c->max_age_days * 86400 * 1000,
                          .timeout_ms = (int)c->timeout_ms,
                          .name = name};
    jsx_t *j = NULL;
    *out = NULL;
    for (long wait = 100; !*stop; jsx_backoff(&wait, 2000)) {
        if (!j && jsx_connect(&jo, &j) != AH_OK)
            continue;
        if (jsx_ensure_stream(j) == AH_OK) {
            *out = j;
            return AH_OK;
        }
    }
    jsx_destroy(&j);
    return AH_OK;
}
