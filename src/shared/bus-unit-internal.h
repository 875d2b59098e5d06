/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names and property parsing shared by the bus-unit*.c files; not for other modules. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "bus-unit.h"

#define SYSTEMD_BUS_NAME "org.freedesktop.systemd1"
#define SYSTEMD_BUS_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER_IFACE "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT_IFACE "org.freedesktop.systemd1.Unit"
#define SYSTEMD_SERVICE_IFACE "org.freedesktop.systemd1.Service"
#define SYSTEMD_UNIT_PATH_PREFIX "/org/freedesktop/systemd1/unit"
#define DBUS_PROPERTIES_IFACE "org.freedesktop.DBus.Properties"

#define SYSTEMD_ERROR_NO_SUCH_UNIT "org.freedesktop.systemd1.NoSuchUnit"
#define SYSTEMD_ERROR_UNIT_EXISTS "org.freedesktop.systemd1.UnitExists"
#define SYSTEMD_ERROR_ALREADY_SUBSCRIBED "org.freedesktop.systemd1.AlreadySubscribed"

/* Sets every field to "unknown" (NULL strings, UINT64_MAX counters). */
void unit_runtime_init(UnitRuntime *rt);

/* Reads an a{sv} of Unit/Service properties at the current position of m into rt. Properties rt does not
 * hold are skipped; a known property with an unexpected type is -EBADMSG. */
int unit_runtime_read_properties(sd_bus_message *m, UnitRuntime *rt);

/* True if name is a property unit_runtime_read_properties() stores. */
bool unit_runtime_property_known(const char *name);

/* Calls a method of PID 1's Manager object (sd_bus_call_method() semantics). */
int bus_call_manager(sd_bus *bus, const char *method, sd_bus_error *error, sd_bus_message **reply,
                     const char *types, ...);

/* GetUnit: the object path of a loaded unit, -ENOENT if it is not loaded. Unlike reading a property on a
 * path built from the name, this never loads a stub unit into PID 1. */
int bus_get_unit_path(sd_bus *bus, const char *unit_name, char **ret_path);

/* Maps the D-Bus error names PID 1 uses for "no such unit" and "unit exists" to -ENOENT/-EEXIST, else r. */
int bus_unit_error_to_errno(const sd_bus_error *error, int r);

/* Appends the a(sv) of StartTransientUnit for spec: what runs and, with spec->sandbox, its confinement
 * (bus-unit-properties.c). */
int bus_append_unit_properties(sd_bus_message *m, const UnitSpec *spec);

/* argv present, every path absolute, no sandbox that hides "/". */
bool unit_spec_is_valid(const UnitSpec *spec);
