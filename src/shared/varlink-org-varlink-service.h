/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The org.varlink.service interface every Varlink server provides (built into VarlinkServer). */
#pragma once

#include "varlink-idl.h"

extern const VarlinkInterface vl_interface_org_varlink_service;
