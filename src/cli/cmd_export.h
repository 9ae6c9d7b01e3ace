/*
 * cmd_export — `amihead keygen` (CURVE key pairs for the export endpoints)
 * and `amihead tail` (an ordered, gap-filling subscriber that prints the
 * export as JSON lines; docs/wire-format.md).
 */
#ifndef AH_CMD_EXPORT_H
#define AH_CMD_EXPORT_H

int cmd_keygen(int argc, char **argv);
int cmd_tail(int argc, char **argv);

#endif /* AH_CMD_EXPORT_H */
