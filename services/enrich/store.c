/* enrich's Postgres statements (store.h): the batch as arrays, unnest()ed, so a batch
 * of 500 alerts is two statements, not a thousand. Indicators are one row per alert
 * and distinct (type, value), with the paths they were found at. Indicators are inserted with ON
 * CONFLICT DO NOTHING and the alerts update is idempotent, so even a batch run again
 * after a failed commit writes each fact once. */
#include "services/enrich/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int enrich_store(pg *db, enrich_row *rows, size_t n)
{
    if (n == 0)
        return PG_OK;
    pg_array ids, sev, score, base, ind_alert, ind_type, ind_value, ind_path;
    pg_array *all[] = {&ids, &sev, &score, &base, &ind_alert, &ind_type, &ind_value, &ind_path};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        pg_array_init(all[i]);
    for (size_t i = 0; i < n; i++) {
        rows[i].found = false;
        pg_array_add(&ids, rows[i].alert_id);
        pg_array_add(&sev, rows[i].severity);
        pg_array_addf(&score, "%.17g", rows[i].risk_score);
        pg_array_addf(&base, "%.17g", rows[i].risk_base);
        for (size_t j = 0; rows[i].indicators && j < rows[i].indicators->count; j++) {
            const enrich_indicator *it = &rows[i].indicators->items[j];
            pg_array_add(&ind_alert, rows[i].alert_id);
            pg_array_add(&ind_type, it->type);
            pg_array_add(&ind_value, it->value);
            pg_array_add(&ind_path, it->path);
        }
    }
    const char *p1[] = {pg_array_text(&ids), pg_array_text(&sev), pg_array_text(&score), pg_array_text(&base)};
    const char *p2[] = {pg_array_text(&ind_alert), pg_array_text(&ind_type), pg_array_text(&ind_value),
                        pg_array_text(&ind_path)};
    int rc = PG_RETRY; /* out of memory building the arrays: try again later */
    PGresult *res = NULL;
    if (p1[0] && p1[1] && p1[2] && p1[3] && p2[0] && p2[1] && p2[2] && p2[3])
        rc = pg_exec(db, &res,
                     "UPDATE alerts SET severity = x.severity, risk_score = x.score, risk_base = x.base,"
                     " enriched_at = COALESCE(enriched_at, now()) "
                     "FROM unnest($1::uuid[], $2::text[], $3::double precision[], $4::double precision[])"
                     " AS x(alert_id, severity, score, base) "
                     "WHERE alerts.alert_id = x.alert_id RETURNING alerts.alert_id::text",
                     4, p1);
    if (rc == PG_OK) {
        for (int r = 0; r < PQntuples(res); r++)
            for (size_t i = 0; i < n; i++)
                if (!rows[i].found && !strcasecmp(rows[i].alert_id, PQgetvalue(res, r, 0)))
                    rows[i].found = true;
        if (ind_alert.n)
            rc = pg_exec(db, NULL,
                         "INSERT INTO indicators (alert_id, type, value, paths) "
                         "SELECT x.a, x.t, x.v, array_agg(x.p ORDER BY x.p) "
                         "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS x(a, t, v, p) "
                         "WHERE EXISTS (SELECT 1 FROM alerts WHERE alerts.alert_id = x.a) "
                         "GROUP BY x.a, x.t, x.v ON CONFLICT DO NOTHING",
                         4, p2);
    }
    PQclear(res);
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        pg_array_free(all[i]);
    return rc;
}
