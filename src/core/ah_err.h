/*
 * ah_err — the one error scheme of amihead.
 *
 * 0 is success; every failure is a negative enum ah_err. Each dependency's
 * own scheme (libmodbus -1+errno, libserialport sp_return, RocksDB errptr,
 * libzmq -1+errno) is translated into these once, in its adapter.
 */
#ifndef AH_ERR_H
#define AH_ERR_H

/* X(name, text) — order is ABI for the numeric values; append only. */
#define AH_ERR_MAP(X)                                                                    \
    X(AGAIN, "need more data")                                                           \
    X(INVAL, "invalid argument")                                                         \
    X(NOMEM, "out of memory")                                                            \
    X(RANGE, "value out of range")                                                       \
    X(OVERFLOW, "buffer full")                                                           \
    X(CHECKSUM, "bad checksum")                                                          \
    X(FRAME, "malformed frame")                                                          \
    X(TIMEDOUT, "timed out")                                                             \
    X(NOTSUP, "not supported")                                                           \
    X(METER, "meter answered with an error")                                             \
    X(IO, "input/output error")                                                          \
    X(CONNREFUSED, "connection refused")                                                 \
    X(CLOSED, "peer closed the connection")                                              \
    X(NOENT, "no such entry")                                                            \
    X(CONFIG, "configuration error")                                                     \
    X(NOSPC, "no space left")                                                            \
    X(STORE, "storage error")                                                            \
    X(BUSY, "resource busy")                                                             \
    X(ADDR, "address mismatch")                                                          \
    X(NODATA, "no data")                                                                 \
    X(FRAMELEN, "frame length beyond the protocol's limit")

enum ah_err {
    AH_OK = 0,
#define AH_ERR_ENUM(name, text) AH_E##name,
    AH_ERR_FIRST_ = -1000,
    AH_ERR_MAP(AH_ERR_ENUM)
#undef AH_ERR_ENUM
        AH_ERR_LAST_
};

/* Human text for an ah_err (or 0). Never NULL. */
const char *ah_strerror(int err);

/* Stable short name, e.g. "AH_ETIMEDOUT". Never NULL. */
const char *ah_errname(int err);

/* Translate a positive errno value into an ah_err. */
int ah_err_from_errno(int errnum);

#endif /* AH_ERR_H */
