/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.varlink.certification declared with our tables (for the certification peer programs and the IDL test).
 */
#pragma once

#include "varlink-idl.h"

extern const VarlinkInterface vl_interface_org_varlink_certification;
