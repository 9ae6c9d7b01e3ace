/*
 * cmd_report — `amihead report` (see cmd_report.c) and the default day it
 * shares with /report of the running head-end.
 */
#ifndef AH_CMD_REPORT_H
#define AH_CMD_REPORT_H

#include <stdint.h>

struct cfg;

int cmd_report(int argc, char **argv);
/* Yesterday of headend.timezone by the wall clock, as a local day number. */
int cmd_report_default_day(const struct cfg *c, int64_t *day);

#endif /* AH_CMD_REPORT_H */
