/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Interface io.cocoon.Network: what cocoon-manager asks of the network helper cocoon-network (root only,
 * on its own socket). Each call works on the CNI NICs of one VM: its namespace cocoon-<id>, the plugin
 * chain of its conflist per NIC, and the TAP joined to each NIC's veth. */
#include "varlink-interfaces.h"

static const VarlinkField nic_fields[] = {
        { .name = "ifName", .type = VARLINK_STRING, .doc = "The CNI interface: eth<index of the NIC>." },
        { .name = "tap", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "The TAP the hypervisor attaches to, in the namespace (Delete needs none)." },
        { .name = "multiQueue", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE },
        { .name = "ip", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "The address to ask IPAM for (CNI_ARGS IP=): the recorded one, when set up again." },
        {},
};

static const VarlinkSymbol type_nic = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "Nic",
        .input = nic_fields,
};

static const VarlinkField nic_result_fields[] = {
        { .name = "ip", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "The first IPv4 address IPAM granted; absent: none (DHCP)." },
        { .name = "prefix", .type = VARLINK_INT, .flags = VARLINK_NULLABLE },
        { .name = "gateway", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "mac", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "The veth's MAC, which the guest takes." },
        { .name = "dns", .type = VARLINK_STRING, .flags = VARLINK_ARRAY | VARLINK_NULLABLE },
        {},
};

static const VarlinkSymbol type_nic_result = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "NicResult",
        .input = nic_result_fields,
};

/* The input of every method: the VM, where plugins and cached results are, the conflist and the NICs. */
#define NETWORK_REQUEST_FIELDS                                                                              \
        { .name = "id", .type = VARLINK_STRING, .doc = "The VM's id: the namespace is cocoon-<id>." },      \
        { .name = "pluginDirectory", .type = VARLINK_STRING },                                              \
        { .name = "cacheDirectory", .type = VARLINK_STRING,                                                 \
          .doc = "Absolute; where each NIC's ADD result is kept for DEL and CHECK." },                      \
        { .name = "uid", .type = VARLINK_INT, .flags = VARLINK_NULLABLE, .doc = "The TAPs' owner." },       \
        { .name = "gid", .type = VARLINK_INT, .flags = VARLINK_NULLABLE },                                  \
        { .name = "nics", .type = VARLINK_NAMED, .named_type = "Nic", .flags = VARLINK_ARRAY }

static const VarlinkField add_in[] = {
        NETWORK_REQUEST_FIELDS,
        { .name = "conflist", .type = VARLINK_OBJECT,
          .doc = "The checked conflist: cniVersion, name, disableCheck, plugins." },
        {},
};

static const VarlinkField delete_in[] = {
        NETWORK_REQUEST_FIELDS,
        { .name = "conflist", .type = VARLINK_OBJECT, .flags = VARLINK_NULLABLE,
          .doc = "Absent when the conflist is gone: then no plugin is asked, only the namespace goes." },
        { .name = "leaseFiles", .type = VARLINK_STRING, .flags = VARLINK_ARRAY | VARLINK_NULLABLE,
          .doc = "IPAM lease files (host-local's) to remove after the DELs if they still name the VM." },
        {},
};

static const VarlinkField nics_out[] = {
        { .name = "nics", .type = VARLINK_NAMED, .named_type = "NicResult", .flags = VARLINK_ARRAY },
        {},
};

static const VarlinkField ensure_out[] = {
        { .name = "recreated", .type = VARLINK_BOOL,
          .doc = "Whether anything was missing and everything was set up again." },
        { .name = "nics", .type = VARLINK_NAMED, .named_type = "NicResult",
          .flags = VARLINK_ARRAY | VARLINK_NULLABLE, .doc = "Only when recreated." },
        {},
};

static const VarlinkSymbol method_add = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Add",
        .input = add_in,
        .output = nics_out,
        .doc = "Creates the namespace, then per NIC CNI ADD, its TAP and the tc redirects; any failure "
               "undoes all of it (DEL in reverse, the namespace removed).",
};

static const VarlinkSymbol method_ensure = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Ensure",
        .input = add_in,
        .output = ensure_out,
        .doc = "Keeps a namespace whose TAPs exist and whose CHECK passes; else removes what is left and "
               "adds again, asking IPAM for each NIC's ip.",
};

static const VarlinkSymbol method_delete = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Delete",
        .input = delete_in,
        .doc = "CNI DEL of every NIC in reverse, best effort, then the namespace goes, then the lease files "
               "given that still name the VM. nics may be empty.",
};

static const VarlinkField failed_fields[] = {
        { .name = "message", .type = VARLINK_STRING, .doc = "What failed, with the plugin's own text." },
        {},
};

static const VarlinkSymbol error_failed = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "Failed",
        .input = failed_fields,
};

static const VarlinkSymbol *const symbols[] = {
        &type_nic, &type_nic_result, &method_add, &method_ensure, &method_delete, &error_failed, NULL,
};

const VarlinkInterface vl_interface_io_cocoon_Network = {
        .name = "io.cocoon.Network",
        .symbols = symbols,
        .doc = "The network helper cocoon-network: CNI NICs of one VM per call (cocoon-manager only).",
};
