/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.varlink.service: its declaration and the GetInfo / GetInterfaceDescription handlers. */
#include <errno.h>

#include "varlink-internal.h"
#include "varlink-org-varlink-service.h"

static const VarlinkField get_info_out[] = {
        { .name = "vendor", .type = VARLINK_STRING },
        { .name = "product", .type = VARLINK_STRING },
        { .name = "version", .type = VARLINK_STRING },
        { .name = "url", .type = VARLINK_STRING },
        { .name = "interfaces", .type = VARLINK_STRING, .flags = VARLINK_ARRAY },
        {},
};

static const VarlinkSymbol method_get_info = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "GetInfo",
        .output = get_info_out,
        .doc = "Get a list of all the interfaces a service provides and information about the "
               "implementation.",
};

static const VarlinkField interface_field[] = {
        { .name = "interface", .type = VARLINK_STRING },
        {},
};

static const VarlinkField description_field[] = {
        { .name = "description", .type = VARLINK_STRING },
        {},
};

static const VarlinkSymbol method_get_interface_description = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "GetInterfaceDescription",
        .input = interface_field,
        .output = description_field,
        .doc = "Get the description of an interface that is implemented by this service.",
};

static const VarlinkSymbol error_interface_not_found = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "InterfaceNotFound",
        .input = interface_field,
        .doc = "The requested interface was not found.",
};

static const VarlinkField method_field[] = {
        { .name = "method", .type = VARLINK_STRING },
        {},
};

static const VarlinkSymbol error_method_not_found = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "MethodNotFound",
        .input = method_field,
        .doc = "The requested method was not found.",
};

static const VarlinkSymbol error_method_not_implemented = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "MethodNotImplemented",
        .input = method_field,
        .doc = "The interface defines the requested method, but the service does not implement it.",
};

static const VarlinkField parameter_field[] = {
        { .name = "parameter", .type = VARLINK_STRING },
        {},
};

static const VarlinkSymbol error_invalid_parameter = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "InvalidParameter",
        .input = parameter_field,
        .doc = "One of the passed parameters is invalid.",
};

static const VarlinkSymbol error_permission_denied = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "PermissionDenied",
        .doc = "Client is denied access.",
};

static const VarlinkSymbol error_expected_more = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "ExpectedMore",
        .doc = "Method is expected to be called with 'more' set to true, but wasn't.",
};

static const VarlinkSymbol *const symbols[] = {
        &method_get_info,
        &method_get_interface_description,
        &error_interface_not_found,
        &error_method_not_found,
        &error_method_not_implemented,
        &error_invalid_parameter,
        &error_permission_denied,
        &error_expected_more,
        NULL,
};

const VarlinkInterface vl_interface_org_varlink_service = {
        .name = "org.varlink.service",
        .symbols = symbols,
        .doc = "The Varlink Service Interface is provided by every varlink service. It\n"
               "describes the service and the interfaces it implements.",
};

int vl_method_get_info(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        VarlinkServer *s = varlink_get_server(link);
        _cleanup_(json_object_putp) json_object *reply = NULL;
        json_object *list;

        if (!s)
                return -ENOTCONN;
        reply = json_object_new_object();
        list = json_object_new_array();
        if (!reply || !list || json_object_object_add(reply, "interfaces", list) < 0) {
                json_object_put(list);
                return -ENOMEM;
        }
        if (json_object_object_add(reply, "vendor", json_object_new_string(s->vendor)) < 0 ||
            json_object_object_add(reply, "product", json_object_new_string(s->product)) < 0 ||
            json_object_object_add(reply, "version", json_object_new_string(s->version)) < 0 ||
            json_object_object_add(reply, "url", json_object_new_string(s->url)) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_interfaces; i++)
                if (json_object_array_add(list, json_object_new_string(s->interfaces[i]->name)) < 0)
                        return -ENOMEM;
        return varlink_reply(link, reply);
}

int vl_method_get_interface_description(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                                        void *userdata) {
        VarlinkServer *s = varlink_get_server(link);
        _cleanup_(json_object_putp) json_object *reply = NULL;
        _cleanup_free_ char *text = NULL;
        const VarlinkInterface *iface;
        json_object *v;
        const char *name;

        if (!s)
                return -ENOTCONN;
        (void) json_object_object_get_ex(parameters, "interface", &v);
        name = json_object_get_string(v);
        iface = varlink_server_find_interface(s, name);
        if (!iface) {
                _cleanup_(json_object_putp) json_object *e = json_object_new_object();

                if (!e || json_object_object_add(e, "interface", json_object_new_string(name)) < 0)
                        return -ENOMEM;
                return varlink_error(link, VARLINK_ERROR_INTERFACE_NOT_FOUND, e);
        }

        /* Generated from the same tables that validate calls: the description cannot drift. */
        text = varlink_idl_format(iface);
        reply = json_object_new_object();
        if (!text || !reply ||
            json_object_object_add(reply, "description", json_object_new_string(text)) < 0)
                return -ENOMEM;
        return varlink_reply(link, reply);
}
