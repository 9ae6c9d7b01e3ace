/*
 * cmd_read_modbus — `amihead read --modbus-tcp|--modbus-rtu ...`: read every
 * quantity of one Modbus meter map once and print it (table or one JSON
 * line). cmd_read dispatches here when argv holds --modbus-tcp/--modbus-rtu.
 */
#ifndef AH_CMD_READ_MODBUS_H
#define AH_CMD_READ_MODBUS_H

/* argv[0] is "read". Returns the exit code: 0 ok, 1 the read failed (message
 * on stderr naming the link and unit), 2 usage error. */
int cmd_read_modbus(int argc, char **argv);

#endif /* AH_CMD_READ_MODBUS_H */
