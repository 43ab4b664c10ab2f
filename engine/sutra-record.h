/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraRecord: a batch's outputs as bytes, for the store, and back. */

#pragma once

#include "sutra-item-private.h"

G_BEGIN_DECLS

/* Encodes @items (data items and markers, with their lineages) as one
 * record body. The format is private to the store and versioned by the
 * store's own header. */
GBytes *sutra_record_encode (GPtrArray *items);

/* Decodes a body made by sutra_record_encode(). Returns: (transfer full):
 * the items, or NULL with @error set when the body is malformed. */
GPtrArray *sutra_record_decode (GBytes *body, GError **error);

G_END_DECLS
