/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoon-manager: placeholder until the manager lands. */
int main(void) {
        return 0;
}
