/* fuzz_go_elf.c -- libFuzzer target for vx_inv_parse_go_elf(): the ELF header and section
 * table walk, the .go.buildinfo header, the varint-prefixed strings and the module info
 * lines of Go binaries (untrusted bytes from the image).
 *
 * Checks: the parser never fails (a malformed binary is skipped, with a warning at most),
 * and every package it adds is a golang package with a name and a version owning exactly
 * the binary it was given.
 */
#include "common/setup.h"

#include "common/err.h"
#include "inventory/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vx_inventory *inv = vx_inventory_new();
    struct vx_err *err = NULL;

    vx_inventory_limit(inv, 1000000);
    if (vx_inv_parse_go_elf(inv, "/usr/bin/fuzz", data, size, &err) != 0 || err)
        __builtin_trap();
    for (size_t i = 0; i < inv->n_pkgs; i++) {
        const struct vx_pkg *p = &inv->pkgs[i];

        if (p->type != VX_PKG_GOLANG || !p->name[0] || !p->version[0] || p->n_files != 1 ||
            strcmp(p->files[0], "/usr/bin/fuzz") != 0)
            __builtin_trap();
    }
    vx_inventory_free(inv);
    return 0;
}
