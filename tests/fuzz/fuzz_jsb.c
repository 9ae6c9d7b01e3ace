/*
 * fuzz_jsb — the sink's batch checker on outside bytes (a JetStream
 * message is outside input to the sink). The first bytes choose the
 * headers' range; a payload the checker accepts must hold exactly that
 * many bodies, and rebuilding it through the builder from its own
 * elements must be accepted again.
 */
#include "ah_err.h"
#include "jsb.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint64_t first = data[0] % 4, last = first + data[1] % 8;
    const char *p = (const char *)data + 2;
    size_t n = size - 2;
    char why[160];
    struct jsb_counts c;
    if (jsb_check(p, n, "hx", first, last, &c, why, sizeof why) != AH_OK)
        return 0;
    if (c.read + c.anomaly + c.gap + c.daily + c.other != last - first + 1)
        abort();
    json_t *a = json_loadb(p, n, 0, NULL);
    static char buf[JSB_PAYLOAD_MAX];
    struct jsb b;
    jsb_init(&b, buf, sizeof buf);
    for (size_t i = 0; i < json_array_size(a); i++) {
        char *s = json_dumps(json_array_get(a, i), JSON_COMPACT);
        if (!s || jsb_append(&b, first + i, s, strlen(s)) != AH_OK)
            abort();
        free(s);
    }
    json_decref(a);
    size_t len = jsb_finish(&b);
    if (jsb_check(buf, len, "hx", first, last, NULL, why, sizeof why) != AH_OK)
        abort();
    return 0;
}
