/*
 * cmd_bridge — `amihead bridge -c bridge.yaml` and `amihead sink -c
 * sink.yaml` (docs/scale-out.md). Options and signals only; the work is in
 * bridge_ and sink_.
 */
#ifndef AH_CMD_BRIDGE_H
#define AH_CMD_BRIDGE_H

int cmd_bridge(int argc, char **argv);
int cmd_sink(int argc, char **argv);

#endif /* AH_CMD_BRIDGE_H */
