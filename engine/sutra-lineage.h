/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraLineage: a digest of what computed an item, shared by its siblings. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * An item's cache key is its lineage digest plus its position path. The
 * lineage digest hashes the source content and the fingerprint of every
 * stage the item went through, so all items of one source that went through
 * the same stages share one lineage: keys cost one hash per source and stage,
 * not one per item, and a changed parameter changes the lineage of
 * everything downstream of the stage, nothing upstream.
 */
typedef struct
{
  gint ref_count;
  gboolean pinned; /* set once, before the lineage is shared */
  guint8 digest[32];
} SutraLineage;

#define SUTRA_DIGEST_SIZE 32

SutraLineage *sutra_lineage_new (const guint8 digest[SUTRA_DIGEST_SIZE]);
SutraLineage *sutra_lineage_ref (SutraLineage *lineage);
void sutra_lineage_unref (SutraLineage *lineage);

/* Pinned lineages: a run's own (a source's, what each stage derives) are
 * shared by every item that passes, on every thread. Counting those
 * references made their counter's cache line bounce between cores for each
 * item; a pinned lineage is not counted (ref and unref leave it alone) and
 * belongs to whoever pinned it, who frees it with sutra_lineage_free_pinned()
 * once no item can hold it. */
void sutra_lineage_pin (SutraLineage *lineage);
void sutra_lineage_free_pinned (SutraLineage *lineage);

/* The lineage of what a stage with @fingerprint makes from @input. */
SutraLineage *sutra_lineage_derive (const SutraLineage *input,
                                    const guint8 fingerprint[SUTRA_DIGEST_SIZE]);

/* Hash and equality by digest, for hash tables keyed by lineage. */
guint sutra_lineage_hash (gconstpointer lineage);
gboolean sutra_lineage_equal (gconstpointer a, gconstpointer b);

/* Hash of a GBytes holding a digest, for hash tables keyed by digest (use
 * g_bytes_equal for equality). */
guint sutra_digest_bytes_hash (gconstpointer digest_bytes);

/* Lowercase hex of a digest, in @hex (65 bytes). */
void sutra_digest_to_hex (const guint8 digest[SUTRA_DIGEST_SIZE], char hex[65]);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraLineage, sutra_lineage_unref)

G_END_DECLS
