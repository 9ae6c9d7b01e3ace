/*
 * sinkdb — PostgreSQL through libpq (sinkdb.h). The work of one batch runs
 * inside the server (PL/pgSQL ami_apply): one round trip per batch, and the
 * cursor check, the inserts and the cursor update are one statement, so one
 * transaction, whatever the client does between them.
 *
 * Interval reads are partitioned by month of interval end (UTC); a month's
 * partition is created by the batch that first needs it.
 */
#include "sinkdb.h"

#include "ah_err.h"
#include "ah_log.h"

#include <inttypes.h>
#include <stdbool.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sinkdb {
    PGconn *pg;
    char *buf; /* NUL-terminated copy of the payload (libpq text parameter) */
    size_t cap;
};

/* Idempotent: run by every sink at start. */
/* clang-format off */
static const char schema_sql[] =
    "SET client_min_messages = warning;"
    "CREATE TABLE IF NOT EXISTS ami_reads ("
    "  headend text NOT NULL, seq bigint NOT NULL, meter text NOT NULL,"
    "  district text NOT NULL, interval_end timestamptz NOT NULL, source text NOT NULL,"
    "  quality integer NOT NULL, ct integer, pt integer,"
    "  import_kwh numeric(16,2), export_kwh numeric(16,2), body jsonb NOT NULL,"
    "  PRIMARY KEY (headend, meter, interval_end)"
    ") PARTITION BY RANGE (interval_end);"
    "CREATE TABLE IF NOT EXISTS ami_anomalies ("
    "  headend text NOT NULL, seq bigint NOT NULL, meter text NOT NULL,"
    "  district text NOT NULL, anomaly text NOT NULL, state text NOT NULL,"
    "  at timestamptz NOT NULL, quality integer NOT NULL, body jsonb NOT NULL,"
    "  PRIMARY KEY (headend, seq));"
    "CREATE TABLE IF NOT EXISTS ami_gaps ("
    "  headend text NOT NULL, seq bigint NOT NULL, meter text NOT NULL,"
    "  district text NOT NULL, first_end timestamptz NOT NULL,"
    "  last_end timestamptz NOT NULL, step_s integer NOT NULL, reason text NOT NULL,"
    "  body jsonb NOT NULL, PRIMARY KEY (headend, seq));"
    "CREATE TABLE IF NOT EXISTS ami_district_days ("
    "  headend text NOT NULL, seq bigint NOT NULL, district text NOT NULL,"
    "  day date NOT NULL, complete boolean NOT NULL, expected_intervals integer,"
    "  collected_intervals integer, district_kwh numeric(16,2),"
    "  customers_kwh numeric(16,2), loss_rate_pct numeric(8,2), body jsonb NOT NULL,"
    "  PRIMARY KEY (headend, seq));"
    "CREATE TABLE IF NOT EXISTS ami_cursor ("
    "  headend text PRIMARY KEY, last_seq bigint NOT NULL, stream_seq bigint NOT NULL,"
    "  batches bigint NOT NULL, updated timestamptz NOT NULL);"
    "CREATE TABLE IF NOT EXISTS ami_feed_breaks ("
    "  headend text NOT NULL, first_missing bigint NOT NULL, last_missing bigint NOT NULL,"
    "  noticed timestamptz NOT NULL, PRIMARY KEY (headend, first_missing));"
    "DROP FUNCTION IF EXISTS ami_apply(text, bigint, bigint, bigint, jsonb, bigint);"
    "DROP FUNCTION IF EXISTS ami_apply(text, bigint, bigint, bigint, jsonb, bigint,"
    "                                  integer);"
    "DROP FUNCTION IF EXISTS ami_apply(text, bigint, bigint, bigint, jsonb, bigint,"
    "                                  integer, timestamptz, timestamptz);"
    "CREATE OR REPLACE FUNCTION ami_apply(h text, prv bigint, f bigint, l bigint,"
    "                                     b jsonb, sseq bigint)"
    "    RETURNS text AS $$\n"
    "DECLARE cur bigint; mo timestamptz; part text; n bigint; ok boolean;\n"
    "  emin text; emax text; has_a boolean; has_g boolean; has_d boolean;\n"
    "BEGIN\n"
    /* the bodies against the headers, and what the batch holds, in one pass */
    "  IF jsonb_typeof(b) <> 'array' THEN RETURN 'rejected'; END IF;\n"
    "  SELECT count(*), coalesce(bool_and(jsonb_typeof(e) = 'object'\n"
    "           AND e->>'seq' = (f + o - 1)::text AND e->>'headend' = h\n"
    "           AND e->>'type' IS NOT NULL\n"
    "           AND (e->>'type' <> 'read' OR e->>'end' IS NOT NULL)), false),\n"
    "         min(e->>'end') FILTER (WHERE e->>'type' = 'read'),\n"
    "         max(e->>'end') FILTER (WHERE e->>'type' = 'read'),\n"
    "         bool_or(e->>'type' = 'anomaly'), bool_or(e->>'type' = 'gap'),\n"
    "         bool_or(e->>'type' = 'daily')\n"
    "    INTO n, ok, emin, emax, has_a, has_g, has_d\n"
    "    FROM jsonb_array_elements(b) WITH ORDINALITY AS x(e, o);\n"
    "  IF n <> l - f + 1 OR NOT ok THEN RETURN 'rejected'; END IF;\n"
    "  INSERT INTO ami_cursor VALUES (h, 0, 0, 0, now()) ON CONFLICT DO NOTHING;\n"
    "  SELECT last_seq INTO cur FROM ami_cursor WHERE headend = h FOR UPDATE;\n"
    "  IF l <= cur THEN RETURN 'duplicate'; END IF;\n"
    "  IF prv > cur THEN RETURN 'early'; END IF;\n"
    "  IF f > cur + 1 THEN\n"
    "    INSERT INTO ami_feed_breaks VALUES (h, cur + 1, f - 1, now())\n"
    "      ON CONFLICT DO NOTHING;\n"
    "  END IF;\n"
    "  FOR mo IN SELECT generate_series(date_trunc('month', emin::timestamptz, 'UTC'),\n"
    "                      date_trunc('month', emax::timestamptz, 'UTC'), '1 month')\n"
    "            WHERE emin IS NOT NULL LOOP\n"
    "    part := 'ami_reads_' || to_char(mo AT TIME ZONE 'UTC', 'YYYY_MM');\n"
    "    IF to_regclass(part) IS NULL THEN\n"
    "      EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF ami_reads'\n"
    "                     ' FOR VALUES FROM (%L) TO (%L)', part, mo,\n"
    "                     mo + interval '1 month');\n"
    "    END IF;\n"
    "  END LOOP;\n"
    "  INSERT INTO ami_reads SELECT h, (e->>'seq')::bigint, e->>'meter', e->>'district',\n"
    "      (e->>'end')::timestamptz, e->>'source', (e->>'quality')::integer,\n"
    "      (e->>'ct')::integer, (e->>'pt')::integer, (e->>'import_kwh')::numeric,\n"
    "      (e->>'export_kwh')::numeric, e\n"
    "    FROM jsonb_array_elements(b) e\n"
    "    WHERE e->>'type' = 'read' AND (e->>'seq')::bigint > cur\n"
    "    ON CONFLICT DO NOTHING;\n"
    "  IF has_a THEN\n"
    "  INSERT INTO ami_anomalies SELECT h, (e->>'seq')::bigint, e->>'meter',\n"
    "      e->>'district', e->>'anomaly', e->>'state', (e->>'at')::timestamptz,\n"
    "      (e->>'quality')::integer, e\n"
    "    FROM jsonb_array_elements(b) e\n"
    "    WHERE e->>'type' = 'anomaly' AND (e->>'seq')::bigint > cur\n"
    "    ON CONFLICT DO NOTHING;\n"
    "  END IF;\n"
    "  IF has_g THEN\n"
    "  INSERT INTO ami_gaps SELECT h, (e->>'seq')::bigint, e->>'meter', e->>'district',\n"
    "      (e->>'first')::timestamptz, (e->>'last')::timestamptz,\n"
    "      (e->>'step_s')::integer, e->>'reason', e\n"
    "    FROM jsonb_array_elements(b) e\n"
    "    WHERE e->>'type' = 'gap' AND (e->>'seq')::bigint > cur\n"
    "    ON CONFLICT DO NOTHING;\n"
    "  END IF;\n"
    "  IF has_d THEN\n"
    "  INSERT INTO ami_district_days SELECT h, (e->>'seq')::bigint, e->>'district',\n"
    "      (e->>'day')::date, (e->>'complete')::boolean,\n"
    "      (e->>'expected_intervals')::integer, (e->>'collected_intervals')::integer,\n"
    "      (e->>'district_kwh')::numeric, (e->>'customers_kwh')::numeric,\n"
    "      (e->>'loss_rate_pct')::numeric, e\n"
    "    FROM jsonb_array_elements(b) e\n"
    "    WHERE e->>'type' = 'daily' AND (e->>'seq')::bigint > cur\n"
    "    ON CONFLICT DO NOTHING;\n"
    "  END IF;\n"
    "  UPDATE ami_cursor SET last_seq = l, stream_seq = sseq, batches = batches + 1,\n"
    "         updated = now() WHERE headend = h;\n"
    "  RETURN 'applied';\n"
    "END $$ LANGUAGE plpgsql;";
/* clang-format on */

/* Serialise schema creation of concurrent sinks (CREATE ... IF NOT EXISTS
 * is not race-free in PostgreSQL). */
static const char lock_sql[] = "SELECT pg_advisory_lock(7231019)";
static const char unlock_sql[] = "SELECT pg_advisory_unlock(7231019)";

static int exec_ok(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = AH_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        ah_log(AH_LOG_ERROR, "postgres", "%s", PQerrorMessage(pg));
        rc = PQstatus(pg) == CONNECTION_OK ? AH_ESTORE : AH_ECLOSED;
    }
    PQclear(r);
    return rc;
}

int sinkdb_open(const char *conninfo, sinkdb_t **out)
{
    struct sinkdb *db = calloc(1, sizeof *db);
    if (!db)
        return AH_ENOMEM;
    int rc = AH_OK;
    db->pg = PQconnectdb(conninfo);
    if (PQstatus(db->pg) != CONNECTION_OK) {
        ah_log(AH_LOG_WARN, "postgres", "connect: %s", PQerrorMessage(db->pg));
        rc = AH_ECLOSED;
        goto out_free;
    }
    if ((rc = exec_ok(db->pg, lock_sql)) != AH_OK)
        goto out_free;
    rc = exec_ok(db->pg, schema_sql);
    int rc2 = exec_ok(db->pg, unlock_sql);
    if (rc || (rc = rc2))
        goto out_free;
    *out = db;
    return AH_OK;
out_free:
    sinkdb_destroy(&db);
    return rc;
}

void sinkdb_destroy(sinkdb_t **dbp)
{
    if (!dbp || !*dbp)
        return;
    PQfinish((*dbp)->pg);
    free((*dbp)->buf);
    free(*dbp);
    *dbp = NULL;
}

int sinkdb_apply(sinkdb_t *db, const struct sinkdb_batch *b, enum sinkdb_result *res)
{
    if (b->len + 1 > db->cap) {
        char *nb = realloc(db->buf, b->len + 1);
        if (!nb)
            return AH_ENOMEM;
        db->buf = nb;
        db->cap = b->len + 1;
    }
    memcpy(db->buf, b->payload, b->len);
    db->buf[b->len] = '\0';
    char p[4][24];
    snprintf(p[0], sizeof p[0], "%" PRIu64, b->prev);
    snprintf(p[1], sizeof p[1], "%" PRIu64, b->first);
    snprintf(p[2], sizeof p[2], "%" PRIu64, b->last);
    snprintf(p[3], sizeof p[3], "%" PRIu64, b->stream_seq);
    const char *v[6] = {b->headend, p[0], p[1], p[2], db->buf, p[3]};
    PGresult *r = PQexecParams(db->pg,
                               "SELECT ami_apply($1, $2::bigint, $3::bigint, $4::bigint,"
                               " $5::jsonb, $6::bigint)",
                               6, NULL, v, NULL, NULL, 0);
    int rc = AH_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        bool gone = PQstatus(db->pg) != CONNECTION_OK;
        ah_log(gone ? AH_LOG_WARN : AH_LOG_ERROR, "postgres",
               "apply %s %" PRIu64 "-%" PRIu64 ": %s", b->headend, b->first, b->last,
               PQerrorMessage(db->pg));
        rc = gone ? AH_ECLOSED : AH_ESTORE;
    } else {
        const char *s = PQgetvalue(r, 0, 0);
        *res = !strcmp(s, "applied")     ? SINKDB_APPLIED
               : !strcmp(s, "duplicate") ? SINKDB_DUPLICATE
               : !strcmp(s, "early")     ? SINKDB_EARLY
                                         : SINKDB_REJECTED;
    }
    PQclear(r);
    return rc;
}

int sinkdb_cursor(sinkdb_t *db, const char *headend, uint64_t *last)
{
    const char *v[1] = {headend};
    PGresult *r =
        PQexecParams(db->pg, "SELECT last_seq FROM ami_cursor WHERE headend = $1", 1,
                     NULL, v, NULL, NULL, 0);
    int rc = AH_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = PQstatus(db->pg) == CONNECTION_OK ? AH_ESTORE : AH_ECLOSED;
    else
        *last = PQntuples(r) ? strtoull(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return rc;
}

int sinkdb_begin(sinkdb_t *db)
{
    return exec_ok(db->pg, "BEGIN");
}

int sinkdb_commit(sinkdb_t *db)
{
    return exec_ok(db->pg, "COMMIT");
}

void sinkdb_rollback(sinkdb_t *db)
{
    PQclear(PQexec(db->pg, "ROLLBACK"));
}
