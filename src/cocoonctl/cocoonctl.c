/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl: placeholder until the CLI lands. */
int main(void) {
        return 0;
}
