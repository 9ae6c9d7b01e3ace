/*
 * test_vee_district — district rules per day (reference/vee.md): loss rate,
 * LINE_LOSS outside [-1 %, 10 %], LINE_LOSS_SWING > 20 % with the customers
 * that moved most, INCOMPLETE days. Energies primary, 0.01 kWh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ah_err.h"
#include "vee_district.h"

/* Five households of about 10 kWh; customer 3 is the thief today. */
static struct vee_district_customer cust[5] = {
    {101, true, 1000, true, 980, true, 1000}, {102, true, 1200, true, 1150, true, 1180},
    {103, true, 400, true, 1000, true, 990}, /* registers 40 % */
    {104, true, 900, true, 950, true, 930},   {105, true, 1100, true, 1120, true, 1100},
};

static struct vee_district_input day_in(int64_t district)
{
    return (struct vee_district_input){
        .complete = true, .energy = district, .cust = cust, .n = 5};
}

static void ordinary_loss_is_clean(void **state)
{
    (void)state;
    struct vee_thresholds t = vee_thresholds_default();
    struct vee_district_result r;
    /* Σ customers = 4600; district 4800: loss 4.17 % */
    struct vee_district_input in = day_in(4800);
    assert_int_equal(vee_district_eval(&t, &in, &r), AH_OK);
    assert_true(r.loss_valid);
    assert_int_equal(r.customers_energy, 4600);
    assert_int_equal((int)(r.loss_pct * 100), 416);
    assert_int_equal(r.flags, 0);
}

static void theft_shows_as_line_loss_and_swing_with_the_thief_listed(void **state)
{
    (void)state;
    struct vee_thresholds t = vee_thresholds_default();
    t.line_loss_top_k = 2;
    struct vee_district_result r;
    /* the district meter still sees the stolen 6 kWh: 5400 vs 4600 = 14.8 % */
    struct vee_district_input in = day_in(5400);
    in.has_prev_day = true;
    in.prev_day_loss_pct = 4.0;
    assert_int_equal(vee_district_eval(&t, &in, &r), AH_OK);
    assert_true(r.flags & VEE_DIST_LINE_LOSS);
    assert_true(r.flags & VEE_DIST_LINE_LOSS_SWING);
    assert_int_equal(r.nmovers, 2);
    assert_int_equal(r.movers[0].id, 103);
    assert_int_equal(r.movers[0].change, -600);
    assert_int_equal(r.movers[1].id, 101 + 1); /* +50, ahead of 104's -50 by order */
}

static void swing_against_previous_month_only(void **state)
{
    (void)state;
    struct vee_thresholds t = vee_thresholds_default();
    struct vee_district_result r;
    struct vee_district_input in = day_in(4800); /* 4.17 % */
    in.has_prev_day = true;
    in.prev_day_loss_pct = 4.0; /* 4 % relative: calm */
    in.has_prev_month = true;
    in.prev_month_loss_pct = 3.0; /* 39 % relative: swing */
    assert_int_equal(vee_district_eval(&t, &in, &r), AH_OK);
    assert_int_equal(r.flags, VEE_DIST_LINE_LOSS_SWING);
    assert_int_equal(r.movers[0].id, 103);
    assert_int_equal(r.movers[0].prev, 990);
}

static void negative_loss_below_minus_one_percent(void **state)
{
    (void)state;
    struct vee_thresholds t = vee_thresholds_default();
    struct vee_district_result r;
    struct vee_district_input in = day_in(4500); /* -2.2 % */
    assert_int_equal(vee_district_eval(&t, &in, &r), AH_OK);
    assert_int_equal(r.flags, VEE_DIST_LINE_LOSS);
}

static void near_zero_loss_swing_uses_the_floor(void **state)
{
    (void)state;
    struct vee_thresholds t = vee_thresholds_default();
    struct vee_district_result r;
    /* 0.1 % -> 0.3 %: 200 % relative, but 0.2 points of a 1 % floor = 20 % */
    struct vee_district_input in = day_in(100000);
    struct vee_district_customer one = {1, true, 99700, true, 99700, false, 0};
    in.cust = &one;
    in.n = 1;
    in.has_prev_day = true;
    in.prev_day_loss_pct = 0.1;
    assert_int_equal(vee_district_eval(&t, &in, &r), AH_OK);
    assert_false(r.flags & VEE_DIST_LINE_LOSS_SWING);
}

static void one_missing_interval_makes_the_day_incomplete(void **state)
{
    (void)state;
    struct vee_thresholds t = vee_thresholds_default();
    struct vee_district_result r;
    struct vee_district_customer c[5];
    memcpy(c, cust, sizeof c);
    c[4].complete = false;
    struct vee_district_input in = day_in(9000);
    in.cust = c;
    assert_int_equal(vee_district_eval(&t, &in, &r), AH_OK);
    assert_int_equal(r.flags, VEE_DIST_INCOMPLETE);
    assert_false(r.loss_valid);
    in.cust = cust;
    in.complete = false; /* the district meter's own day */
    assert_int_equal(vee_district_eval(&t, &in, &r), AH_OK);
    assert_int_equal(r.flags, VEE_DIST_INCOMPLETE);
    in.complete = true;
    in.energy = 0;
    assert_int_equal(vee_district_eval(&t, &in, &r), AH_OK);
    assert_int_equal(r.flags, VEE_DIST_NO_ENERGY);
    in.cust = NULL;
    assert_int_equal(vee_district_eval(&t, &in, &r), AH_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ordinary_loss_is_clean),
        cmocka_unit_test(theft_shows_as_line_loss_and_swing_with_the_thief_listed),
        cmocka_unit_test(swing_against_previous_month_only),
        cmocka_unit_test(negative_loss_below_minus_one_percent),
        cmocka_unit_test(near_zero_loss_swing_uses_the_floor),
        cmocka_unit_test(one_missing_interval_makes_the_day_incomplete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
