/*
 * cmd_ports — `amihead ports [--json]`: the serial ports of this box with
 * their USB details, so a field engineer can pin a link to the adapter's
 * /dev/serial/by-id name or USB serial number (which survive re-plugging,
 * unlike ttyUSBn). Uses libserialport's enumeration.
 */
#include "cmd.h"
#include "cmd_util.h"

#include <dirent.h>
#include <jansson.h>
#include <libserialport.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Find the /dev/serial/by-id link that resolves to `dev`, if any. */
static void by_id(const char *dev, char *out, size_t cap)
{
    out[0] = '\0';
    DIR *d = opendir("/dev/serial/by-id");
    if (!d)
        return;
    char real_dev[PATH_MAX];
    if (!realpath(dev, real_dev)) {
        closedir(d);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[PATH_MAX], r[PATH_MAX];
        snprintf(p, sizeof p, "/dev/serial/by-id/%s", e->d_name);
        if (realpath(p, r) && !strcmp(r, real_dev)) {
            snprintf(out, cap, "%s", p);
            break;
        }
    }
    closedir(d);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

int cmd_version(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h")) {
        fprintf(stderr, "usage: amihead version (or amihead --version)\n");
        return 2;
    }
    printf("amihead 0.1.0 (libserialport %s)\n", sp_get_lib_version_string());
    return 0;
}

int cmd_ports(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: amihead ports [--json]\n  serial ports with USB vendor/product, "
               "serial number and /dev/serial/by-id name\n");
        return 0;
    }
    bool json = argc > 1 && !strcmp(argv[1], "--json");
    if (argc > 2 || (argc == 2 && !json)) {
        fprintf(stderr, "usage: amihead ports [--json]\n");
        return 2;
    }
    struct sp_port **ports = NULL;
    if (sp_list_ports(&ports) != SP_OK) {
        fprintf(stderr, "amihead ports: cannot enumerate serial ports\n");
        return 1;
    }
    size_t count = 0;
    for (size_t i = 0; ports[i]; i++, count++) {
        struct sp_port *p = ports[i];
        const char *name = sp_get_port_name(p);
        enum sp_transport tr = sp_get_port_transport(p);
        char id[PATH_MAX];
        by_id(name, id, sizeof id);
        json_t *o = json_pack("{s:s,s:o,s:s,s:o}", "name", name, "description",
                              str_or_null(sp_get_port_description(p)), "transport",
                              tr == SP_TRANSPORT_USB         ? "usb"
                              : tr == SP_TRANSPORT_BLUETOOTH ? "bluetooth"
                                                             : "native",
                              "by_id", id[0] ? json_string(id) : json_null());
        if (tr == SP_TRANSPORT_USB) {
            int vid = 0, pid = 0, bus = 0, addr = 0;
            sp_get_port_usb_vid_pid(p, &vid, &pid);
            sp_get_port_usb_bus_address(p, &bus, &addr);
            char vp[16];
            snprintf(vp, sizeof vp, "%04x:%04x", vid, pid);
            json_object_set_new(o, "usb_id", json_string(vp));
            json_object_set_new(o, "usb_bus", json_integer(bus));
            json_object_set_new(o, "usb_address", json_integer(addr));
            json_object_set_new(o, "manufacturer",
                                str_or_null(sp_get_port_usb_manufacturer(p)));
            json_object_set_new(o, "product", str_or_null(sp_get_port_usb_product(p)));
            json_object_set_new(o, "serial", str_or_null(sp_get_port_usb_serial(p)));
        }
        if (json) {
            char *s = cmd_json_dumps(o);
            puts(s);
            free(s);
        } else {
            const char *desc = sp_get_port_description(p);
            printf("%-20s %-8s %s", name,
                   json_string_value(json_object_get(o, "transport")), desc ? desc : "");
            if (tr == SP_TRANSPORT_USB) {
                const char *ser = sp_get_port_usb_serial(p);
                printf("  usb %s serial %s",
                       json_string_value(json_object_get(o, "usb_id")), ser ? ser : "-");
            }
            if (id[0])
                printf("  %s", id);
            printf("\n");
        }
        json_decref(o);
    }
    sp_free_port_list(ports);
    if (!json && count == 0)
        printf("no serial ports found\n");
    return 0;
}
