/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one list of backends this build has: records, configuration, Create and Describe all go by it. */
#include "hypervisor.h"
#include "macro.h"

const Hypervisor *const hypervisor_table[] = {
        &hypervisor_qemu,
        &hypervisor_cloud_hypervisor,
        &hypervisor_firecracker,
};
const size_t hypervisor_table_size = ELEMENTSOF(hypervisor_table);

const Hypervisor *hypervisor_find(const char *type) {
        for (size_t i = 0; type && i < ELEMENTSOF(hypervisor_table); i++)
                if (streq(hypervisor_table[i]->type, type))
                        return hypervisor_table[i];
        return NULL;
}
