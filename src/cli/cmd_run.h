/*
 * cmd_run — `amihead run`, `amihead query`, `amihead stats` (issue 4):
 * the polling head-end and the two commands that read its store.
 * Each takes argv with argv[0] = command name and returns the exit code
 * (0 ok, 1 failure, 2 usage error), like the other cmd_* entry points.
 */
#ifndef AH_CMD_RUN_H
#define AH_CMD_RUN_H

int cmd_run(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_stats(int argc, char **argv);

/* Load and check a config like check-config: every diag message to stderr;
 * NULL (after printing) on error. Caller owns the result (cfg_destroy).
 * cmd names the command in messages. */
struct cfg;
struct cfg *cmd_run_load_config(const char *cmd, const char *file);

#endif /* AH_CMD_RUN_H */
