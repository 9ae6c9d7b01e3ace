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

#endif /* AH_CMD_RUN_H */
