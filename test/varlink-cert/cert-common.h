/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Values of the Varlink certification sequence, shared by our certification server and client. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#define CERT_PI 3.141592653589793
#define CERT_STRING "a lot of string"
#define CERT_REPLIES 10

/* The MyType value Test09 returns and Test10 expects back. */
json_object *cert_mytype_new(void);
/* JSON equality where a missing key equals null and 1 equals 1.0 (peers differ in both). */
bool cert_json_equal(json_object *a, json_object *b);
/* Builds an object from key/value pairs: cert_object(2, "k", json_object_new_int(1), "s", …). Takes the
 * values. */
json_object *cert_object(unsigned n, ...);
