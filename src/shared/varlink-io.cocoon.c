/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Interface io.cocoon: the errors every cocoon interface may return. */
#include "varlink-interfaces.h"

static const VarlinkField permission_denied_fields[] = {
        { .name = "method", .type = VARLINK_STRING, .doc = "The method the caller may not call." },
        { .name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkField system_fields[] = {
        { .name = "origin", .type = VARLINK_STRING, .doc = "Always \"linux\"." },
        { .name = "errno", .type = VARLINK_INT },
        { .name = "errnoName", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkSymbol error_permission_denied = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "PermissionDenied",
        .input = permission_denied_fields,
        .doc = "Only root and members of group cocoon may call this method.",
};

static const VarlinkSymbol error_system = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "System",
        .input = system_fields,
        .doc = "A system call failed; errno says why.",
};

static const VarlinkField shutting_down_fields[] = {
        { .name = "id", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE, .doc = "The VM concerned, if any." },
        { .name = "message", .type = VARLINK_STRING },
        {},
};

static const VarlinkSymbol error_shutting_down = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "ShuttingDown",
        .input = shutting_down_fields,
        .doc = "cocoon-manager is exiting: the operation was not started (call again: the socket starts a new "
               "manager), or, for a stop already under way, it goes on in systemd and the next manager "
               "records the result.",
};

static const VarlinkSymbol *const symbols[] = {
        &error_permission_denied,
        &error_system,
        &error_shutting_down,
        NULL,
};

const VarlinkInterface vl_interface_io_cocoon = {
        .name = "io.cocoon",
        .symbols = symbols,
        .doc = "Errors shared by all cocoon interfaces.",
};
