/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test helper: two unpacked trees compared entry by entry (cmocka assertions). */
#pragma once

/* Every entry of a has its twin in b and the other way round: type, mode, owner, size, mtime, content,
 * symlink target, device number, xattrs. Returns the number of entries (the roots included). */
unsigned tree_assert_equal(const char *a, const char *b);
