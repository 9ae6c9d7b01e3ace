/*
 * test_log — the rate limit of ah_log: a repeat from one call site for one
 * context within a second is counted, not printed; other contexts at the
 * same site are not hidden by it; the level is checked first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ah_log.h"

#include <jansson.h>

/* Run fn with stderr captured; returns what it printed (static buffer). */
static const char *capture(void (*fn)(void))
{
    static char out[8192];
    char path[] = "/tmp/test_log.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, sizeof out - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return out;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void retries_on_one_link(void)
{
    for (int i = 0; i < 5; i++)
        ah_log(AH_LOG_WARN, "c0", "meter %d: no reply", 7);
}

static void test_repeat_is_counted_not_printed(void **state)
{
    (void)state;
    const char *out = capture(retries_on_one_link);
    assert_int_equal(count(out, "[c0] meter 7: no reply"), 1);
}

static void cycles_of_three_links(void)
{
    static const char *const links[] = {"c0", "c1", "c2"};
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 3; i++)
            ah_log(AH_LOG_INFO, links[i], "cycle done");
}

static void test_other_links_not_hidden(void **state)
{
    (void)state;
    const char *out = capture(cycles_of_three_links);
    /* each link's first line gets through; its quick repeat does not */
    assert_int_equal(count(out, "[c0] cycle done"), 1);
    assert_int_equal(count(out, "[c1] cycle done"), 1);
    assert_int_equal(count(out, "[c2] cycle done"), 1);
}

static int formatted;
static const char *expensive(void)
{
    formatted++;
    return "x";
}

static void debug_below_threshold(void)
{
    ah_log_set_level(AH_LOG_INFO);
    ah_log(AH_LOG_DEBUG, "c0", "%s", expensive());
}

static void test_level_checked_before_formatting(void **state)
{
    (void)state;
    const char *out = capture(debug_below_threshold);
    assert_string_equal(out, "");
    assert_int_equal(formatted, 0);
}

static void json_lines(void)
{
    ah_log_set_format(AH_LOG_JSON);
    ah_log(AH_LOG_WARN, "c0/000001000001", "meter 000001000001: no valid reply");
    ah_log(AH_LOG_INFO, "run", "said \"hi\"\nand\tleft \\ here");
    ah_log(AH_LOG_ERROR, "c1", "link down");
    ah_log_set_format(AH_LOG_TEXT);
}

static void test_json_format(void **state)
{
    (void)state;
    enum ah_log_format f;
    assert_int_equal(ah_log_parse_format("json", &f), 0);
    assert_int_equal(f, AH_LOG_JSON);
    assert_int_not_equal(ah_log_parse_format("xml", &f), 0);
    char out[8192];
    snprintf(out, sizeof out, "%s", capture(json_lines));
    char *save = NULL, *line = strtok_r(out, "\n", &save);
    json_t *o[3];
    for (int i = 0; i < 3; i++, line = strtok_r(NULL, "\n", &save)) {
        assert_non_null(line);
        json_error_t err;
        o[i] = json_loads(line, 0, &err);
        assert_non_null(o[i]); /* every line is one JSON object */
        assert_non_null(json_string_value(json_object_get(o[i], "time")));
    }
    assert_null(line);
    assert_string_equal(json_string_value(json_object_get(o[0], "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(o[0], "link")), "c0");
    assert_string_equal(json_string_value(json_object_get(o[0], "meter")),
                        "000001000001");
    assert_string_equal(json_string_value(json_object_get(o[0], "message")),
                        "meter 000001000001: no valid reply");
    assert_string_equal(json_string_value(json_object_get(o[1], "component")), "run");
    assert_null(json_object_get(o[1], "link"));
    assert_string_equal(json_string_value(json_object_get(o[1], "message")),
                        "said \"hi\"\nand\tleft \\ here");
    assert_string_equal(json_string_value(json_object_get(o[2], "link")), "c1");
    assert_null(json_object_get(o[2], "meter"));
    assert_string_equal(json_string_value(json_object_get(o[2], "level")), "error");
    for (int i = 0; i < 3; i++)
        json_decref(o[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeat_is_counted_not_printed),
        cmocka_unit_test(test_other_links_not_hidden),
        cmocka_unit_test(test_level_checked_before_formatting),
        cmocka_unit_test(test_json_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
