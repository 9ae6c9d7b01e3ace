/*
 * sim_truth — ground truth, register series and head-end config files.
 *
 * Streams with fprintf (a 512,000-meter truth file must not be built in
 * memory). Must not change the fleet.
 */
#include "sim_truth.h"

#include "ah_clock.h"
#include "ah_err.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define FOREVER (INT64_MAX / 4)

const char *sim_modbus_map_of(unsigned k)
{
    return k % 2 == 0 ? "sdm630" : "dtsu666";
}

static const char *kind_name(const struct sim_meter *m)
{
    return m->kind == SIM_DISTRICT     ? "district"
           : m->kind == SIM_COMMERCIAL ? "commercial"
                                       : "residential";
}

static char class_of(const struct sim_meter *m)
{
    /* supply-office classes: A large CT-metered, B commercial, C households */
    if (m->kind == SIM_DISTRICT || m->ct > 1)
        return 'A';
    return m->kind == SIM_COMMERCIAL ? 'B' : 'C';
}

static void put_time(FILE *o, int64_t t)
{
    if (t <= -FOREVER / 2 || t >= FOREVER / 2) {
        fputs("null", o);
        return;
    }
    char b[32];
    ah_time_format(t * 1000, b, sizeof b);
    fprintf(o, "\"%s\"", b);
}

static void put_regs(FILE *o, const struct sim_regs *r)
{
    fprintf(o,
            "{\"fwd\":%lld,\"rev\":%lld,\"fwd_t\":[%lld,%lld,%lld,%lld],\"q\":[%lld,%lld,"
            "%lld,%lld]}",
            (long long)(sim_regs_total(r, SIM_IMP) % SIM_REG_WRAP),
            (long long)(sim_regs_total(r, SIM_EXP) % SIM_REG_WRAP), (long long)r->e[0][0],
            (long long)r->e[0][1], (long long)r->e[0][2], (long long)r->e[0][3],
            (long long)r->q[0], (long long)r->q[1], (long long)r->q[2],
            (long long)r->q[3]);
}

static void put_meter(FILE *o, const struct sim_fleet *f, const struct sim_meter *m)
{
    char a[13];
    sim_fleet_meter_addr(m->conc, m->index, a);
    fprintf(o,
            "[\"%s\",%u,%d,\"%s\",\"%s\",\"%s\",%u,%u,%u,%.1f,%.1f,%.1f,%s,%.3f,"
            "\"%016llx\",[%.3f,%.3f,%.3f,%.3f],[%.3f,%.3f,%.3f,%.3f],[%u,%u,%u,%u],[%u,%"
            "u,%u]]",
            a, m->conc, m->index == SIM_DISTRICT_IDX ? -1 : (int)m->index,
            m->kind == SIM_DISTRICT ? "district" : "customer", kind_name(m),
            m->wiring == SIM_3P4W ? "3P4W" : "1P2W", m->ct, m->pt, m->proto,
            m->un_dv / 10.0, m->ib_da / 10.0, m->imax_da / 10.0, m->pv ? "true" : "false",
            m->tanphi_milli / 1000.0, (unsigned long long)m->seed, m->mean[0][0],
            m->mean[0][1], m->mean[0][2], m->mean[0][3], m->mean[1][0], m->mean[1][1],
            m->mean[1][2], m->mean[1][3], m->e0[0][0], m->e0[0][1], m->e0[0][2],
            m->e0[0][3], m->pw[0], m->pw[1], m->pw[2]);
    (void)f;
}

static int series_meter(const struct sim_fleet *f, FILE *o, const struct sim_meter *m,
                        int64_t from, int64_t to, bool json_obj)
{
    char a[13];
    sim_fleet_meter_addr(m->conc, m->index, a);
    const struct sim_fault *ft = sim_fleet_meter_fault(f, m);
    int64_t first = (from + SIM_IVL_S - 1) / SIM_IVL_S * SIM_IVL_S;
    if (json_obj) {
        /* compact arrays: shown forward/reverse totals, and true ones when a
         * fault makes them differ */
        fprintf(o, "\"%s\":{\"fwd\":[", a);
        for (int pass = 0; pass < (ft ? 4 : 2); pass++) {
            if (pass)
                fprintf(o, "],\"%s\":[",
                        pass == 1   ? "rev"
                        : pass == 2 ? "fwd_true"
                                    : "rev_true");
            for (int64_t t = first; t <= to; t += SIM_IVL_S) {
                struct sim_regs s, tr;
                sim_fleet_regs(f, m->conc, m->index, t, &s, &tr);
                const struct sim_regs *r = pass >= 2 ? &tr : &s;
                fprintf(o, "%s%lld", t == first ? "" : ",",
                        (long long)(sim_regs_total(r, pass % 2 ? SIM_EXP : SIM_IMP) %
                                    SIM_REG_WRAP));
            }
        }
        fprintf(o, "]}");
        return 0;
    }
    for (int64_t t = first; t <= to; t += SIM_IVL_S) {
        struct sim_regs s, tr;
        sim_fleet_regs(f, m->conc, m->index, t, &s, &tr);
        fprintf(o, "{\"meter\":\"%s\",\"t\":", a);
        put_time(o, t);
        fprintf(o, ",\"t_s\":%lld,\"has_record\":%s,\"shown\":", (long long)t,
                sim_fleet_has_record(f, m, t, t) ? "true" : "false");
        put_regs(o, &s);
        fprintf(o, ",\"true\":");
        put_regs(o, &tr);
        fprintf(o, "}\n");
    }
    return 0;
}

int sim_truth_series(const struct sim_fleet *f, FILE *out, int64_t from, int64_t to,
                     const char *meter)
{
    for (uint32_t k = 0; k < f->nconc; k++)
        for (uint32_t j = 0; j <= f->per; j++) {
            uint32_t idx = j == f->per ? SIM_DISTRICT_IDX : j;
            const struct sim_meter *m = sim_fleet_meter(f, k, idx);
            char a[13];
            sim_fleet_meter_addr(k, idx, a);
            if (meter && strcmp(meter, a))
                continue;
            series_meter(f, out, m, from, to, false);
        }
    for (uint32_t i = 0; i < f->nmb; i++) {
        char a[13];
        sim_fleet_meter_addr(SIM_MODBUS_CONC, i, a);
        if (!meter || !strcmp(meter, a))
            series_meter(f, out, &f->mb[i], from, to, false);
    }
    return ferror(out) ? AH_EIO : AH_OK;
}

/* The concentrators: address, district, endpoint, loss and PV share. */
static void put_concentrators(FILE *o, const struct sim_fleet *f,
                              const struct sim_endpoints *ep)
{
    fprintf(o, "\"concentrators\":[");
    for (uint32_t k = 0; k < f->nconc; k++) {
        char ca[13], da[13];
        sim_fleet_conc_addr(k, ca);
        sim_fleet_meter_addr(k, SIM_DISTRICT_IDX, da);
        fprintf(o, "%s{\"index\":%u,\"address\":\"%s\",\"district\":\"d%04u\",",
                k ? "," : "", k, ca, k);
        if (ep && ep->port_base)
            fprintf(o, "\"endpoint\":\"%s:%u\",", ep->bind, ep->port_base + k);
        if (ep && ep->pty_paths)
            fprintf(o, "\"pty\":\"%s\",", ep->pty_paths[k]);
        fprintf(o, "\"district_meter\":\"%s\",\"loss_ppm\":%u,\"pv_local\":%.4f}", da,
                f->conc[k].loss_ppm, (double)f->conc[k].pv_local);
    }
    fprintf(o, "],\n");
}

/* Each meter of the fleet (customers, then the district meter, per
 * concentrator) as a row of "meters" under "meter_columns". */
static void put_meters(FILE *o, const struct sim_fleet *f)
{
    fprintf(o,
            "\"meter_columns\":[\"address\",\"conc\",\"index\",\"role\",\"kind\","
            "\"wiring\",\"ct\",\"pt\",\"protocol\",\"un_v\",\"ib_a\",\"imax_a\",\"pv\","
            "\"tanphi\",\"seed\",\"mean_import_per_tariff\",\"mean_export_per_tariff\","
            "\"e0_import_per_tariff\",\"phase_shares\"],\n\"meters\":[\n");
    for (uint32_t k = 0; k < f->nconc; k++)
        for (uint32_t j = 0; j <= f->per; j++) {
            uint32_t idx = j == f->per ? SIM_DISTRICT_IDX : j;
            if (k || j)
                fputs(",\n", o);
            put_meter(o, f, sim_fleet_meter(f, k, idx));
        }
    fprintf(o, "],\n");
}

static void put_faults(FILE *o, const struct sim_fleet *f)
{
    fprintf(o, "\"faults\":[");
    for (size_t i = 0; i < f->nfaults; i++) {
        const struct sim_fault *ft = &f->faults[i];
        fprintf(o, "%s\n{\"type\":\"%s\",\"concentrator\":%u,", i ? "," : "",
                sim_fault_name(ft->type), ft->conc);
        if (ft->meter != SIM_LINK_METER) {
            char a[13];
            sim_fleet_meter_addr(ft->conc, ft->meter, a);
            fprintf(o, "\"meter\":\"%s\",", a);
        } else {
            fprintf(o, "\"meter\":null,");
        }
        fprintf(o, "\"from\":");
        put_time(o, ft->from);
        fprintf(o, ",\"to\":");
        put_time(o, ft->to);
        fprintf(o, ",\"p\":%g,\"arg\":%d}", ft->p, ft->arg);
    }
    fprintf(o, "]");
}

static void put_modbus(FILE *o, const struct sim_fleet *f, const struct sim_endpoints *ep)
{
    fprintf(o, ",\n\"modbus\":[");
    for (unsigned i = 0; i < ep->modbus_count; i++) {
        char a[13];
        sim_fleet_meter_addr(SIM_MODBUS_CONC, i, a);
        fprintf(o, "%s{\"index\":%u,\"map\":\"%s\",\"unit\":1,\"meter\":\"%s\",",
                i ? "," : "", i, sim_modbus_map_of(i), a);
        fprintf(o, "\"params\":");
        put_meter(o, f, &f->mb[i]);
        if (ep->modbus_tcp_base)
            fprintf(o, ",\"endpoint\":\"%s:%u\"", ep->bind, ep->modbus_tcp_base + i);
        if (ep->modbus_rtu_paths)
            fprintf(o, ",\"rtu\":\"%s\"", ep->modbus_rtu_paths[i]);
        fprintf(o, "}");
    }
    fprintf(o, "]");
}

/* Every meter's shown (and, under a fault, true) totals per interval. */
static void put_series(FILE *o, const struct sim_fleet *f, int64_t from, int64_t to)
{
    int64_t first = (from + SIM_IVL_S - 1) / SIM_IVL_S * SIM_IVL_S;
    fprintf(o, ",\n\"series\":{\"from\":");
    put_time(o, first);
    fprintf(o, ",\"from_s\":%lld,\"step_s\":%d,\"meters\":{\n", (long long)first,
            SIM_IVL_S);
    for (uint32_t k = 0; k < f->nconc; k++)
        for (uint32_t j = 0; j <= f->per; j++) {
            uint32_t idx = j == f->per ? SIM_DISTRICT_IDX : j;
            if (k || j)
                fputs(",\n", o);
            series_meter(f, o, sim_fleet_meter(f, k, idx), from, to, true);
        }
    fprintf(o, "}}");
}

/* Close a written file: AH_EIO when any write or the close failed. */
static int file_close(FILE *o)
{
    int rc = ferror(o) ? AH_EIO : AH_OK;
    if (fclose(o) != 0)
        rc = AH_EIO;
    return rc;
}

int sim_truth_write(const struct sim_fleet *f, const struct sim_endpoints *ep,
                    const char *path, int64_t series_from, int64_t series_to)
{
    FILE *o = fopen(path, "w");
    if (!o)
        return ah_err_from_errno(errno);
    fprintf(o, "{\"format\":\"amisim-truth-1\",\"seed\":%llu,\"epoch\":",
            (unsigned long long)f->seed);
    put_time(o, f->epoch_s);
    fprintf(o,
            ",\"epoch_s\":%lld,\"tz_offset_s\":%d,\"interval_s\":%d,\"history_days\":%u,"
            "\"register_unit\":\"0.01 kWh secondary (multiply by ct*pt for primary)\",",
            (long long)f->epoch_s, f->tz_s, SIM_IVL_S, f->history_days);
    put_concentrators(o, f, ep);
    put_meters(o, f);
    put_faults(o, f);
    if (ep && ep->modbus_count)
        put_modbus(o, f, ep);
    if (series_to > series_from)
        put_series(o, f, series_from, series_to);
    fprintf(o, "}\n");
    return file_close(o);
}

static const char *tz_name(int32_t tz_s, char *buf, size_t cap)
{
    if (tz_s == 8 * 3600)
        return "Asia/Shanghai";
    if (tz_s == 0)
        return "UTC";
    /* POSIX Etc zones have the sign inverted: Etc/GMT-8 is UTC+8 */
    snprintf(buf, cap, "Etc/GMT%+d", -tz_s / 3600);
    return buf;
}

unsigned sim_config_port_base(const struct sim_endpoints *ep)
{
    return ep->port_base ? ep->port_base : SIM_CONFIG_PORT_BASE;
}

/* The links section: one per concentrator (serial pty, dial-in or TCP)
 * and one per Modbus meter. */
static void yaml_links(FILE *y, const struct sim_fleet *f, const struct sim_endpoints *ep)
{
    for (uint32_t k = 0; k < f->nconc; k++) {
        char ca[13];
        sim_fleet_conc_addr(k, ca);
        if (ep->pty_paths)
            fprintf(
                y,
                "  - name: c%u\n    type: dlt645-serial\n    device: %s\n    baud: %u\n"
                "    parity: even\n",
                k, ep->pty_paths[k], ep->baud);
        else if (ep->dial)
            fprintf(y,
                    "  - name: c%u\n    type: dlt645-listen\n    listen: %s\n"
                    "    address: \"%s\"\n",
                    k, ep->dial, ca);
        else
            fprintf(y, "  - name: c%u\n    type: dlt645-tcp\n    endpoint: %s:%u\n", k,
                    ep->bind, sim_config_port_base(ep) + k);
    }
    for (unsigned i = 0; i < ep->modbus_count; i++) {
        if (ep->modbus_tcp_base)
            fprintf(y, "  - name: mb%u\n    type: modbus-tcp\n    endpoint: %s:%u\n", i,
                    ep->bind, ep->modbus_tcp_base + i);
        else if (ep->modbus_rtu_paths)
            fprintf(
                y,
                "  - name: mb%u\n    type: modbus-rtu\n    device: %s\n    baud: 9600\n"
                "    parity: none\n",
                i, ep->modbus_rtu_paths[i]);
    }
}

/* amihead.yaml: a test fleet's settings around the links section. */
static int write_yaml(const struct sim_fleet *f, const struct sim_endpoints *ep,
                      const char *path)
{
    char tzb[32];
    FILE *y = fopen(path, "w");
    if (!y)
        return ah_err_from_errno(errno);
    fprintf(
        y,
        "# Written by amisim --write-config for a fleet of %u concentrators x %u meters\n"
        "# (seed %llu). Start the head-end with: amihead run -c %s\n"
        "headend:\n  id: amihead-sim\n  timezone: %s\n  log_level: info\n\n"
        "inventory: meters.csv\n\nstorage:\n  path: store\n  sync: true\n\n"
        "schedule:\n  interval_min: 15\n  backfill_days: 3\n  stagger_s: 60\n"
        "  daily_freeze_after: \"00:05\"\n  timeout_ms: 2000\n  retries: 2\n"
        "  backoff_after: 3\n  backoff_max_cycles: 8\n"
        "  # a test fleet: every DI group each interval, so injected faults show\n"
        "  # within it (\"\" = the default read plan, docs/config.md)\n"
        "  read_plan: every\n\nlinks:\n",
        f->nconc, f->per, (unsigned long long)f->seed, path,
        tz_name(f->tz_s, tzb, sizeof tzb));
    yaml_links(y, f, ep);
    fprintf(y, "\nexport:\n  pub: tcp://127.0.0.1:5556\n  replay: tcp://127.0.0.1:5557\n"
               "  retention_days: 35\n  retention_mb: 2048\n\n"
               "metrics:\n  listen: 127.0.0.1:9464\n");
    return file_close(y);
}

/* meters.csv: the inventory, one row per DL/T 645 and served Modbus meter. */
static int write_inventory(const struct sim_fleet *f, const struct sim_endpoints *ep,
                           const char *path)
{
    FILE *c = fopen(path, "w");
    if (!c)
        return ah_err_from_errno(errno);
    fprintf(c, "meter_id,protocol,link,address,unit_id,map,wiring,ct,pt,rated_current,"
               "max_current,nominal_voltage,district,class,role,bidirectional\n");
    for (uint32_t k = 0; k < f->nconc; k++)
        for (uint32_t j = 0; j <= f->per; j++) {
            uint32_t idx = j == f->per ? SIM_DISTRICT_IDX : j;
            const struct sim_meter *m = sim_fleet_meter(f, k, idx);
            char a[13];
            sim_fleet_meter_addr(k, idx, a);
            fprintf(c, "%s,dlt645-%u,c%u,%s,,,%s,%u,%u,%.1f,%.1f,%.1f,d%04u,%c,%s,%s\n",
                    a, m->proto, k, a, m->wiring == SIM_3P4W ? "3P4W" : "1P2W", m->ct,
                    m->pt, m->ib_da / 10.0, m->imax_da / 10.0, m->un_dv / 10.0, k,
                    class_of(m), idx == SIM_DISTRICT_IDX ? "district" : "customer",
                    m->pv ? "yes" : "no");
        }
    for (unsigned i = 0; i < ep->modbus_count; i++)
        if (ep->modbus_tcp_base || ep->modbus_rtu_paths)
            fprintf(c,
                    "%012llu,modbus,mb%u,,1,%s,3P4W,1,1,10.0,100.0,220.0,modbus,B,"
                    "customer,no\n",
                    900000000000ULL + i, i, sim_modbus_map_of(i));
    return file_close(c);
}

/* Paths in the YAML are relative to it (amihead resolves them against the
 * YAML's folder), so the folder can be given as ./site, moved or copied. */
int sim_write_config(const struct sim_fleet *f, const struct sim_endpoints *ep,
                     const char *dir)
{
    char path[4096];
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return ah_err_from_errno(errno);
    snprintf(path, sizeof path, "%s/amihead.yaml", dir);
    int rc = write_yaml(f, ep, path);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s/meters.csv", dir);
    return write_inventory(f, ep, path);
}
