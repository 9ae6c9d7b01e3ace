/* ah_err — error texts from the one X-macro table in ah_err.h. */
#include "ah_err.h"

#include <errno.h>

const char *ah_strerror(int err)
{
    switch (err) {
    case AH_OK:
        return "success";
#define AH_ERR_TEXT(name, text)                                                          \
    case AH_E##name:                                                                     \
        return text;
        AH_ERR_MAP(AH_ERR_TEXT)
#undef AH_ERR_TEXT
    default:
        return "unknown error";
    }
}

const char *ah_errname(int err)
{
    switch (err) {
    case AH_OK:
        return "AH_OK";
#define AH_ERR_NAME(name, text)                                                          \
    case AH_E##name:                                                                     \
        return "AH_E" #name;
        AH_ERR_MAP(AH_ERR_NAME)
#undef AH_ERR_NAME
    default:
        return "AH_E?";
    }
}

int ah_err_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return AH_OK;
    case EAGAIN:
        return AH_EAGAIN;
    case EINVAL:
        return AH_EINVAL;
    case ENOMEM:
        return AH_ENOMEM;
    case ERANGE:
        return AH_ERANGE;
    case ETIMEDOUT:
        return AH_ETIMEDOUT;
    case ECONNREFUSED:
        return AH_ECONNREFUSED;
    case ECONNRESET:
    case EPIPE:
        return AH_ECLOSED;
    case ENOENT:
        return AH_ENOENT;
    case ENOSPC:
        return AH_ENOSPC;
    case EBUSY:
        return AH_EBUSY;
    default:
        return AH_EIO;
    }
}
