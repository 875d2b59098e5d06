/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl status: what the manager says about itself. */
#include <inttypes.h>
#include <stdio.h>

#include "ctl-util.h"
#include "ctl-verbs.h"

static const char *get_string(json_object *o, const char *key) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return "-";
        return json_object_get_string(v);
}

static void print_backends(json_object *reply) {
        json_object *backends;
        if (!json_object_object_get_ex(reply, "backends", &backends) || !json_object_is_type(backends, json_type_array))
                return;
        for (size_t i = 0; i < json_object_array_length(backends); i++) {
                json_object *b = json_object_array_get_idx(backends, i), *available;
                bool ok = json_object_object_get_ex(b, "available", &available) && json_object_get_boolean(available);
                if (ok)
                        printf("  %-18s %s (%s)\n", get_string(b, "name"), get_string(b, "path"), get_string(b, "version"));
                else
                        printf("  %-18s not found\n", get_string(b, "name"));
        }
}

static void print_counts(json_object *reply) {
        json_object *vms, *by_state;
        if (!json_object_object_get_ex(reply, "vms", &vms))
                return;
        printf("VMs:               %" PRId64, json_object_get_int64(vms));
        if (json_object_object_get_ex(reply, "vmsByState", &by_state) && json_object_object_length(by_state) > 0) {
                const char *sep = " (";
                json_object_object_foreach(by_state, state, count) {
                        printf("%s%s %" PRId64, sep, state, json_object_get_int64(count));
                        sep = ", ";
                }
                printf(")");
        }
        printf("\n");
}

/* Settings the manager ignored (typos, most often): shown where people look, not only in the journal. */
static void print_config_warnings(json_object *reply) {
        json_object *warnings;
        if (!json_object_object_get_ex(reply, "configWarnings", &warnings) ||
            !json_object_is_type(warnings, json_type_array) || json_object_array_length(warnings) == 0)
                return;
        printf("Config warnings:\n");
        for (size_t i = 0; i < json_object_array_length(warnings); i++)
                printf("  %s\n", json_object_get_string(json_object_array_get_idx(warnings, i)));
}

int verb_status(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        json_object *reply = NULL;

        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        r = ctl_call(link, "io.cocoon.Manager.Describe", NULL, &reply);
        if (r < 0)
                return r;
        if (arg_json) {
                ctl_print_json(reply);
                return 0;
        }

        printf("cocoon-manager %s\n", get_string(reply, "version"));
        printf("State directory:   %s\n", get_string(reply, "stateDirectory"));
        printf("Runtime directory: %s\n", get_string(reply, "runtimeDirectory"));
        printf("Log directory:     %s\n", get_string(reply, "logDirectory"));
        printf("Default backend:   %s\n", get_string(reply, "defaultBackend"));
        printf("Accelerator:       %s\n", get_string(reply, "accelerator"));
        print_counts(reply);
        printf("Backends:\n");
        print_backends(reply);
        print_config_warnings(reply);
        return 0;
}
