/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "id.h"
#include "record-dispatch.h"
#include "time-util.h"

int record_dispatch_id(const char *name, json_object *v, void *p) {
        const char *s = json_object_get_string(v);

        if (!id_is_valid(s))
                return -EINVAL;
        memcpy(p, s, ID_LENGTH + 1);
        return 0;
}

int record_dispatch_timestamp(const char *name, json_object *v, void *p) {
        return timestamp_parse_rfc3339(json_object_get_string(v), p);
}
