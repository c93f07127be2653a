// sql.c: every statement of the run store, in one table indexed by the S_* enum of
// store_internal.h, so that all the SQL the store runs after opening can be read in one place
// (the schema is in schema.c). store_open prepares each once per connection.
#include "store/store_internal.h"

#define RUN_COLS "id, name, status, created, started, ended, heartbeat, pid, host, step, total_steps, " \
                 "error, parent, notes, stop_requested, active, world_size"

// Seconds from the stored heartbeat to `now`, when that is a live writer's gap (at most the
// stale limit), else 0.
#define ACTIVE_SINCE_HEARTBEAT(now) \
    "(CASE WHEN heartbeat IS NOT NULL AND " now " >= heartbeat AND " now " - heartbeat <= 15 THEN " now " - heartbeat ELSE 0 END)"
_Static_assert(STORE_STALE_SECONDS == 15.0, "ACTIVE_SINCE_HEARTBEAT spells out the stale limit");

static const char *const text[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_BEGIN_READ] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_RUN_INSERT] = "INSERT INTO runs(name, status, config, created, total_steps, parent, notes)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, NULLIF(?6, 0), '')",
    [S_RUN_BY_NAME] = "SELECT id FROM runs WHERE name = ?1",
    [S_RUN_EXISTS] = "SELECT id FROM runs WHERE id = ?1",
    [S_RUN_GET] = "SELECT " RUN_COLS " FROM runs WHERE id = ?1",
    [S_RUN_CONFIG] = "SELECT config FROM runs WHERE id = ?1",
    [S_RUN_LIST] = "SELECT " RUN_COLS " FROM runs ORDER BY id DESC",
    [S_TAGS_ALL] = "SELECT run, tag FROM tags ORDER BY run, tag",
    [S_TAGS_RUN] = "SELECT run, tag FROM tags WHERE run = ?1 ORDER BY tag",
    [S_SUMMARY_ALL] = "SELECT s.run, k.key, s.last_value, s.last_step, s.last_wall, s.vmin, s.min_step, s.vmax"
                      " FROM summary s JOIN metric_keys k ON k.id = s.key ORDER BY s.run, k.key",
    [S_SUMMARY_RUN] = "SELECT s.run, k.key, s.last_value, s.last_step, s.last_wall, s.vmin, s.min_step, s.vmax"
                      " FROM summary s JOIN metric_keys k ON k.id = s.key WHERE s.run = ?1 ORDER BY k.key",
    [S_KEY_FIND] = "SELECT id FROM metric_keys WHERE key = ?1",
    [S_KEY_INSERT] = "INSERT INTO metric_keys(key) VALUES(?1)",
    [S_METRIC_INSERT] = "INSERT OR REPLACE INTO metrics(run, key, step, value, wall) VALUES(?1, ?2, ?3, ?4, ?5)",
    // Assignments in an UPDATE all read the old row, so each CASE compares against old values.
    [S_SUMMARY_UPSERT] =
        "INSERT INTO summary(run, key, last_value, last_step, last_wall, vmin, min_step, vmax)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(run, key) DO UPDATE SET"
        " last_value = CASE WHEN excluded.last_step >= last_step THEN excluded.last_value ELSE last_value END,"
        " last_wall = CASE WHEN excluded.last_step >= last_step THEN excluded.last_wall ELSE last_wall END,"
        " last_step = MAX(last_step, excluded.last_step),"
        " min_step = CASE WHEN excluded.vmin IS NOT NULL AND (vmin IS NULL OR excluded.vmin < vmin)"
        "   THEN excluded.min_step ELSE min_step END,"
        " vmin = CASE WHEN excluded.vmin IS NOT NULL AND (vmin IS NULL OR excluded.vmin < vmin)"
        "   THEN excluded.vmin ELSE vmin END,"
        " vmax = CASE WHEN excluded.vmax IS NOT NULL AND (vmax IS NULL OR excluded.vmax > vmax)"
        "   THEN excluded.vmax ELSE vmax END",
    // The active time grows by the time since the previous heartbeat of a live writer; a resume
    // sets the heartbeat anew (S_STATUS_RUNNING), so the time a run was down never counts.
    [S_RUN_PROGRESS] = "UPDATE runs SET active = active + " ACTIVE_SINCE_HEARTBEAT("?2") ", heartbeat = ?2, step = CASE WHEN ?3 >= 0 THEN MAX(step, ?3) ELSE step END"
                       " WHERE id = ?1",
    [S_STOP_GET] = "SELECT stop_requested FROM runs WHERE id = ?1",
    [S_SERIES] = "SELECT step, value, wall FROM metrics WHERE run = ?1 AND key = ?2 AND step > ?3 ORDER BY step",
    [S_KEYS_RUN] = "SELECT k.key FROM summary s JOIN metric_keys k ON k.id = s.key WHERE s.run = ?1 ORDER BY k.key",
    [S_SAMPLE_STEPS] = "SELECT step FROM samples WHERE run = ?1 ORDER BY step",
    [S_SAMPLE_GET] = "SELECT step, png, w, h FROM samples WHERE run = ?1 AND (?2 < 0 OR step <= ?2)"
                     " ORDER BY step DESC LIMIT 1",
    [S_SAMPLE_INSERT] = "INSERT OR REPLACE INTO samples(run, step, png, w, h, wall) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_CKPT_INSERT] = "INSERT OR REPLACE INTO checkpoints(run, step, weights, state, wall) VALUES(?1, ?2, ?3, ?4, ?5)",
    [S_CKPT_LIST] = "SELECT step, weights, state, wall FROM checkpoints WHERE run = ?1 ORDER BY step",
    [S_TAG_ADD] = "INSERT OR IGNORE INTO tags(run, tag) VALUES(?1, ?2)",
    [S_TAG_DEL] = "DELETE FROM tags WHERE run = ?1 AND tag = ?2",
    [S_NOTE_SET] = "UPDATE runs SET notes = ?2 WHERE id = ?1",
    [S_RENAME] = "UPDATE runs SET name = ?2 WHERE id = ?1",
    [S_STOP_SET] = "UPDATE runs SET stop_requested = 1 WHERE id = ?1",
    // Statuses are bound by name (run_status_name), so their text lives in one place.
    [S_STATUS_RUNNING] = "UPDATE runs SET status = ?2, pid = ?3, host = ?4, heartbeat = ?5,"
                         " started = COALESCE(started, ?5), ended = NULL, error = NULL, stop_requested = 0"
                         " WHERE id = ?1",
    [S_STATUS_END] = "UPDATE runs SET active = active + CASE WHEN status = ?5 THEN " ACTIVE_SINCE_HEARTBEAT("?4")
                     " ELSE 0 END, status = ?2, error = ?3, ended = ?4, heartbeat = ?4 WHERE id = ?1",
    [S_DEL_METRICS] = "DELETE FROM metrics WHERE run = ?1",
    [S_DEL_SUMMARY] = "DELETE FROM summary WHERE run = ?1",
    [S_DEL_SAMPLES] = "DELETE FROM samples WHERE run = ?1",
    [S_DEL_CKPT] = "DELETE FROM checkpoints WHERE run = ?1",
    [S_DEL_TAGS] = "DELETE FROM tags WHERE run = ?1",
    [S_DEL_RUN] = "DELETE FROM runs WHERE id = ?1",
    [S_RUNNING_LIST] = "SELECT id, heartbeat, pid, host FROM runs WHERE status = ?1",
    // Only if it still reads running (?4) and did not beat since we looked (?2).
    [S_SET_INTERRUPTED] = "UPDATE runs SET status = ?3, ended = heartbeat"
                          " WHERE id = ?1 AND status = ?4 AND heartbeat IS ?2",
    [S_TRUNC_METRICS] = "DELETE FROM metrics WHERE run = ?1 AND step > ?2",
    [S_TRUNC_SAMPLES] = "DELETE FROM samples WHERE run = ?1 AND step > ?2",
    // The same query as migration 2's (schema.c) on purpose: released migrations stay frozen,
    // so this one may change while that one must not.
    [S_SUMMARY_REBUILD] =
        "INSERT INTO summary(run, key, last_value, last_step, last_wall, vmin, min_step, vmax)"
        " SELECT m.run, m.key,"
        "  (SELECT x.value FROM metrics x WHERE x.run = m.run AND x.key = m.key ORDER BY x.step DESC LIMIT 1),"
        "  MAX(m.step),"
        "  (SELECT x.wall FROM metrics x WHERE x.run = m.run AND x.key = m.key ORDER BY x.step DESC LIMIT 1),"
        "  MIN(m.value),"
        "  (SELECT x.step FROM metrics x WHERE x.run = m.run AND x.key = m.key AND x.value IS NOT NULL"
        "     ORDER BY x.value, x.step LIMIT 1),"
        "  MAX(m.value)"
        " FROM metrics m WHERE m.run = ?1 GROUP BY m.key",
    [S_RUN_STEP_CAP] = "UPDATE runs SET step = MIN(step, ?2) WHERE id = ?1",
    [S_INTEGRITY] = "PRAGMA integrity_check",
    [S_VERSION] = "PRAGMA user_version",
    [S_CKPT_UNDER] = "SELECT 1 FROM checkpoints WHERE substr(weights, 1, length(?1)) = ?1 LIMIT 1",
    [S_WORLD_SET] = "UPDATE runs SET world_size = ?2 WHERE id = ?1",
    [S_PREF_GET] = "SELECT value FROM prefs WHERE key = ?1",
    [S_PREF_SET] = "INSERT INTO prefs(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [S_PREF_DEL] = "DELETE FROM prefs WHERE key = ?1",
    [S_CONSOLE_INSERT] = "INSERT INTO console(run, wall, level, text) VALUES(?1, ?2, ?3, ?4)",
    // Keeps the newest ?2 lines of the run: everything at or below the id of the (?2+1)-th newest goes.
    [S_CONSOLE_CAP] = "DELETE FROM console WHERE run = ?1 AND id <= (SELECT id FROM console WHERE run = ?1"
                      " ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    [S_CONSOLE_GET] = "SELECT id, wall, level, text FROM console WHERE run = ?1 AND id > ?2 ORDER BY id",
    [S_DEL_CONSOLE] = "DELETE FROM console WHERE run = ?1",
};

const char *sql_text(int which) { return which >= 0 && which < S_COUNT ? text[which] : NULL; }
