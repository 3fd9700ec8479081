/* profile.c -- the analysis profiles: named presets of the observation time, the
 * exerciser's request budget and whether it fuzzes (docs/api.md, "Profiles").
 *
 * A job's explicit analysis_duration / enable_fuzzing override its profile's values; the
 * "custom" profile of the API is no preset and is not listed here.
 */
#include "common/setup.h"

#include "sandbox/sandbox.h"

static const struct vx_profile profiles[] = {
    {.name = "minimal", .duration_ms = 30000, .max_requests = 50, .fuzz = false},
    {.name = "standard", .duration_ms = 60000, .max_requests = 500, .fuzz = true},
    {.name = "comprehensive", .duration_ms = 300000, .max_requests = 5000, .fuzz = true},
};

const struct vx_profile *vx_profile_get(const char *name)
{
    size_t i;

    for (i = 0; name && i < VX_ARRAY_SIZE(profiles); i++)
        if (!strcmp(profiles[i].name, name))
            return &profiles[i];
    return NULL;
}
