/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraMemo: a map's outputs kept item by item in the store, keyed by
 * content, so that an item seen before (in any job sharing the store) is
 * not computed again. */

#pragma once

#include "sutra-item-private.h"
#include "sutra-store.h"

G_BEGIN_DECLS

/*
 * The batch checkpoints (sutra-checkpoint.h) name a batch by its inputs'
 * lineages and paths: cheap, and right for resuming a job, but the same
 * sentence in another book, or cut into other batches, is another key. A
 * stage whose items are expensive (a translation, a model call) caches by
 * content as well: each data item's key is
 *
 *   SHA-256 ("sutra-memo 1", the stage's fingerprint (plugin, version,
 *            ABI, resolved parameters, the plugin module's digest), the
 *            plugin's salt, the item's media type, its payload, and the
 *            metadata members the plugin reads (all of them when it does
 *            not say), in a canonical form)
 *
 * and its entry holds what the plugin made of it: "passed on unchanged",
 * or the output's media type, payload and the changes to the metadata
 * (members set and removed). A hit is rebuilt from the item at hand, so
 * its id, path and the metadata the plugin does not read are the new
 * item's: byte for byte what the plugin would have pushed, provided it is
 * the pure function its cache_content promises.
 *
 * Entries go to the job's store like batch records, so `--cache DIR`
 * shares them between jobs. Other processes' entries are seen once their
 * packs are sealed (the store's rule); this run's own at once.
 *
 * Thread-safe: workers look up and save concurrently.
 */

typedef struct _SutraMemo SutraMemo;

/* @store, borrowed, must outlive the memo. @fingerprint: the stage's
 * (the job's, with its module folded in). @salt (nullable): the plugin's
 * cache_salt. @meta_keys (nullable): the members the plugin reads; NULL
 * keys all of the metadata. Returns: (transfer full). */
SutraMemo *sutra_memo_new (SutraStore *store,
                           const guint8 fingerprint[SUTRA_DIGEST_SIZE],
                           const char *salt,
                           const char *const *meta_keys);
void sutra_memo_free (SutraMemo *memo);

/* @item's key. Reads the item without taking references (it may be
 * handed to other stages at the same time). */
void sutra_memo_key (SutraMemo *memo, const SutraItem *item, guint8 key[SUTRA_DIGEST_SIZE]);

/* Returns: (transfer full) (nullable): the output kept under @key, made
 * for @input (its id, path and metadata); NULL when there is none, or the
 * entry fails its checks (then it is computed again and saved anew). */
SutraItem *sutra_memo_lookup (SutraMemo *memo,
                              const guint8 key[SUTRA_DIGEST_SIZE],
                              SutraItem *input);

/* Keeps @output, what the plugin made of @input, under @key. */
gboolean sutra_memo_save (SutraMemo *memo,
                          const guint8 key[SUTRA_DIGEST_SIZE],
                          const SutraItem *input,
                          const SutraItem *output,
                          GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraMemo, sutra_memo_free)

G_END_DECLS
