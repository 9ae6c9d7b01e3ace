/*
 * cmd_vee — the validation commands (issue 5): `amihead events` (anomaly
 * episodes and other events from the store), `amihead districts` (district
 * days: loss rate, flags, listed customers) and `amihead release` (an
 * operator releases suspect reads to billing, through the running
 * head-end's request spool, docs/operations.md).
 * Each takes argv with argv[0] = command name and returns the exit code
 * (0 ok, 1 failure, 2 usage error).
 */
#ifndef AH_CMD_VEE_H
#define AH_CMD_VEE_H

int cmd_events(int argc, char **argv);
int cmd_districts(int argc, char **argv);
int cmd_release(int argc, char **argv);

#endif /* AH_CMD_VEE_H */
