/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hidden "cocoonctl __complete WORDS...": the shell completion scripts' way in. Names of VMs and images
 * come from the manager, quickly or not at all: a shell waiting on TAB must not hang. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "ctl-complete.h"
#include "ctl-list-reader.h"
#include "ctl-util.h"
#include "json-util.h"
#include "strv-util.h"
#include "time-util.h"
#include "varlink-idl.h"
#include "varlink.h"

/* Longer than a call takes on a busy host, shorter than a person waits for a TAB. The first call after boot
 * also starts the manager (socket activation). */
#define COMPLETE_TIMEOUT_USEC (2 * USEC_PER_SEC)

/* Where a lister hands each name (and id). */
typedef struct Adder {
        CtlCompleteAddFn add;
        void *userdata;
} Adder;

static int vm_row_add(const ListRow *vm, void *userdata) {
        const Adder *a = userdata;
        return a->add(vm->name, vm->id, a->userdata);
}

/* VMs through the list reader (thousands of them stay cheap), the summary view: names and ids only. */
static int list_vms(Varlink *link, const Adder *a) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        ListReply reply;
        const char *text;
        size_t size;

        if (!p || json_add_bool(p, "summary", true) < 0)
                return -ENOMEM;
        int r = varlink_call_raw(link, "io.cocoon.VM.List", p, &text, &size);
        if (r < 0)
                return r;
        r = list_reply_read(text, size, vm_row_add, (void *) a, NULL, &reply);
        if (r < 0)
                return r;
        return reply.error || !reply.have_vms ? -EBADMSG : 0;
}

/* The array `key` of the reply to `method`. */
static int call_for_array(Varlink *link, const char *method, json_object *parameters, const char *key,
                          json_object **ret) {
        json_object *reply = NULL, *array;
        const char *error_id = NULL;

        int r = varlink_call(link, method, parameters, &reply, &error_id);
        if (r < 0)
                return r;
        if (error_id || !json_object_object_get_ex(reply, key, &array) ||
            !json_object_is_type(array, json_type_array))
                return -EBADMSG;
        *ret = array;
        return 0;
}

static int list_images(Varlink *link, const Adder *a) {
        json_object *images;

        int r = call_for_array(link, "io.cocoon.Image.List", NULL, "images", &images);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(images); i++) {
                json_object *image = json_object_array_get_idx(images, i);

                r = a->add(ctl_field_string(image, "name"), ctl_field_string(image, "id"), a->userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int list_interfaces(Varlink *link, const Adder *a) {
        json_object *interfaces;

        int r = call_for_array(link, "org.varlink.service.GetInfo", NULL, "interfaces", &interfaces);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(interfaces); i++) {
                json_object *name = json_object_array_get_idx(interfaces, i);

                if (!json_object_is_type(name, json_type_string))
                        continue;
                r = a->add(json_object_get_string(name), NULL, a->userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int strv_add(const char *name, const char *id, void *userdata) {
        return name ? strv_extend(userdata, name) : 0;
}

static void varlink_interface_freep(VarlinkInterface **interface) {
        varlink_interface_free(*interface);
}

/* Every method of every interface, from their descriptions: first the interfaces (copied: a reply lives
 * until the next call), then one GetInterfaceDescription each. */
static int list_methods(Varlink *link, const Adder *a) {
        _cleanup_strv_free_ char **interfaces = NULL;

        int r = list_interfaces(link, &(const Adder) { .add = strv_add, .userdata = &interfaces });
        if (r < 0)
                return r;
        for (char **i = interfaces; i && *i; i++) {
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();
                _cleanup_(varlink_interface_freep) VarlinkInterface *interface = NULL;
                json_object *reply = NULL;
                const char *error_id = NULL, *description;

                if (!p || json_add_string(p, "interface", *i) < 0)
                        return -ENOMEM;
                r = varlink_call(link, "org.varlink.service.GetInterfaceDescription", p, &reply, &error_id);
                if (r < 0)
                        return r;
                description = error_id ? NULL : ctl_field_string(reply, "description");
                if (!description || varlink_idl_parse(description, &interface, NULL) < 0)
                        continue; /* the others still complete */
                for (const VarlinkSymbol *const *s = interface->symbols; *s; s++) {
                        _cleanup_free_ char *method = NULL;

                        if ((*s)->kind != VARLINK_SYMBOL_METHOD)
                                continue;
                        if (asprintf(&method, "%s.%s", interface->name, (*s)->name) < 0)
                                return -ENOMEM;
                        r = a->add(method, NULL, a->userdata);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int list_from_manager(CtlCompleteKind kind, const char *address, CtlCompleteAddFn add,
                             void *add_userdata, void *userdata) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        const Adder a = { .add = add, .userdata = add_userdata };

        address = address ?: getenv("COCOON_ADDRESS") ?: COCOON_MANAGER_ADDRESS;
        int r = varlink_connect_address(&link, address);
        if (r < 0)
                return r;
        (void) varlink_set_relative_timeout(link, COMPLETE_TIMEOUT_USEC);
        switch (kind) {
        case CTL_COMPLETE_VM:
                return list_vms(link, &a);
        case CTL_COMPLETE_IMAGE:
                return list_images(link, &a);
        case CTL_COMPLETE_INTERFACE:
                return list_interfaces(link, &a);
        case CTL_COMPLETE_METHOD:
                return list_methods(link, &a);
        default:
                return 0;
        }
}

int ctl_complete_main(const CtlCompleteVerb *verbs, size_t n_verbs, const CtlOption *global_options,
                      size_t n_global_options, size_t n_global_options_after_verb, char *const *words,
                      size_t n_words) {
        const CtlCompleteTable t = {
                .verbs = verbs,
                .n_verbs = n_verbs,
                .global_options = global_options,
                .n_global_options = n_global_options,
                .n_global_options_after_verb = n_global_options_after_verb,
                .list = list_from_manager,
        };
        _cleanup_strv_free_ char **candidates = NULL;

        if (ctl_complete(&t, words, n_words, &candidates) < 0)
                return CTL_EXIT_FAILURE;
        for (char **c = candidates; c && *c; c++)
                puts(*c);
        return fflush(stdout) == 0 ? 0 : CTL_EXIT_FAILURE;
}
