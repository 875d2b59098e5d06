/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl call / introspect: raw Varlink access to the manager, like varlinkctl. */
#include <stdio.h>
#include <string.h>

#include "ctl-util.h"
#include "ctl-verbs.h"
#include "json-util.h"
#include "log.h"

static int parse_parameters(const char *text, json_object **ret) {
        if (!text) {
                *ret = NULL;
                return 0;
        }
        enum json_tokener_error e;
        json_object *o = json_tokener_parse_verbose(text, &e);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return ctl_log_errno(EINVAL, "parameters must be a JSON object: %s",
                                     o ? "not an object" : json_tokener_error_desc(e));
        }
        *ret = o;
        return 0;
}

static int call_more(Varlink *link, const char *method, json_object *parameters) {
        int r = varlink_observe(link, method, parameters);
        if (r < 0)
                return ctl_log_errno(r, "calling %s failed: %m", method);
        for (;;) {
                json_object *reply = NULL;
                const char *error_id = NULL;
                bool continues = false;
                r = varlink_observe_next(link, &reply, &error_id, &continues);
                if (r < 0)
                        return ctl_log_errno(r, "reading replies of %s failed: %m", method);
                if (error_id)
                        return ctl_report_error(error_id, reply);
                ctl_print_json(reply);
                fflush(stdout);
                if (!continues)
                        return 0;
        }
}

int verb_call(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        json_object *parameters = NULL;
        const char *method = argv[0];

        if (!strchr(method, '.'))
                return ctl_log_errno(EINVAL, "method must be fully qualified (interface.Method): %s",
                                     method);
        int r = parse_parameters(argc > 1 ? argv[1] : NULL, &parameters);
        if (r < 0)
                return r;
        _cleanup_(json_object_putp) json_object *owned = parameters;

        r = ctl_connect(&link);
        if (r < 0)
                return r;
        if (arg_oneway) {
                r = varlink_send_oneway(link, method, parameters);
                if (r < 0)
                        return ctl_log_errno(r, "calling %s failed: %m", method);
                return 0;
        }
        if (arg_more)
                return call_more(link, method, parameters);

        json_object *reply = NULL;
        r = ctl_call(link, method, parameters, &reply);
        if (r < 0)
                return r;
        ctl_print_json(reply);
        return 0;
}

int verb_introspect(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *parameters = json_object_new_object();
        json_object *reply = NULL, *description;

        json_object_object_add(parameters, "interface", json_object_new_string(argv[0]));
        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        r = ctl_call(link, "org.varlink.service.GetInterfaceDescription", parameters, &reply);
        if (r < 0)
                return r;
        if (arg_json) {
                ctl_print_json(reply);
                return 0;
        }
        if (!json_object_object_get_ex(reply, "description", &description))
                return ctl_log_errno(EBADMSG, "reply has no description");
        fputs(json_object_get_string(description), stdout);
        return 0;
}
