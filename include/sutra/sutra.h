/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one header a sutra plugin includes. */

#pragma once

#define SUTRA_INSIDE

#include <sutra/sutra-version.h>
#include <sutra/sutra-item.h>
#include <sutra/sutra-json.h>
#include <sutra/sutra-output.h>
#include <sutra/sutra-plugin.h>

#undef SUTRA_INSIDE
