/*
 * cmd_check_config — `amihead check-config -c FILE`: load amihead.yaml and
 * its inventory through config and report. Opens nothing but the two files.
 */
#ifndef AH_CMD_CHECK_CONFIG_H
#define AH_CMD_CHECK_CONFIG_H

/* argv[0] = "check-config". Every problem goes to stderr as
 * "FILE:LINE: key: message"; exit 1 when there is an error, 2 on a usage
 * error, else 0 after "ok: N links, M meters, K districts" on stdout
 * (warnings still go to stderr). */
int cmd_check_config(int argc, char **argv);

#endif /* AH_CMD_CHECK_CONFIG_H */
