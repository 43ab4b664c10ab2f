/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The batch that the record harness's bodies borrow from. */

#pragma once

#include "sutra-item-private.h"

G_BEGIN_DECLS

/* The inputs of the record harness (and of its seeds, which fuzz-seeds
 * encodes against them): items with ids, paths, metadata, payloads and
 * lineages, so that every kind of borrowed field resolves.
 * Returns: (transfer full): a new array of new items. */
GPtrArray *fuzz_record_get_inputs (void);

G_END_DECLS
