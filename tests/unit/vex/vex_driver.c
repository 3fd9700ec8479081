/* vex_driver.c -- writes the sample statements as OpenVEX, CycloneDX and CSAF into a
 * directory, for the schema test (tests/integration/test_vex_schemas.py). */
#include "common/setup.h"

#include "vex/vex.h"
#include "vex_sample.h"

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "we");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char *ov, *cdx, *csaf;
    int rc = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: vex_driver DIR\n");
        return 2;
    }
    ov = vx_vex_openvex(&sample_doc);
    cdx = vx_vex_cyclonedx(&sample_doc, "3b8a3e4c-5a0f-4f39-9a57-0b6f0c1e2d3f");
    csaf = vx_vex_csaf(&sample_doc);
    rc |= write_file(argv[1], "openvex.json", ov);
    rc |= write_file(argv[1], "cyclonedx.json", cdx);
    rc |= write_file(argv[1], "csaf.json", csaf);
    free(ov);
    free(cdx);
    free(csaf);
    return rc ? 1 : 0;
}
