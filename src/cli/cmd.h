/*
 * cmd — amihead subcommands. Each takes argv with argv[0] = command name
 * and returns the process exit code (0 ok, 1 failure, 2 usage error).
 */
#ifndef AH_CMD_H
#define AH_CMD_H

struct cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

int cmd_read(int argc, char **argv);
int cmd_ports(int argc, char **argv);
int cmd_version(int argc, char **argv);

#endif /* AH_CMD_H */
