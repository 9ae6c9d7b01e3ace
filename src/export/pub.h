/*
 * pub — the ZeroMQ side of the export (DESIGN.md §1, §7; docs/wire-format.md):
 * a PUB socket that carries each committed message once, a ROUTER replay
 * endpoint that serves the same bytes from the store's outbox by sequence
 * range, outbox retention by age and size, and CURVE with a ZAP handler
 * that admits only subscriber keys found in an allow-list directory.
 * The only module that includes zmq.h; libzmq's -1+errno is translated here.
 *
 * The seam with the pipeline (the one writer thread, DESIGN.md §1), which
 * owns the store's batch (issue 15: one owner of the transaction):
 *
 *     store_batch_begin(s); pub_drop(p);   // the writer's batch; nothing staged
 *     store_batch_put_read(s, ...);        // the pipeline's own rows
 *     pub_stage_read(p, &r, &seq);         // body encoded, outbox row added
 *     ...
 *     store_batch_commit(s, sync);         // the writer commits, then tells:
 *     pub_committed(p, store_next_seq(s)); // durable below N: publish them
 *
 * Nothing is sent before the batch holding it is durable; sequence numbers
 * are handed out from store_next_seq() at pub_drop(), so they stay gapless
 * across failed commits and restarts. pub_drop, pub_stage_*, pub_committed
 * and pub_retention_run must all be called from that one thread.
 *
 * Threads: pub_new starts one replay thread that owns the ROUTER and ZAP
 * sockets and reads the outbox (store_outbox_each / store_outbox_first_seq)
 * under pub's mutex; retention holds the same mutex around its deletes.
 * Commits are not serialised with replay reads: RocksDB reads are thread
 * safe and a reply never goes past what pub_committed made replayable.
 *
 * Must not: publish anything not committed, block the writer on a slow
 * subscriber (PUB drops, the outbox does not), or open non-loopback binds
 * by default.
 */
#ifndef AH_PUB_H
#define AH_PUB_H

#include "ah_clock.h"
#include "store.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pub pub_t;

#define PUB_DEFAULT_ENDPOINT "tcp://127.0.0.1:5556"
#define PUB_DEFAULT_REPLAY   "tcp://127.0.0.1:5557"
/* docs/config.md export.retention_days / retention_mb defaults. */
#define PUB_DEFAULT_RETENTION_MS    (35ll * 86400 * 1000)
#define PUB_DEFAULT_RETENTION_BYTES (2048ull << 20)
/* Most messages staged in one batch. */
#define PUB_STAGE_MAX 100000u
/* Largest replay request frame accepted; bigger ones drop the connection
 * (ZMQ_MAXMSGSIZE). */
#define PUB_REQ_FRAME_MAX 1024

/* Replies queued for one replay peer (its ROUTER pipe's high-water mark,
 * a reply being one message of up to WIRE_REPLAY_MAX_COUNT records): a
 * peer that does not read holds at most this many, about 0.7 MB each;
 * further requests from it get no reply and are counted
 * (pub_replay_dropped). */
#define PUB_REPLAY_HWM 4

/* Length of a Z85 CURVE key as text (32 bytes -> 40 characters). */
#define PUB_KEY_Z85_LEN 40

struct pub_opts {
    const char *endpoint;          /* PUB bind, NULL = PUB_DEFAULT_ENDPOINT */
    const char *replay;            /* ROUTER bind, NULL = PUB_DEFAULT_REPLAY */
    const char *headend_id;        /* NULL = store_headend_id(), else "amihead" */
    int64_t retention_ms;          /* 0 = PUB_DEFAULT_RETENTION_MS */
    uint64_t retention_bytes;      /* 0 = PUB_DEFAULT_RETENTION_BYTES */
    const char *server_secret_key; /* file with the server's Z85 secret key;
                                      NULL = CURVE off */
    const char *client_keys_dir;   /* allow-list: *.key files, each one
                                      subscriber's Z85 public key; read at
                                      every handshake, so adding or removing
                                      a file takes effect without restart.
                                      Required with server_secret_key. */
    int sndhwm;                    /* PUB high-water mark (messages), 0 = libzmq's 1000 */
    const struct ah_clock *clock;  /* publish time; NULL = ah_clock_default() */
};

/*
 * Bind both endpoints and start the replay thread. store: borrowed, must
 * outlive the pub_t. o may be NULL (defaults). Errors: AH_EINVAL (bad
 * option, unreadable or malformed key), AH_ENOTSUP (CURVE asked but libzmq
 * lacks it), AH_EBUSY (endpoint in use), AH_EIO, AH_ENOMEM; the reason is
 * logged.
 */
int pub_new(store_t *store, const struct pub_opts *o, pub_t **out);

/* Stop the replay thread, close the sockets; sets *p = NULL, accepts NULL.
 * Messages staged but not committed are dropped (their batch is the
 * writer's). */
void pub_destroy(pub_t **p);

/* The writer began a new batch (or dropped its batch): forget anything
 * staged; its sequence numbers are handed out again. */
void pub_drop(pub_t *p);

/*
 * Stage one message in the current batch: encode it with the next sequence
 * number and the clock's now, add its outbox row to the store batch.
 * *seq (may be NULL) receives the number. Errors from the encoder
 * (AH_EINVAL, AH_EOVERFLOW), AH_EOVERFLOW beyond PUB_STAGE_MAX, AH_ENOMEM.
 */
int pub_stage_read(pub_t *p, const struct wire_read *r, uint64_t *seq);
int pub_stage_anomaly(pub_t *p, const struct wire_anomaly *a, uint64_t *seq);
int pub_stage_gap(pub_t *p, const struct wire_gap *g, uint64_t *seq);
int pub_stage_daily(pub_t *p, const struct wire_daily *d, uint64_t *seq);

/*
 * The writer committed the batch holding the staged messages: every staged
 * message with a sequence below next (store_next_seq() after the commit)
 * is sent on the PUB socket, in order, and made replayable; the rest are
 * forgotten. After a failed commit the writer calls nothing: its batch and
 * the staged messages stay for its retry (or pub_drop). Runs retention
 * when due (every second, or at once when the size limit is exceeded).
 */
void pub_committed(pub_t *p, uint64_t next);

/* Delete outbox messages older than the retention age, then the oldest
 * ones while the outbox is above the size limit. */
int pub_retention_run(pub_t *p);

/* First sequence not yet published (= replayable upper bound + 1). */
uint64_t pub_next_seq(const pub_t *p);
/* Replay requests dropped because their peer had PUB_REPLAY_HWM replies
 * unread (or was gone). */
uint64_t pub_replay_dropped(const pub_t *p);
/* Bytes currently held in the outbox, as retention counts them. */
uint64_t pub_outbox_bytes(const pub_t *p);

/* Replay endpoint counters since pub_new (any thread; for /metrics). */
struct pub_counters {
    uint64_t replay_requests; /* requests answered (refusals included) */
    uint64_t replay_refused;  /* answered with a status other than OK */
    uint64_t replay_messages; /* outbox messages sent in replies */
};
void pub_get_counters(const pub_t *p, struct pub_counters *out);

/* ---- keys ---------------------------------------------------------------
 * Key files hold one Z85 key and a newline: NAME.key the public key,
 * NAME.key_secret the secret key (mode 0600). */

/* Whether this libzmq supports CURVE. */
bool pub_has_curve(void);

/* Read a key file (or, when path itself is 40 Z85 characters, the key given
 * inline) into z85[PUB_KEY_Z85_LEN + 1]. AH_EINVAL for anything else. */
int pub_key_load(const char *path, char *z85);

/* Public key of a Z85 secret key. */
int pub_key_public(const char *secret_z85, char *public_z85);

/* Make a key pair and write dir/name.key and dir/name.key_secret; refuses
 * to overwrite either. public_z85 (may be NULL) receives the public key.
 * dir NULL: only generate, into public_z85 / secret_z85. */
int pub_keygen(const char *dir, const char *name, char *public_z85, char *secret_z85);

/* Whether the Z85 public key is allowed by a *.key file in dir. */
bool pub_key_allowed(const char *dir, const char *public_z85);

#endif /* AH_PUB_H */
