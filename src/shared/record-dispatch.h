/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JsonDispatch callbacks the record loaders (VM, image, snapshot) share: the fields every record has. */
#pragma once

#include <json-c/json.h>

/* A string that id_is_valid() accepts, copied into a char[ID_LENGTH + 1]; -EINVAL otherwise. */
int record_dispatch_id(const char *name, json_object *v, void *p);

/* An RFC 3339 time into a uint64_t of µs since the epoch (timestamp_parse_rfc3339()). */
int record_dispatch_timestamp(const char *name, json_object *v, void *p);
