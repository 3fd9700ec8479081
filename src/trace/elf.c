/* elf.c -- the ELF facts the tracer needs, read in user space from untrusted files:
 * PT_INTERP and DT_NEEDED (to label the loader and libraries of an executed program) and the
 * file offset of a function symbol (for uprobes, and to tell a symbol is not in a file).
 *
 * Files are read with pread(2) (never mmap: a file truncated under us would SIGBUS), every
 * offset and size is checked against the file size and capped, 32/64-bit and both byte
 * orders are handled. A function not in .symtab/.dynsym of a Go binary (stripped: -s) is
 * looked up in its .gopclntab (the runtime's function table, Go 1.2 and later layouts).
 */
#include "common/setup.h"

#include "trace/trace.h"

#include <byteswap.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_x*() */
#include "common/err.h"   /* vx_err_*() */

#define MAX_PHDRS     4096
#define MAX_SHDRS     65535
#define MAX_INTERP    4096
#define MAX_DYN_BYTES (4u << 20)
#define MAX_NEEDED    1024
#define MAX_STRTAB    (256u << 20)
#define MAX_SYMTAB    (512u << 20)

struct elf {
    int fd;
    const char *path;
    uint64_t size;
    bool is64, swap;
    uint16_t type;
    uint64_t phoff, shoff;
    uint16_t phnum, phentsize, shnum, shentsize, shstrndx;
};

struct phdr {
    uint32_t type;
    uint64_t offset, vaddr, filesz;
};

struct shdr {
    uint32_t name, type, link;
    uint64_t addr, offset, size, entsize;
};

static uint16_t g16(const struct elf *e, const void *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return e->swap ? bswap_16(v) : v;
}

static uint32_t g32(const struct elf *e, const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return e->swap ? bswap_32(v) : v;
}

static uint64_t g64(const struct elf *e, const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return e->swap ? bswap_64(v) : v;
}

/* Reads exactly len bytes at off, which must lie inside the file. */
static int read_at(const struct elf *e, uint64_t off, void *buf, size_t len, struct vx_err **err)
{
    size_t done = 0;

    if (off > e->size || len > e->size - off)
        return vx_err_set(err, VX_E_INVALID, 0, "'%s': truncated ELF (%zu bytes at %" PRIu64 ")",
                          e->path, len, off);
    while (done < len) {
        ssize_t n = pread(e->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return vx_err_set(err, VX_E_IO, n < 0 ? errno : 0, "read '%s': %s", e->path,
                              n < 0 ? strerror(errno) : "short read");
        done += (size_t)n;
    }
    return 0;
}

static int elf_open(struct elf *e, const char *path, struct vx_err **err)
{
    unsigned char id[64];
    struct stat st;
    int rc;

    memset(e, 0, sizeof(*e));
    e->path = path;
    e->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (e->fd < 0)
        return vx_err_set(err, errno == ENOENT ? VX_E_NOT_FOUND : VX_E_IO, errno, "open '%s': %s",
                          path, strerror(errno));
    if (fstat(e->fd, &st) < 0 || !S_ISREG(st.st_mode))
        return vx_err_set(err, VX_E_INVALID, 0, "'%s' is not a regular file", path);
    e->size = (uint64_t)st.st_size;
    if (e->size < EI_NIDENT || read_at(e, 0, id, EI_NIDENT, NULL) < 0 ||
        memcmp(id, ELFMAG, SELFMAG) != 0)
        return vx_err_set(err, VX_E_INVALID, 0, "'%s' is not an ELF file", path);
    if (id[EI_CLASS] != ELFCLASS32 && id[EI_CLASS] != ELFCLASS64)
        return vx_err_set(err, VX_E_INVALID, 0, "'%s': unknown ELF class %u", path, id[EI_CLASS]);
    if (id[EI_DATA] != ELFDATA2LSB && id[EI_DATA] != ELFDATA2MSB)
        return vx_err_set(err, VX_E_INVALID, 0, "'%s': unknown ELF byte order", path);
    e->is64 = id[EI_CLASS] == ELFCLASS64;
    e->swap = (id[EI_DATA] == ELFDATA2LSB) != (__BYTE_ORDER == __LITTLE_ENDIAN);
    if (e->is64) {
        Elf64_Ehdr h;
        rc = read_at(e, 0, &h, sizeof(h), err);
        if (rc < 0)
            return rc;
        e->type = g16(e, &h.e_type);
        e->phoff = g64(e, &h.e_phoff);
        e->shoff = g64(e, &h.e_shoff);
        e->phnum = g16(e, &h.e_phnum);
        e->phentsize = g16(e, &h.e_phentsize);
        e->shnum = g16(e, &h.e_shnum);
        e->shentsize = g16(e, &h.e_shentsize);
        e->shstrndx = g16(e, &h.e_shstrndx);
        if ((e->phnum && e->phentsize < sizeof(Elf64_Phdr)) ||
            (e->shnum && e->shentsize < sizeof(Elf64_Shdr)))
            return vx_err_set(err, VX_E_INVALID, 0, "'%s': bad ELF header sizes", path);
    } else {
        Elf32_Ehdr h;
        rc = read_at(e, 0, &h, sizeof(h), err);
        if (rc < 0)
            return rc;
        e->type = g16(e, &h.e_type);
        e->phoff = g32(e, &h.e_phoff);
        e->shoff = g32(e, &h.e_shoff);
        e->phnum = g16(e, &h.e_phnum);
        e->phentsize = g16(e, &h.e_phentsize);
        e->shnum = g16(e, &h.e_shnum);
        e->shentsize = g16(e, &h.e_shentsize);
        e->shstrndx = g16(e, &h.e_shstrndx);
        if ((e->phnum && e->phentsize < sizeof(Elf32_Phdr)) ||
            (e->shnum && e->shentsize < sizeof(Elf32_Shdr)))
            return vx_err_set(err, VX_E_INVALID, 0, "'%s': bad ELF header sizes", path);
    }
    if (e->phnum > MAX_PHDRS)
        return vx_err_set(err, VX_E_TOO_LARGE, 0, "'%s': %u program headers (cap %u)", path,
                          e->phnum, MAX_PHDRS);
    return 0;
}

static void elf_close(struct elf *e)
{
    if (e->fd >= 0)
        close(e->fd);
    e->fd = -1;
}

/* All program headers, normalised; caller frees *out. */
static int read_phdrs(const struct elf *e, struct phdr **out, struct vx_err **err)
{
    struct phdr *ph = vx_xcalloc(e->phnum ? e->phnum : 1, sizeof(*ph));

    for (uint16_t i = 0; i < e->phnum; i++) {
        uint64_t off = e->phoff + (uint64_t)i * e->phentsize;
        int rc;
        if (e->is64) {
            Elf64_Phdr p;
            rc = read_at(e, off, &p, sizeof(p), err);
            ph[i].type = g32(e, &p.p_type);
            ph[i].offset = g64(e, &p.p_offset);
            ph[i].vaddr = g64(e, &p.p_vaddr);
            ph[i].filesz = g64(e, &p.p_filesz);
        } else {
            Elf32_Phdr p;
            rc = read_at(e, off, &p, sizeof(p), err);
            ph[i].type = g32(e, &p.p_type);
            ph[i].offset = g32(e, &p.p_offset);
            ph[i].vaddr = g32(e, &p.p_vaddr);
            ph[i].filesz = g32(e, &p.p_filesz);
        }
        if (rc < 0) {
            free(ph);
            return rc;
        }
    }
    *out = ph;
    return 0;
}

/* File offset of a virtual address, through the PT_LOAD segments; false if unmapped. */
static bool vaddr_to_off(const struct phdr *ph, size_t n, uint64_t va, uint64_t *off)
{
    for (size_t i = 0; i < n; i++) {
        if (ph[i].type != PT_LOAD)
            continue;
        if (va >= ph[i].vaddr && va - ph[i].vaddr < ph[i].filesz) {
            *off = ph[i].offset + (va - ph[i].vaddr);
            return true;
        }
    }
    return false;
}

/* Reads a NUL-terminated string of at most max bytes at off (bounded by limit). */
static char *read_str(const struct elf *e, uint64_t off, uint64_t limit, size_t max)
{
    size_t len;
    char *s;

    if (off >= e->size || off >= limit)
        return NULL;
    len = (size_t)((limit - off) < max ? (limit - off) : max);
    if (len > e->size - off)
        len = (size_t)(e->size - off);
    s = vx_xmalloc(len + 1);
    if (read_at(e, off, s, len, NULL) < 0) {
        free(s);
        return NULL;
    }
    s[len] = '\0';
    if (strlen(s) == len && len == max) { /* not terminated within the cap */
        free(s);
        return NULL;
    }
    return s;
}

int vx_elf_deps(const char *path, char **interp, char ***needed, size_t *n_needed,
                struct vx_err **err)
{
    struct elf e = {.fd = -1};
    struct phdr *ph = NULL;
    unsigned char *dyn = NULL;
    char *ip = NULL, **nd = NULL;
    size_t n_nd = 0;
    int rc;

    rc = elf_open(&e, path, err);
    if (rc < 0)
        goto out;
    rc = read_phdrs(&e, &ph, err);
    if (rc < 0)
        goto out;
    for (uint16_t i = 0; i < e.phnum; i++) {
        if (ph[i].type != PT_INTERP || ip)
            continue;
        if (ph[i].filesz == 0 || ph[i].filesz > MAX_INTERP) {
            rc = vx_err_set(err, VX_E_INVALID, 0, "'%s': bad PT_INTERP size", path);
            goto out;
        }
        ip = read_str(&e, ph[i].offset, ph[i].offset + ph[i].filesz, MAX_INTERP);
        if (!ip || !*ip) {
            rc = vx_err_set(err, VX_E_INVALID, 0, "'%s': unreadable PT_INTERP", path);
            goto out;
        }
    }
    for (uint16_t i = 0; i < e.phnum; i++) {
        uint64_t strtab = 0, strsz = 0, stroff, entsz = e.is64 ? 16 : 8;
        bool have_strtab = false;
        size_t len, n_ent;
        if (ph[i].type != PT_DYNAMIC)
            continue;
        len = (size_t)(ph[i].filesz < MAX_DYN_BYTES ? ph[i].filesz : MAX_DYN_BYTES);
        dyn = vx_xmalloc(len ? len : 1);
        rc = read_at(&e, ph[i].offset, dyn, len, err);
        if (rc < 0)
            goto out;
        n_ent = len / entsz;
        for (size_t k = 0; k < n_ent; k++) {
            int64_t tag = e.is64 ? (int64_t)g64(&e, dyn + k * 16) : (int32_t)g32(&e, dyn + k * 8);
            uint64_t val = e.is64 ? g64(&e, dyn + k * 16 + 8) : g32(&e, dyn + k * 8 + 4);
            if (tag == DT_NULL)
                break;
            if (tag == DT_STRTAB) {
                strtab = val;
                have_strtab = true;
            } else if (tag == DT_STRSZ) {
                strsz = val;
            }
        }
        if (!have_strtab || !vaddr_to_off(ph, e.phnum, strtab, &stroff)) {
            /* A prelinked or odd file: DT_STRTAB may already be a file offset. */
            if (!have_strtab || strtab >= e.size)
                break;
            stroff = strtab;
        }
        if (!strsz || strsz > e.size - stroff)
            strsz = e.size - stroff;
        for (size_t k = 0; k < n_ent && n_nd < MAX_NEEDED; k++) {
            int64_t tag = e.is64 ? (int64_t)g64(&e, dyn + k * 16) : (int32_t)g32(&e, dyn + k * 8);
            uint64_t val = e.is64 ? g64(&e, dyn + k * 16 + 8) : g32(&e, dyn + k * 8 + 4);
            if (tag == DT_NULL)
                break;
            if (tag != DT_NEEDED || val >= strsz)
                continue;
            char *name = read_str(&e, stroff + val, stroff + strsz, 4096);
            if (!name || !*name) {
                free(name);
                continue;
            }
            nd = vx_xrealloc(nd, (n_nd + 1) * sizeof(*nd));
            nd[n_nd++] = name;
        }
        break;
    }
    *interp = ip;
    ip = NULL;
    *needed = nd;
    *n_needed = n_nd;
    nd = NULL;
    n_nd = 0;
    rc = 0;
out:
    for (size_t k = 0; k < n_nd; k++)
        free(nd[k]);
    free(nd);
    free(ip);
    free(dyn);
    free(ph);
    elf_close(&e);
    return rc;
}

static int read_shdrs(const struct elf *e, struct shdr **out, struct vx_err **err)
{
    struct shdr *sh;

    if (e->shnum == 0 || e->shoff == 0) {
        *out = NULL;
        return 0;
    }
    sh = vx_xcalloc(e->shnum, sizeof(*sh));
    for (uint16_t i = 0; i < e->shnum; i++) {
        uint64_t off = e->shoff + (uint64_t)i * e->shentsize;
        int rc;
        if (e->is64) {
            Elf64_Shdr s;
            rc = read_at(e, off, &s, sizeof(s), err);
            sh[i].name = g32(e, &s.sh_name);
            sh[i].type = g32(e, &s.sh_type);
            sh[i].link = g32(e, &s.sh_link);
            sh[i].addr = g64(e, &s.sh_addr);
            sh[i].offset = g64(e, &s.sh_offset);
            sh[i].size = g64(e, &s.sh_size);
            sh[i].entsize = g64(e, &s.sh_entsize);
        } else {
            Elf32_Shdr s;
            rc = read_at(e, off, &s, sizeof(s), err);
            sh[i].name = g32(e, &s.sh_name);
            sh[i].type = g32(e, &s.sh_type);
            sh[i].link = g32(e, &s.sh_link);
            sh[i].addr = g32(e, &s.sh_addr);
            sh[i].offset = g32(e, &s.sh_offset);
            sh[i].size = g32(e, &s.sh_size);
            sh[i].entsize = g32(e, &s.sh_entsize);
        }
        if (rc < 0) {
            free(sh);
            return rc;
        }
    }
    *out = sh;
    return 0;
}

/* Looks symbol up in one symbol table section; 1 found (value/shndx set), 0 not, <0 error. */
static int find_in_symtab(const struct elf *e, const struct shdr *sh, size_t nsh, size_t idx,
                          const char *symbol, uint64_t *value, uint16_t *shndx, struct vx_err **err)
{
    const struct shdr *st = &sh[idx];
    size_t esz = e->is64 ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym), want = strlen(symbol);
    unsigned char *syms = NULL;
    char *strs = NULL;
    int rc = 0;

    if (st->link >= nsh || st->size > MAX_SYMTAB || sh[st->link].size > MAX_STRTAB)
        return vx_err_set(err, VX_E_INVALID, 0, "'%s': bad symbol table header", e->path);
    syms = vx_xmalloc(st->size ? st->size : 1);
    strs = vx_xmalloc(sh[st->link].size + 1);
    rc = read_at(e, st->offset, syms, st->size, err);
    if (rc == 0)
        rc = read_at(e, sh[st->link].offset, strs, sh[st->link].size, err);
    if (rc < 0)
        goto out;
    strs[sh[st->link].size] = '\0';
    for (size_t k = 0; k + esz <= st->size; k += esz) {
        uint32_t name;
        unsigned char info;
        uint16_t ndx;
        uint64_t val;
        if (e->is64) {
            const Elf64_Sym *s = (const void *)(syms + k);
            name = g32(e, &s->st_name);
            info = s->st_info;
            ndx = g16(e, &s->st_shndx);
            val = g64(e, &s->st_value);
        } else {
            const Elf32_Sym *s = (const void *)(syms + k);
            name = g32(e, &s->st_name);
            info = s->st_info;
            ndx = g16(e, &s->st_shndx);
            val = g32(e, &s->st_value);
        }
        if (name >= sh[st->link].size || ndx == SHN_UNDEF)
            continue;
        if (ELF64_ST_TYPE(info) != STT_FUNC && ELF64_ST_TYPE(info) != STT_GNU_IFUNC)
            continue;
        /* .dynsym names may carry a version ("inflate@@ZLIB_1.2.0" in some tables) */
        const char *n = strs + name;
        if (strncmp(n, symbol, want) == 0 && (n[want] == '\0' || n[want] == '@')) {
            *value = val;
            *shndx = ndx;
            rc = 1;
            goto out;
        }
    }
out:
    free(syms);
    free(strs);
    return rc;
}

/* ---- Go pclntab ---------------------------------------------------------------------------
 * A Go binary stripped of .symtab (-ldflags=-s) still has the runtime's function table,
 * .gopclntab: a header, a sorted functab of (entry, funcoff) pairs and per function a _func
 * record whose nameoff points at its name. Layouts by magic:
 *   0xfffffffb (Go 1.2-1.15): nfunc at 8; functab at 8+ptr of (entry ptr, funcoff ptr); names
 *                             relative to the table; _func = {entry ptr, nameoff i32}
 *   0xfffffffa (1.16-1.17):   nfunc, nfiles, funcnameoff, cuoff, filetaboff, pctaboff, pclnoff
 *                             (ptr each, from 8); functab at pclnoff as above; names at
 *                             funcnameoff
 *   0xfffffff0/1 (1.18+):     nfunc, nfiles, textStart, funcnameoff, cu, filetab, pctab,
 *                             pclnoff; functab of (entryoff u32, funcoff u32), entry =
 *                             textStart + entryoff; _func = {entryoff u32, nameoff i32}
 * Every offset is checked against the section; the entry vaddr goes through PT_LOAD. */
#define GO_MAX_FUNCS (4u << 20)

static uint64_t gptr(const struct elf *e, const unsigned char *p, unsigned ptrsize)
{
    return ptrsize == 8 ? g64(e, p) : g32(e, p);
}

/* 1 found (*vaddr set), 0 not in the table, -code for a table that cannot be read. */
static int find_in_pclntab(const struct elf *e, const struct shdr *sec, const struct shdr *text,
                           const char *symbol, uint64_t *vaddr, struct vx_err **err)
{
    unsigned char *t = NULL;
    uint64_t size = sec->size, nfunc, names = 0, pcln, text_start = 0;
    size_t symlen = strlen(symbol);
    unsigned ptr;
    uint32_t magic;
    int rc = 0, ver;

    if (size < 16 || size > MAX_SYMTAB)
        return vx_err_set(err, VX_E_INVALID, 0, "'%s': bad .gopclntab size", e->path);
    t = vx_xmalloc(size);
    rc = read_at(e, sec->offset, t, size, err);
    if (rc < 0)
        goto out;
    magic = g32(e, t);
    ptr = t[7];
    if (magic == 0xfffffffbu)
        ver = 12;
    else if (magic == 0xfffffffau)
        ver = 116;
    else if (magic == 0xfffffff0u || magic == 0xfffffff1u)
        ver = 118;
    else
        ver = 0;
    if (!ver || (ptr != 4 && ptr != 8) || t[4] || t[5]) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "'%s': unknown .gopclntab header (magic %#x)",
                        e->path, magic);
        goto out;
    }
    if (size < 8 + 8 * (uint64_t)ptr) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "'%s': truncated .gopclntab", e->path);
        goto out;
    }
    nfunc = gptr(e, t + 8, ptr);
    if (ver == 12) {
        pcln = 0;
        names = 0;
    } else if (ver == 116) {
        names = gptr(e, t + 8 + 2 * ptr, ptr);
        pcln = gptr(e, t + 8 + 6 * ptr, ptr);
    } else {
        text_start = gptr(e, t + 8 + 2 * ptr, ptr);
        names = gptr(e, t + 8 + 3 * ptr, ptr);
        pcln = gptr(e, t + 8 + 7 * ptr, ptr);
        if (!text_start && text) /* not filled in (relocated at run time): .text's address */
            text_start = text->addr;
    }
    uint64_t ftab = ver == 12 ? 8 + ptr : pcln;
    uint64_t pair = ver == 118 ? 8 : 2 * (uint64_t)ptr;
    if (nfunc > GO_MAX_FUNCS || names >= size || ftab >= size || nfunc * pair > size - ftab) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "'%s': .gopclntab offsets out of range", e->path);
        goto out;
    }
    for (uint64_t i = 0; i < nfunc; i++) {
        const unsigned char *f = t + ftab + i * pair;
        uint64_t funcoff = ver == 118 ? g32(e, f + 4) : gptr(e, f + ptr, ptr);
        uint64_t rec = pcln + funcoff, entry_sz = ver == 118 ? 4 : ptr;
        if (funcoff >= size || rec > size - entry_sz - 4)
            continue; /* a bad record: skip it, not the table */
        int32_t nameoff = (int32_t)g32(e, t + rec + entry_sz);
        if (nameoff < 0 || (uint64_t)nameoff >= size - names)
            continue;
        const char *name = (const char *)t + names + (uint64_t)nameoff;
        uint64_t room = size - names - (uint64_t)nameoff;
        if (room <= symlen || memcmp(name, symbol, symlen) || name[symlen] != '\0')
            continue;
        *vaddr = ver == 118 ? text_start + g32(e, f) : gptr(e, f, ptr);
        rc = 1;
        goto out;
    }
    rc = 0;
out:
    free(t);
    return rc;
}

int vx_elf_symbol_offset(const char *path, const char *symbol, uint64_t *offset,
                         struct vx_err **err)
{
    struct elf e = {.fd = -1};
    struct phdr *ph = NULL;
    struct shdr *sh = NULL;
    char *shstr = NULL;
    int go_sec = -1, text_sec = -1;
    int rc;

    if (!symbol || !*symbol)
        return vx_err_set(err, VX_E_INVALID, 0, "empty symbol name");
    rc = elf_open(&e, path, err);
    if (rc < 0)
        goto out;
    rc = read_phdrs(&e, &ph, err);
    if (rc == 0)
        rc = read_shdrs(&e, &sh, err);
    if (rc < 0)
        goto out;
    if (sh && e.shstrndx < e.shnum && sh[e.shstrndx].size <= MAX_STRTAB) {
        shstr = vx_xmalloc(sh[e.shstrndx].size + 1);
        if (read_at(&e, sh[e.shstrndx].offset, shstr, sh[e.shstrndx].size, NULL) == 0) {
            shstr[sh[e.shstrndx].size] = '\0';
            for (uint16_t i = 0; i < e.shnum; i++)
                if (sh[i].name < sh[e.shstrndx].size) {
                    const char *n = shstr + sh[i].name;
                    if (!strcmp(n, ".gopclntab"))
                        go_sec = i;
                    if (!strcmp(n, ".text"))
                        text_sec = i;
                }
        }
    }
    for (uint32_t want_type = SHT_SYMTAB; sh; want_type = SHT_DYNSYM) {
        for (uint16_t i = 0; i < e.shnum; i++) {
            uint64_t value = 0;
            uint16_t shndx = 0;
            if (sh[i].type != want_type)
                continue;
            rc = find_in_symtab(&e, sh, e.shnum, i, symbol, &value, &shndx, err);
            if (rc < 0)
                goto out;
            if (rc == 0)
                continue;
            /* st_value is a virtual address (ET_EXEC/ET_DYN): the file offset comes from the
             * PT_LOAD that maps it, else from the symbol's section. */
            if (vaddr_to_off(ph, e.phnum, value, offset)) {
                rc = 0;
                goto out;
            }
            if (shndx < e.shnum && value >= sh[shndx].addr &&
                value - sh[shndx].addr < sh[shndx].size) {
                *offset = sh[shndx].offset + (value - sh[shndx].addr);
                rc = 0;
                goto out;
            }
            rc = vx_err_set(err, VX_E_INVALID, 0, "'%s': symbol '%s' is not in a loaded segment",
                            path, symbol);
            goto out;
        }
        if (want_type == SHT_DYNSYM)
            break;
    }
    /* A Go binary without the symbol in .symtab (stripped): the runtime's own table. */
    if (go_sec >= 0) {
        uint64_t va = 0;
        rc = find_in_pclntab(&e, &sh[go_sec], text_sec >= 0 ? &sh[text_sec] : NULL, symbol, &va,
                             err);
        if (rc < 0)
            goto out;
        if (rc == 1) {
            if (vaddr_to_off(ph, e.phnum, va, offset)) {
                rc = 0;
                goto out;
            }
            rc = vx_err_set(err, VX_E_INVALID, 0,
                            "'%s': Go function '%s' is not in a loaded segment", path, symbol);
            goto out;
        }
    }
    rc = vx_err_set(err, VX_E_NOT_FOUND, 0, "symbol '%s' is not in '%s' (.symtab/.dynsym%s)",
                    symbol, path, go_sec >= 0 ? "/.gopclntab" : "");
out:
    free(shstr);
    free(sh);
    free(ph);
    elf_close(&e);
    return rc;
}
