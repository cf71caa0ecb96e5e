/* Multi-scalar multiplication for the Ed25519 checks (see ed25519_msm.c). */
#ifndef COINIUM_ED25519_MSM_H
#define COINIUM_ED25519_MSM_H

#include "ed25519_group.h"

enum { MSM_AUTO = 0, MSM_STRAUS = 1, MSM_PIPPENGER = 2 };

/* out = [b_scalar]B + sum [scalars[i]] pts[i]; scalars below 2^253. Returns 0, or -1 when
 * memory runs out. mode forces one algorithm (tests check both on the same inputs). */
int ge_msm(ge_p3 *out, const sc *b_scalar, const ge_p3 *pts, const sc *scalars, size_t n,
           int mode);

#endif
