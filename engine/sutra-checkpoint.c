/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checkpoints: the job's plan, lineages and batch keys, outputs to and from
 * the store, sink progress, and the journal's committer. */

/*
 * A batch's outputs are keyed by the stage's fingerprint and the lineage and
 * path of every input; the store holds them and the journal records them,
 * committed in the background after the store is synced. Before a run, the
 * stages whose outputs are complete and whose inputs did not change are
 * found and left out. docs/resume.md tells the whole story; docs/design.md
 * ("Checkpointing") says who calls whom.
 */

#include "sutra-checkpoint.h"

#include "sutra-autocleanups.h"
#include "sutra-record.h"

#include <openssl/evp.h>
#include <string.h>

/* A sink syncs at most every half second, and never more often than twenty
 * times its last sync took: however large its output, syncing costs about
 * 5 % of its time, and a kill loses at most a few seconds of its work. */
#define SINK_SYNC_INTERVAL_US (500 * 1000)
#define SINK_SYNC_COST_FACTOR 20

/* Commits come at most every 200 ms, and never more often than twenty times
 * the last one took (its fsyncs included): committing costs about 5 % of
 * the time whatever the disk, and a kill loses at most a few commits' worth. */
#define COMMIT_INTERVAL_US (200 * 1000)
#define COMMIT_COST_FACTOR 20
#define PROGRESS_INTERVAL_US (2 * 1000 * 1000)

struct _SutraCheckpointStage
{
  SutraCheckpoint *checkpoint;
  SutraStageSpec *spec;
  guint index;
  const guint8 *fingerprint; /* the job's, with the plugin module folded in */

  /* The plan, fixed once sutra_checkpoint_new() returns (but for a sink
   * that cannot resume after all). */
  gboolean stores;              /* outputs go to the store */
  gboolean skipped;             /* up to date: not run at all */
  SutraLineage *source_lineage; /* sources: what their items descend from (pinned) */
  char complete_key[65];        /* fingerprint + inputs' complete keys */
  gboolean shard_stage;         /* shards divide its batches (sutra-shard.h) */

  GMutex lineage_lock;
  GHashTable *lineages; /* input SutraLineage -> output SutraLineage (pinned), by digest */

  /* Sinks, under sink_lock. */
  GMutex sink_lock;
  GHashTable *sink_done; /* keys of batches written earlier (it resumes) */
  GPtrArray *sink_keys;  /* keys written since the last checkpoint */
  char *resume_state;
  gint64 last_sync_us;
  gint64 last_sync_cost_us; /* how long the sink's last sync took */
  char *uncommitted_state;  /* recorded, not yet given to sync_commit */
  guint64 uncommitted_gen;  /* the commit that makes it durable */

  gboolean final_state_recorded; /* under the checkpoint's progress_lock */
};

/* Lock order: a stage's lineage_lock, then pinned_lock; a stage's
 * sink_lock (sync_prepare and sync_commit are called under it), then
 * gen_lock, then the journal's own locks; progress_lock, then the
 * journal's. commit_lock is a leaf: the committer lets go of it before it
 * commits. */
struct _SutraCheckpoint
{
  SutraPipeline *pipeline;
  SutraJob *job;
  SutraCheckpointCallbacks callbacks;
  gpointer user_data;
  GPtrArray *stages;   /* SutraCheckpointStage, pipeline order */
  GHashTable *batches; /* committed batches: key -> SutraJournalBatch */
  gint n_corrupt;      /* store entries that failed their checks */
  char shard_key[65];  /* the shard stages' complete keys, hashed ("" unsharded) */

  GMutex pinned_lock;
  GPtrArray *pinned_lineages; /* the run's own lineages, freed last */

  /* The committer. */
  GThread *committer;
  GMutex commit_lock;
  GCond commit_wake;
  gboolean commit_stop;
  gint64 started_us;
  gint64 progress_recorded_us;
  /* Orders a stage's progress rows before its final one in the journal. */
  GMutex progress_lock;
  /* Commits started and done, counted: a write added while
   * gen_started == g is durable once gen_done >= g + 1. */
  GMutex gen_lock;
  guint64 gen_started;
  guint64 gen_done;
};

static JsonObject *
stage_event (SutraCheckpointStage *stage, const char *name)
{
  JsonObject *event = json_object_new ();

  json_object_set_string_member (event, "event", name);
  json_object_set_string_member (event, "stage", stage->spec->name);
  return event;
}

static void
emit (SutraCheckpoint *checkpoint, JsonObject *event)
{
  if (checkpoint->callbacks.event != NULL)
    checkpoint->callbacks.event (event, checkpoint->user_data);
  else
    json_object_unref (event);
}

static gboolean
stage_kind_is (SutraCheckpointStage *stage, SutraStageKind kind)
{
  return stage->spec->info->kind == kind;
}

/* Lineage ------------------------------------------------------------------ */

/* Pins @lineage (transfer full) for the rest of the run: the checkpoint
 * owns it from now on. Returns: (transfer none): @lineage. */
static SutraLineage *
pin_lineage (SutraCheckpoint *checkpoint, SutraLineage *lineage)
{
  sutra_lineage_pin (lineage);
  g_mutex_lock (&checkpoint->pinned_lock);
  g_ptr_array_add (checkpoint->pinned_lineages, lineage);
  g_mutex_unlock (&checkpoint->pinned_lock);
  return lineage;
}

SutraLineage *
sutra_checkpoint_derive_lineage (SutraCheckpointStage *stage,
                                 SutraLineage *input,
                                 SutraCheckpointMemo *memo)
{
  SutraLineage *output;

  if (input == NULL || stage == NULL)
    return NULL;
  if (memo != NULL && memo->input == input)
    return memo->output;
  g_mutex_lock (&stage->lineage_lock);
  output = g_hash_table_lookup (stage->lineages, input);
  if (output == NULL)
    {
      output = pin_lineage (stage->checkpoint, sutra_lineage_derive (input, stage->fingerprint));
      g_hash_table_insert (stage->lineages, sutra_lineage_ref (input), output);
    }
  g_mutex_unlock (&stage->lineage_lock);
  if (memo != NULL)
    {
      memo->input = input;
      memo->output = output;
    }
  return output;
}

/* An input passed on unchanged (the map returned the item itself) keeps its
 * lineage. Items are immutable once pushed, so its content is its input's,
 * and a lineage names what made the content: the keys downstream stay right
 * (they also hold every item's path, so a stage that passes on other items
 * changes them). Leaving it alone also leaves the item's memory alone:
 * writing the lineage into each passed item made the next stage's thread
 * fetch every item from this thread's cache, which cost a pass-through
 * pipeline more than everything else checkpointing does. */
SutraItem *
sutra_checkpoint_take_lineage (SutraCheckpointStage *stage,
                               SutraItem *output,
                               SutraItem *input,
                               SutraCheckpointMemo *memo)
{
  SutraLineage *lineage;

  if (output == input || stage == NULL)
    return output;
  lineage = sutra_checkpoint_derive_lineage (stage, input->lineage, memo);
  if (lineage != NULL && output->lineage != lineage)
    sutra_item_set_lineage (output, lineage);
  return output;
}

/* Folds @member's lineage into a gather's output lineage: runs of equal
 * lineages, each a digest and how many members in a row. Only the first
 * run is kept until a second appears; the digest of the runs is begun then.
 * Lineages compare by digest, never by address: a member's lineage may be
 * freed with it, and another take its address. */
void
sutra_checkpoint_group_lineage_add (SutraGroupLineage *fold, const SutraItem *member)
{
  const SutraLineage *lineage = member->lineage;
  guint64 le_count;

  if (fold->keyless)
    return;
  if (lineage == NULL)
    {
      fold->keyless = TRUE;
      return;
    }
  if (fold->first == NULL)
    {
      fold->first = sutra_lineage_ref ((SutraLineage *) lineage);
      memcpy (fold->previous, lineage->digest, SUTRA_DIGEST_SIZE);
      fold->count = 1;
      return;
    }
  if (memcmp (lineage->digest, fold->previous, SUTRA_DIGEST_SIZE) == 0)
    {
      fold->count++;
      return;
    }
  if (fold->context == NULL)
    {
      fold->context = EVP_MD_CTX_new ();
      EVP_DigestInit_ex (fold->context, EVP_sha256 (), NULL);
      EVP_DigestUpdate (fold->context, "group", 5);
    }
  fold->mixed = TRUE;
  le_count = GUINT64_TO_LE (fold->count);
  EVP_DigestUpdate (fold->context, fold->previous, SUTRA_DIGEST_SIZE);
  EVP_DigestUpdate (fold->context, &le_count, sizeof le_count);
  memcpy (fold->previous, lineage->digest, SUTRA_DIGEST_SIZE);
  fold->count = 1;
}

/* Gives a gather's @output (owned by the caller) the lineage that derives
 * from its group's members, folded into @fold. They usually share one
 * lineage, and the output derives from it. When a map upstream changed some
 * members and passed others on, their lineages differ, and the output
 * derives from all of them, in order: from the first alone, groups of
 * different content would get one key. (Not kept in the stage's table: such
 * combinations can be as many as the groups.) */
SutraItem *
sutra_checkpoint_group_lineage_end (SutraCheckpointStage *stage,
                                    SutraGroupLineage *fold,
                                    SutraItem *output)
{
  g_autoptr (SutraLineage) combined = NULL;
  g_autoptr (SutraLineage) derived = NULL;
  guint8 digest[SUTRA_DIGEST_SIZE];
  guint64 le_count;

  if (fold->keyless || fold->first == NULL || stage == NULL)
    return output;
  if (!fold->mixed)
    {
      SutraLineage *lineage = sutra_checkpoint_derive_lineage (stage, fold->first, NULL);

      if (lineage != NULL && output->lineage != lineage)
        sutra_item_set_lineage (output, lineage);
      return output;
    }
  le_count = GUINT64_TO_LE (fold->count);
  EVP_DigestUpdate (fold->context, fold->previous, SUTRA_DIGEST_SIZE);
  EVP_DigestUpdate (fold->context, &le_count, sizeof le_count);
  EVP_DigestFinal_ex (fold->context, digest, NULL);
  g_clear_pointer (&fold->context, EVP_MD_CTX_free);
  combined = sutra_lineage_new (digest);
  derived = sutra_lineage_derive (combined, stage->fingerprint);
  sutra_item_set_lineage (output, derived);
  return output;
}

void
sutra_checkpoint_group_lineage_clear (SutraGroupLineage *fold)
{
  g_clear_pointer (&fold->first, sutra_lineage_unref);
  g_clear_pointer (&fold->context, EVP_MD_CTX_free);
}

/* A gather's members usually share one lineage, and the output derives
 * from it. When a map upstream changed some members and passed others on,
 * their lineages differ, and the output derives from all of them, in
 * order: from the first alone, groups of different content would get one
 * key. (Not kept in the stage's table: such combinations can be as many as
 * the groups.) */
SutraItem *
sutra_checkpoint_take_group_lineage (SutraCheckpointStage *stage,
                                     SutraItem *output,
                                     GPtrArray *members)
{
  SutraLineage *first = ((SutraItem *) members->pdata[0])->lineage;
  g_autoptr (EVP_MD_CTX) context = NULL;
  g_autoptr (SutraLineage) combined = NULL;
  g_autoptr (SutraLineage) derived = NULL;
  guint8 digest[SUTRA_DIGEST_SIZE];
  const SutraLineage *previous = NULL;
  guint64 count = 0;
  gboolean mixed = FALSE;

  if (first == NULL || stage == NULL)
    return output;
  for (guint i = 1; i < members->len; i++)
    {
      SutraLineage *lineage = ((SutraItem *) members->pdata[i])->lineage;

      if (lineage == NULL)
        return output;
      mixed = mixed ||
              (lineage != first && memcmp (lineage->digest, first->digest, SUTRA_DIGEST_SIZE) != 0);
    }
  if (!mixed)
    return sutra_checkpoint_take_lineage (stage, output, members->pdata[0], NULL);

  /* Runs of equal lineages: each lineage and how many members in a row. */
  context = EVP_MD_CTX_new ();
  EVP_DigestInit_ex (context, EVP_sha256 (), NULL);
  EVP_DigestUpdate (context, "group", 5);
  for (guint i = 0; i <= members->len; i++)
    {
      const SutraLineage *lineage =
        i < members->len ? ((SutraItem *) members->pdata[i])->lineage : NULL;

      if (lineage != NULL && previous != NULL &&
          (lineage == previous ||
           memcmp (lineage->digest, previous->digest, SUTRA_DIGEST_SIZE) == 0))
        {
          count++;
          continue;
        }
      if (previous != NULL)
        {
          guint64 le_count = GUINT64_TO_LE (count);

          EVP_DigestUpdate (context, previous->digest, SUTRA_DIGEST_SIZE);
          EVP_DigestUpdate (context, &le_count, sizeof le_count);
        }
      previous = lineage;
      count = 1;
    }
  EVP_DigestFinal_ex (context, digest, NULL);
  combined = sutra_lineage_new (digest);
  derived = sutra_lineage_derive (combined, stage->fingerprint);
  sutra_item_set_lineage (output, derived);
  return output;
}

/* Whether @item continues the run that @last started: same lineage, flags,
 * depth and group size, and the next position under the same parent. */
static inline gboolean
continues_run (const SutraItem *item, const SutraItem *last)
{
  guint depth = item->depth;

  if (last == NULL || item->flags != last->flags || depth != last->depth ||
      item->group_size != last->group_size || item->path[depth - 1] != last->path[depth - 1] + 1)
    return FALSE;
  for (guint d = 0; d + 1 < depth; d++)
    if (item->path[d] != last->path[d])
      return FALSE;
  /* Lineages compare by digest: items read back from different store
   * records carry equal lineages in distinct objects, and the key must not
   * depend on that. */
  return item->lineage == last->lineage ||
         (item->lineage != NULL && last->lineage != NULL &&
          memcmp (item->lineage->digest, last->lineage->digest, SUTRA_DIGEST_SIZE) == 0);
}

/* A batch's key: the stage's fingerprint and, for every entry, its lineage
 * and path. It names the batch's outputs in the store: the same inputs
 * through the same stage always give the same key, whatever the run.
 *
 * Consecutive items (same lineage, flags and parent, positions one apart)
 * are laid out as one run, its first item and a count: the text to hash
 * stays a few dozen bytes for a batch of a thousand lines, where an entry
 * per item made hashing the largest cost of checkpointing. The layout can
 * be read back unambiguously (tag 'L': a lineage; tag 'R': a header, a path
 * as long as the header's depth, a count), so different batches never give
 * the same text.
 *
 * The text is built entry by entry (a streaming gather adds its members as
 * they pass) and goes to the digest in pieces when it outgrows the buffer:
 * whatever lies in the buffer before a new run is final, its count written.
 */
void
sutra_checkpoint_key_begin (SutraCheckpointStage *stage, SutraKeyBuilder *builder)
{
  builder->context = NULL;
  builder->count_field = NULL;
  builder->count = 0;
  builder->last = NULL;
  builder->has_previous = FALSE;
  builder->keyless = FALSE;
  memcpy (builder->text, stage->fingerprint, SUTRA_DIGEST_SIZE);
  builder->used = SUTRA_DIGEST_SIZE;
}

void
sutra_checkpoint_key_add (SutraKeyBuilder *builder, const SutraItem *item)
{
  guint64 header[2] = { ((guint64) item->flags << 16) | item->depth, item->group_size };
  gsize most = 2 + SUTRA_DIGEST_SIZE + sizeof header + (item->depth + 1) * sizeof (guint64);
  guint8 *p;

  if (builder->keyless)
    return;
  if (!sutra_item_is_marker (item) && item->lineage == NULL)
    {
      builder->keyless = TRUE;
      return;
    }
  if (continues_run (item, builder->last))
    {
      builder->count++;
      builder->last = item;
      return;
    }
  if (builder->count_field != NULL)
    memcpy (builder->count_field, &builder->count, sizeof builder->count);
  if (builder->used + most > sizeof builder->text)
    {
      if (builder->context == NULL)
        {
          builder->context = EVP_MD_CTX_new ();
          EVP_DigestInit_ex (builder->context, EVP_sha256 (), NULL);
        }
      EVP_DigestUpdate (builder->context, builder->text, builder->used);
      builder->used = 0;
    }
  p = builder->text + builder->used;
  /* Equal digests, not equal pointers: items read back from different
   * store records carry equal lineages in distinct objects. */
  if (!sutra_item_is_marker (item) &&
      (!builder->has_previous ||
       memcmp (item->lineage->digest, builder->previous_digest, SUTRA_DIGEST_SIZE) != 0))
    {
      *p++ = 'L';
      memcpy (p, item->lineage->digest, SUTRA_DIGEST_SIZE);
      p += SUTRA_DIGEST_SIZE;
      memcpy (builder->previous_digest, item->lineage->digest, SUTRA_DIGEST_SIZE);
      builder->has_previous = TRUE;
    }
  *p++ = 'R';
  memcpy (p, header, sizeof header);
  p += sizeof header;
  memcpy (p, item->path, item->depth * sizeof (guint64));
  p += item->depth * sizeof (guint64);
  builder->count_field = p;
  p += sizeof builder->count;
  builder->used = p - builder->text;
  builder->count = 1;
  builder->last = item;
}

/* Writes the key into @key (SUTRA_DIGEST_SIZE bytes); FALSE, and no key,
 * when an entry had no lineage. Clears @builder either way. */
gboolean
sutra_checkpoint_key_end (SutraKeyBuilder *builder, guint8 *key)
{
  gboolean ok = !builder->keyless;

  if (ok && builder->count_field != NULL)
    memcpy (builder->count_field, &builder->count, sizeof builder->count);
  if (ok && builder->context != NULL)
    {
      EVP_DigestUpdate (builder->context, builder->text, builder->used);
      EVP_DigestFinal_ex (builder->context, key, NULL);
    }
  else if (ok)
    EVP_Digest (builder->text, builder->used, key, NULL, EVP_sha256 (), NULL);
  sutra_checkpoint_key_clear (builder);
  return ok;
}

void
sutra_checkpoint_key_clear (SutraKeyBuilder *builder)
{
  g_clear_pointer (&builder->context, EVP_MD_CTX_free);
  builder->last = NULL;
}

/* A batch's key: the stage's fingerprint and, for every entry, its lineage
 * and path. It names the batch's outputs in the store: the same inputs
 * through the same stage always give the same key, whatever the run.
 *
 * Consecutive items (same lineage, flags and parent, positions one apart)
 * are laid out as one run, its first item and a count: the text to hash
 * stays a few dozen bytes for a batch of a thousand lines, where an entry
 * per item made hashing the largest cost of checkpointing. The layout can
 * be read back unambiguously (tag 'L': a lineage; tag 'R': a header, a path
 * as long as the header's depth, a count), so different batches never give
 * the same text. */
gboolean
sutra_checkpoint_batch_key (SutraCheckpointStage *stage,
                            const SutraCheckpointBatch *batch,
                            guint8 key[SUTRA_DIGEST_SIZE])
{
  guint8 stack[4096];
  g_autofree guint8 *heap = NULL;
  guint8 *text = stack, *p = stack, *count_field = NULL;
  gsize capacity = sizeof stack;
  SutraLineage *previous = NULL;
  const SutraItem *last = NULL;
  guint n = batch->entries->len + (batch->closing != NULL ? 1 : 0);
  guint64 count = 0;

  memcpy (p, stage->fingerprint, SUTRA_DIGEST_SIZE);
  p += SUTRA_DIGEST_SIZE;
  for (guint i = 0; i < n; i++)
    {
      SutraItem *item = i < batch->entries->len ? batch->entries->pdata[i] : batch->closing;
      guint64 header[2] = { ((guint64) item->flags << 16) | item->depth, item->group_size };
      gsize most = 2 + SUTRA_DIGEST_SIZE + sizeof header + (item->depth + 1) * sizeof (guint64);

      if (!sutra_item_is_marker (item) && item->lineage == NULL)
        return FALSE;
      if (continues_run (item, last))
        {
          count++;
          last = item;
          continue;
        }
      if (count_field != NULL)
        memcpy (count_field, &count, sizeof count);
      /* Runs keep the text short; a batch of scattered items outgrows the
       * stack buffer. (The last run's count is written: nothing points
       * into the old buffer from here on.) */
      if ((gsize) (p - text) + most > capacity)
        {
          gsize used = p - text;
          guint8 *grown = g_malloc (capacity = 2 * capacity + most);

          memcpy (grown, text, used);
          g_free (heap);
          heap = text = grown;
          p = text + used;
        }
      /* Equal digests, not equal pointers: items read back from different
       * store records carry equal lineages in distinct objects. */
      if (!sutra_item_is_marker (item) &&
          (previous == NULL ||
           (item->lineage != previous &&
            memcmp (item->lineage->digest, previous->digest, SUTRA_DIGEST_SIZE) != 0)))
        {
          *p++ = 'L';
          memcpy (p, item->lineage->digest, SUTRA_DIGEST_SIZE);
          p += SUTRA_DIGEST_SIZE;
          previous = item->lineage;
        }
      *p++ = 'R';
      memcpy (p, header, sizeof header);
      p += sizeof header;
      memcpy (p, item->path, item->depth * sizeof (guint64));
      p += item->depth * sizeof (guint64);
      count_field = p;
      p += sizeof count;
      count = 1;
      last = item;
    }
  if (count_field != NULL)
    memcpy (count_field, &count, sizeof count);
  EVP_Digest (text, p - text, key, NULL, EVP_sha256 (), NULL);
  return TRUE;
}

/* Batches through the store ---------------------------------------------- */

GPtrArray *
sutra_checkpoint_load_batch (SutraCheckpointStage *stage,
                             const guint8 key[SUTRA_DIGEST_SIZE],
                             GPtrArray *data,
                             guint64 n_inputs,
                             SutraCheckpointLoaded *loaded)
{
  SutraCheckpoint *checkpoint = stage->checkpoint;
  SutraJob *job = checkpoint->job;
  g_autoptr (GBytes) lookup = g_bytes_new_static (key, SUTRA_DIGEST_SIZE);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  SutraJournalBatch *known = g_hash_table_lookup (checkpoint->batches, lookup);
  SutraStoreLocation location;
  GPtrArray *items;
  gboolean from_cache = FALSE;
  guint64 body_offset;
  int body_fd;

  if (known != NULL && !(known->n_failed > 0 && sutra_job_retries_stage (job, stage->spec->name)))
    location = known->location;
  else if (known == NULL && sutra_store_lookup (job->store, key, &location))
    from_cache = TRUE;
  else
    {
      if (known != NULL)
        sutra_journal_clear_failures (job->journal, key);
      return NULL;
    }

  /* A large entry stays in its file: its large payloads (a chapter's
   * audio) become payload files, not memory. */
  body = sutra_store_get_body (job->store, key, &location, &body_fd, &body_offset, &error);
  items =
    body != NULL ? sutra_record_decode_in_file (body, data, body_fd, body_offset, &error) : NULL;
  if (body_fd >= 0)
    close (body_fd);
  if (items == NULL)
    {
      JsonObject *event = stage_event (stage, "store-entry-rejected");

      json_object_set_string_member (event, "message", error->message);
      emit (checkpoint, event);
      if (g_atomic_int_add (&checkpoint->n_corrupt, 1) < 3)
        g_printerr ("sutra: stage “%s”: %s; computing it again\n", stage->spec->name,
                    error->message);
      return NULL;
    }
  if (from_cache)
    {
      guint n_out = 0;

      for (guint i = 0; i < items->len; i++)
        n_out += !sutra_item_is_marker (items->pdata[i]);
      /* Recorded in this job too, so that its resume finds it directly. */
      sutra_journal_add_batch (job->journal, stage->spec->name, key, &location, n_inputs, n_out, 0,
                               TRUE);
    }
  if (loaded != NULL)
    *loaded = (SutraCheckpointLoaded){ from_cache, from_cache ? 0 : known->n_failed };
  return items;
}

/* After a put: the batch in the journal, or the put's error named. */
static gboolean
journal_stored (SutraCheckpointStage *stage,
                const guint8 key[SUTRA_DIGEST_SIZE],
                const SutraCheckpointBatch *batch,
                gboolean stored,
                const SutraStoreLocation *location,
                guint64 n_out,
                GError **error)
{
  if (!stored)
    {
      g_prefix_error (error, "stage “%s”: ", stage->spec->name);
      return FALSE;
    }
  sutra_journal_add_batch (stage->checkpoint->job->journal, stage->spec->name, key, location,
                           batch->n_inputs, n_out, batch->n_failed, FALSE);
  return TRUE;
}

gboolean
sutra_checkpoint_save_batch (SutraCheckpointStage *stage,
                             const guint8 key[SUTRA_DIGEST_SIZE],
                             const SutraCheckpointBatch *batch,
                             GPtrArray *outputs,
                             GError **error)
{
  /* In pieces: a large payload (a chapter's audio) goes to the store
   * without a copy of it in the record. */
  g_autoptr (GPtrArray) pieces = sutra_record_encode_pieces (outputs, batch->data);
  SutraStoreLocation location;
  guint n_out = 0;

  for (guint i = 0; i < outputs->len; i++)
    n_out += !sutra_item_is_marker (outputs->pdata[i]);
  return journal_stored (stage, key, batch,
                         sutra_store_put_pieces (stage->checkpoint->job->store, key, pieces,
                                                 &location, error),
                         &location, n_out, error);
}

gboolean
sutra_checkpoint_save_record (SutraCheckpointStage *stage,
                              const guint8 key[SUTRA_DIGEST_SIZE],
                              const SutraCheckpointBatch *batch,
                              GBytes *body,
                              guint64 n_out,
                              GError **error)
{
  SutraStoreLocation location;

  return journal_stored (stage, key, batch,
                         sutra_store_put (stage->checkpoint->job->store, key, body, &location,
                                          error),
                         &location, n_out, error);
}

void
sutra_checkpoint_add_failure (SutraCheckpointStage *stage,
                              const guint8 *key,
                              const char *item_id,
                              const char *message)
{
  sutra_journal_add_failure (stage->checkpoint->job->journal, stage->spec->name, key, item_id,
                             message);
}

/* Sinks -------------------------------------------------------------------- */

/* What names a sink's input stream: its complete key (its inputs', and
 * theirs, down to the input files) and its batch size, which cuts the stream
 * into the batches its progress is counted in. */
static char *
sink_stream_key (SutraCheckpointStage *stage)
{
  return g_strdup_printf ("%s/b%u", stage->complete_key, stage->spec->batch);
}

/* A sink's batch is named by its place in the sink's input stream, not by
 * a hash of its items. A sink resumes only on the stream it saw: the same
 * complete key (its inputs', and theirs, down to the input files) and batch
 * size, and no failed item that could now succeed (see plan_sinks()); its
 * n-th batch is then the one written before. Hashing every item cost the
 * sink, often the pipeline's slowest stage, a pass over memory for
 * nothing. */
void
sutra_checkpoint_sink_batch_key (guint64 seq, guint8 key[SUTRA_DIGEST_SIZE])
{
  guint64 le_seq = GUINT64_TO_LE (seq);

  memset (key, 0, SUTRA_DIGEST_SIZE);
  memcpy (key, "sinkseq", 8);
  memcpy (key + 8, &le_seq, sizeof le_seq);
}

gboolean
sutra_checkpoint_sink_has_batch (SutraCheckpointStage *stage, const guint8 key[SUTRA_DIGEST_SIZE])
{
  g_autoptr (GBytes) lookup = g_bytes_new_static (key, SUTRA_DIGEST_SIZE);

  return stage->sink_done != NULL && g_hash_table_contains (stage->sink_done, lookup);
}

void
sutra_checkpoint_sink_note_batch (SutraCheckpointStage *stage, const guint8 key[SUTRA_DIGEST_SIZE])
{
  g_mutex_lock (&stage->sink_lock);
  g_ptr_array_add (stage->sink_keys, g_bytes_new (key, SUTRA_DIGEST_SIZE));
  g_mutex_unlock (&stage->sink_lock);
}

/* Gives the sink's recorded state to its second phase once the journal
 * holds it durably. Call with the sink_lock held. */
static void
commit_sink_state_unlocked (SutraCheckpointStage *stage)
{
  SutraCheckpoint *checkpoint = stage->checkpoint;
  gboolean durable;

  if (stage->uncommitted_state == NULL)
    return;
  g_mutex_lock (&checkpoint->gen_lock);
  durable = checkpoint->gen_done >= stage->uncommitted_gen;
  g_mutex_unlock (&checkpoint->gen_lock);
  if (!durable)
    return;
  checkpoint->callbacks.sync_commit (stage->index, stage->uncommitted_state, checkpoint->user_data);
  g_clear_pointer (&stage->uncommitted_state, g_free);
}

/* Commits the journal now, on the calling thread (the committer may be
 * sleeping), counted like the committer's commits. */
static gboolean
commit_now (SutraCheckpoint *checkpoint, GError **error)
{
  guint64 gen;
  gboolean ok;

  g_mutex_lock (&checkpoint->gen_lock);
  gen = ++checkpoint->gen_started;
  g_mutex_unlock (&checkpoint->gen_lock);
  ok = sutra_journal_commit (checkpoint->job->journal, checkpoint->job->store, error) >= 0;
  g_mutex_lock (&checkpoint->gen_lock);
  /* Commits run one at a time (the journal's lock), but may end in either
   * order here: only ever move forward. */
  if (ok && gen > checkpoint->gen_done)
    checkpoint->gen_done = gen;
  g_mutex_unlock (&checkpoint->gen_lock);
  return ok;
}

/* Records the sink's progress: the keys of the batches it wrote since the
 * last checkpoint and, for a sink that can sync, the state it can resume
 * from, taken after its sync (the first phase) so that the state never
 * runs ahead of the disk. Both go to the journal in one unit; the second
 * phase hears of the state once the journal holds it. */
gboolean
sutra_checkpoint_sink (SutraCheckpointStage *stage,
                       gboolean force,
                       gboolean complete,
                       GError **error)
{
  SutraCheckpoint *checkpoint = stage->checkpoint;
  const SutraCheckpointCallbacks *callbacks = &checkpoint->callbacks;
  g_autofree char *plugin_state = NULL;
  g_autofree char *stream = NULL;
  g_autofree char *state = NULL;
  gint64 now = g_get_monotonic_time ();
  gboolean two_phase = callbacks->sync_commit != NULL;

  g_mutex_lock (&stage->sink_lock);
  if (two_phase)
    commit_sink_state_unlocked (stage);
  if (!force && !complete &&
      now - stage->last_sync_us <
        MAX (SINK_SYNC_INTERVAL_US, SINK_SYNC_COST_FACTOR * stage->last_sync_cost_us))
    {
      g_mutex_unlock (&stage->sink_lock);
      return TRUE;
    }
  /* Complete: the plugin's finish made its output durable, and there is
   * nothing to resume from. */
  if (!complete && callbacks->sync_prepare != NULL)
    {
      if (!callbacks->sync_prepare (stage->index, &plugin_state, error, checkpoint->user_data))
        {
          g_mutex_unlock (&stage->sink_lock);
          g_prefix_error (error, "stage “%s”: ", stage->spec->name);
          return FALSE;
        }
      stage->last_sync_cost_us = g_get_monotonic_time () - now;
    }
  stream = sink_stream_key (stage);
  state = g_strdup_printf ("%s %s", stream, plugin_state ? plugin_state : "");
  /* A commit that starts after this lock is taken takes the write with it;
   * one already started may not: the next one is the one to wait for. */
  g_mutex_lock (&checkpoint->gen_lock);
  sutra_journal_add_sink_checkpoint (checkpoint->job->journal, stage->spec->name, stage->sink_keys,
                                     state, complete);
  if (two_phase && plugin_state != NULL)
    {
      g_free (stage->uncommitted_state);
      stage->uncommitted_state = g_steal_pointer (&plugin_state);
      stage->uncommitted_gen = checkpoint->gen_started + 1;
    }
  g_mutex_unlock (&checkpoint->gen_lock);
  g_ptr_array_unref (stage->sink_keys);
  stage->sink_keys = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  stage->last_sync_us = now;
  /* The stage's last checkpoint: its second phase cannot wait for the
   * committer, the instance is about to go. */
  if (two_phase && force && stage->uncommitted_state != NULL)
    {
      if (!commit_now (checkpoint, error))
        {
          g_mutex_unlock (&stage->sink_lock);
          return FALSE;
        }
      commit_sink_state_unlocked (stage);
    }
  g_mutex_unlock (&stage->sink_lock);
  return TRUE;
}

/* The plan -------------------------------------------------------------- */

static gboolean
outputs_exist (SutraStageSpec *spec)
{
  gconstpointer data = sutra_settings_get_data (spec->settings);

  for (const SutraParamInfo *param = spec->info->params; param->name != NULL; param++)
    {
      const char *value;

      if (param->type != SUTRA_PARAM_STRING ||
          !(param->flags & (SUTRA_PARAM_OUTPUT_PATH | SUTRA_PARAM_OUTPUT_DIR)))
        continue;
      value = G_STRUCT_MEMBER (const char *, data, param->offset);
      if (value == NULL || strcmp (value, "-") == 0 || !g_file_test (value, G_FILE_TEST_EXISTS))
        return FALSE;
    }
  return TRUE;
}

typedef struct
{
  GHashTable *complete; /* stage -> complete key, of stages recorded done */
  GHashTable *failed;   /* stages that finished with failed items */
} Recorded;

static void
collect_done_stage (int n_columns, const char *const *values, gpointer data)
{
  Recorded *recorded = data;

  if (values[0] == NULL || values[1] == NULL)
    return;
  g_hash_table_insert (recorded->complete, g_strdup (values[0]), g_strdup (values[1]));
  if (values[2] != NULL && g_ascii_strtoull (values[2], NULL, 10) > 0)
    g_hash_table_add (recorded->failed, g_strdup (values[0]));
}

static void
note_failed_stage (int n_columns, const char *const *values, gpointer data)
{
  if (values[0] != NULL)
    g_hash_table_add (data, g_strdup (values[0]));
}

static SutraCheckpointStage *
input_stage (SutraCheckpoint *checkpoint, SutraCheckpointStage *stage, guint r)
{
  return checkpoint->stages->pdata[((SutraStageSpec *) stage->spec->inputs->pdata[r])->index];
}

/* Each stage's complete key: its fingerprint and its inputs' complete keys;
 * a source's, its fingerprint and its input files' content. */
static void
plan_complete_keys (SutraCheckpoint *checkpoint)
{
  SutraJob *job = checkpoint->job;

  for (guint i = 0; i < checkpoint->stages->len; i++)
    {
      SutraCheckpointStage *stage = checkpoint->stages->pdata[i];
      g_autoptr (EVP_MD_CTX) context = EVP_MD_CTX_new ();
      guint8 digest[SUTRA_DIGEST_SIZE];

      EVP_DigestInit_ex (context, EVP_sha256 (), NULL);
      EVP_DigestUpdate (context, stage->fingerprint, SUTRA_DIGEST_SIZE);
      if (stage_kind_is (stage, SUTRA_STAGE_SOURCE))
        {
          guint8 content[SUTRA_DIGEST_SIZE];
          g_autoptr (SutraLineage) origin = NULL;

          /* Input that cannot be read twice gets a lineage of its own
           * every run: nothing downstream of it is ever taken as done. */
          guint n_files, n_cached;
          JsonObject *event = stage_event (stage, "input-digested");

          if (!sutra_job_source_digest (stage->spec, job->journal, content, &n_files, &n_cached))
            for (guint b = 0; b < SUTRA_DIGEST_SIZE; b++)
              content[b] = (guint8) g_random_int ();
          json_object_set_int_member (event, "files", n_files);
          json_object_set_int_member (event, "recorded", n_cached);
          emit (checkpoint, event);
          origin = sutra_lineage_new (content);
          stage->source_lineage =
            pin_lineage (checkpoint, sutra_lineage_derive (origin, stage->fingerprint));
          EVP_DigestUpdate (context, content, SUTRA_DIGEST_SIZE);
        }
      for (guint r = 0; r < stage->spec->inputs->len; r++)
        EVP_DigestUpdate (context, input_stage (checkpoint, stage, r)->complete_key, 64);
      EVP_DigestFinal_ex (context, digest, NULL);
      sutra_digest_to_hex (digest, stage->complete_key);
    }
}

/* Which stages are up to date: a sink whose complete output exists and
 * whose inputs did not change, and a stage whose every consumer is up to
 * date. Those are not run at all. */
static void
plan_skipped (SutraCheckpoint *checkpoint)
{
  SutraJob *job = checkpoint->job;
  Recorded recorded = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free),
                        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };
  g_autoptr (GPtrArray) consumers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);

  sutra_journal_query (job->journal,
                       "SELECT stage, complete_key, n_failed FROM stages WHERE state = 'done'",
                       collect_done_stage, &recorded, NULL);
  /* Forward: a stage is stale when its own record does not match, or (with
   * --retry-failed) it has failures to retry, or any input is stale: its
   * inputs may change. Backward: a stage runs when it is stale or feeds a
   * stage that runs. */
  for (guint i = 0; i < checkpoint->stages->len; i++)
    {
      SutraCheckpointStage *stage = checkpoint->stages->pdata[i];
      const char *key = g_hash_table_lookup (recorded.complete, stage->spec->name);
      gboolean fresh = key != NULL && strcmp (key, stage->complete_key) == 0 &&
                       !(g_hash_table_contains (recorded.failed, stage->spec->name) &&
                         sutra_job_retries_stage (job, stage->spec->name));

      g_ptr_array_add (consumers, g_ptr_array_new ());
      if (fresh && stage_kind_is (stage, SUTRA_STAGE_SINK))
        fresh = outputs_exist (stage->spec);
      for (guint r = 0; fresh && r < stage->spec->inputs->len; r++)
        fresh = input_stage (checkpoint, stage, r)->skipped;
      /* "skipped" holds "fresh" until the backward pass. */
      stage->skipped = fresh;
    }
  for (guint i = 0; i < checkpoint->stages->len; i++)
    {
      SutraCheckpointStage *stage = checkpoint->stages->pdata[i];

      for (guint r = 0; r < stage->spec->inputs->len; r++)
        g_ptr_array_add (consumers->pdata[input_stage (checkpoint, stage, r)->index], stage);
    }
  for (guint i = checkpoint->stages->len; i-- > 0;)
    {
      SutraCheckpointStage *stage = checkpoint->stages->pdata[i];
      GPtrArray *mine = consumers->pdata[i];

      for (guint e = 0; stage->skipped && e < mine->len; e++)
        stage->skipped = ((SutraCheckpointStage *) mine->pdata[e])->skipped;
    }
  g_hash_table_unref (recorded.complete);
  g_hash_table_unref (recorded.failed);
}

/* The gather: which shards have not finished, said as an event, or as an
 * error with --missing fail. */
static gboolean
check_shards (SutraCheckpoint *checkpoint, GError **error)
{
  const SutraShard *shard = &checkpoint->job->shard;
  const char *store_dir = checkpoint->job->store_dir;
  g_autoptr (GArray) missing = NULL;
  g_autoptr (GString) names = g_string_new (NULL);
  g_autoptr (GString) indices = g_string_new (NULL);
  JsonObject *event;
  guint count;

  if (!sutra_shard_find_missing (store_dir, checkpoint->shard_key, shard->count, &missing, &count,
                                 error))
    return FALSE;
  for (guint i = 0; i < missing->len; i++)
    {
      guint k = g_array_index (missing, guint, i);

      g_string_append_printf (names, "%s%u-of-%u", i > 0 ? ", " : "", k, count);
      g_string_append_printf (indices, "%s%u", i > 0 ? "," : "", k);
    }
  if (shard->missing_fails && count == 0)
    {
      g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_RANGE,
                   "--missing fail: no shard has finished this work in the store “%s” (no marker "
                   "in %s/shards/%.16s…): run the shards first, with the same pipeline, inputs "
                   "and --cache, or gather with --missing compute",
                   store_dir, store_dir, checkpoint->shard_key);
      return FALSE;
    }
  if (shard->missing_fails && missing->len > 0)
    {
      g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_RANGE,
                   "--missing fail: shard%s %s of this work %s not finished (no marker in "
                   "%s/shards/%.16s…): re-run %s with the same command (under Slurm: "
                   "SUTRA_SHARD_COUNT=%u sbatch --array=%s ...), or gather with --missing "
                   "compute to compute %s part here",
                   missing->len > 1 ? "s" : "", names->str, missing->len > 1 ? "have" : "has",
                   store_dir, checkpoint->shard_key, missing->len > 1 ? "them" : "it", count,
                   indices->str, missing->len > 1 ? "their" : "its");
      return FALSE;
    }
  event = json_object_new ();
  json_object_set_string_member (event, "event", "shards-checked");
  json_object_set_int_member (event, "count", count);
  json_object_set_string_member (event, "missing", names->str);
  emit (checkpoint, event);
  return TRUE;
}

/* A shard runs the shard stages and what feeds them, and leaves the rest
 * to the gather: stages downstream are skipped as if up to date, so the
 * shard stages' outputs go nowhere (sutra-edge.c drops what would go to a
 * skipped stage) and no sink writes anything. The shard stages themselves
 * always run: what this shard finished before is found by batch. */
static gboolean
plan_shard (SutraCheckpoint *checkpoint, GError **error)
{
  const SutraShard *shard = &checkpoint->job->shard;
  guint n = checkpoint->stages->len;
  g_autofree gboolean *marked = g_new0 (gboolean, n);
  g_autofree gboolean *feeds = g_new0 (gboolean, n);
  g_autoptr (EVP_MD_CTX) context = NULL;
  guint8 digest[SUTRA_DIGEST_SIZE];

  if (shard->role == SUTRA_SHARD_NONE)
    return TRUE;
  if (!sutra_shard_find_stages (checkpoint->pipeline, marked, error))
    return FALSE;
  context = EVP_MD_CTX_new ();
  EVP_DigestInit_ex (context, EVP_sha256 (), NULL);
  for (guint i = 0; i < n; i++)
    {
      SutraCheckpointStage *stage = checkpoint->stages->pdata[i];

      stage->shard_stage = shard->role == SUTRA_SHARD_PART && marked[stage->spec->index];
      if (marked[stage->spec->index])
        EVP_DigestUpdate (context, stage->complete_key, 64);
    }
  EVP_DigestFinal_ex (context, digest, NULL);
  sutra_digest_to_hex (digest, checkpoint->shard_key);
  if (shard->role == SUTRA_SHARD_GATHER)
    return check_shards (checkpoint, error);
  /* Backward, in reverse topological order: a stage feeds a shard stage
   * when it is one or feeds a stage that does. */
  for (guint i = n; i-- > 0;)
    {
      SutraCheckpointStage *stage = checkpoint->stages->pdata[i];

      feeds[i] = stage->shard_stage;
      for (guint o = 0; !feeds[i] && o < stage->spec->outputs->len; o++)
        feeds[i] = feeds[((SutraStageSpec *) stage->spec->outputs->pdata[o])->index];
    }
  for (guint i = 0; i < n; i++)
    ((SutraCheckpointStage *) checkpoint->stages->pdata[i])->skipped = !feeds[i];
  return TRUE;
}

/* Whether each sink resumes, and which failures are forgotten. */
static void
plan_sinks (SutraCheckpoint *checkpoint)
{
  SutraJob *job = checkpoint->job;
  g_autoptr (GHashTable) failed_stages =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gboolean unstable_stream = FALSE;
  GHashTableIter iter;
  gpointer name;

  /* A sink resumes by counting batches of its input stream, which must then
   * be the stream it saw. Failed items can change it: tried again
   * (--retry-failed), or computed again because their stage stores nothing
   * and a failure that went away (a timeout) does not come back. */
  sutra_journal_query (job->journal, "SELECT DISTINCT stage FROM failures", note_failed_stage,
                       failed_stages, NULL);
  g_hash_table_iter_init (&iter, failed_stages);
  while (!unstable_stream && g_hash_table_iter_next (&iter, &name, NULL))
    unstable_stream = sutra_job_retries_stage (job, name);
  for (guint i = 0; i < checkpoint->stages->len && !unstable_stream; i++)
    {
      SutraCheckpointStage *stage = checkpoint->stages->pdata[i];

      unstable_stream = !stage_kind_is (stage, SUTRA_STAGE_SINK) &&
                        (stage_kind_is (stage, SUTRA_STAGE_SOURCE) || !stage->stores) &&
                        g_hash_table_contains (failed_stages, stage->spec->name);
    }
  for (guint i = 0; i < checkpoint->stages->len; i++)
    {
      SutraCheckpointStage *stage = checkpoint->stages->pdata[i];
      g_autofree char *state = NULL;
      g_autofree char *stream = NULL;
      gboolean complete = FALSE;
      GHashTable *done;
      gsize prefix;

      if (!stage_kind_is (stage, SUTRA_STAGE_SINK) || stage->skipped)
        continue;
      done = sutra_journal_load_sink (job->journal, stage->spec->name, &state, &complete);
      stream = sink_stream_key (stage);
      prefix = strlen (stream);
      /* Progress of this very sink on the same stream, not finished: resume
       * it. Otherwise its output is written anew. */
      if (state != NULL && !complete && g_str_has_prefix (state, stream) && state[prefix] == ' ' &&
          !unstable_stream)
        {
          stage->sink_done = done;
          stage->resume_state = state[prefix + 1] != '\0' ? g_strdup (state + prefix + 1) : NULL;
        }
      else
        {
          g_hash_table_unref (done);
          if (state != NULL)
            sutra_journal_reset_sink (job->journal, stage->spec->name, NULL);
        }
    }

  /* Failures are recorded by batch key where a stage stores its outputs,
   * and forgotten when the batch is computed again. A stage that runs and
   * stores nothing (a source, "checkpoint": false, a sink writing anew)
   * computes all its items again: what fails again is recorded again, and
   * what no longer fails must not count as failed, in `sutra status` or in
   * the next resume's choice above. */
  for (guint i = 0; i < checkpoint->stages->len; i++)
    {
      SutraCheckpointStage *stage = checkpoint->stages->pdata[i];
      gboolean recomputes_all = stage_kind_is (stage, SUTRA_STAGE_SINK)
                                  ? stage->sink_done == NULL
                                  : stage_kind_is (stage, SUTRA_STAGE_SOURCE) || !stage->stores;

      if (!stage->skipped && recomputes_all &&
          g_hash_table_contains (failed_stages, stage->spec->name))
        sutra_journal_clear_stage_failures (job->journal, stage->spec->name);
    }
}

static void
stage_free (SutraCheckpointStage *stage)
{
  g_hash_table_unref (stage->lineages);
  g_clear_pointer (&stage->sink_done, g_hash_table_unref);
  g_ptr_array_unref (stage->sink_keys);
  g_free (stage->resume_state);
  g_free (stage->uncommitted_state);
  g_mutex_clear (&stage->lineage_lock);
  g_mutex_clear (&stage->sink_lock);
  g_free (stage);
}

SutraCheckpoint *
sutra_checkpoint_new (SutraPipeline *pipeline,
                      SutraJob *job,
                      const SutraCheckpointCallbacks *callbacks,
                      gpointer user_data,
                      GError **error)
{
  SutraCheckpoint *checkpoint;
  g_autoptr (GHashTable) indices = g_hash_table_new (g_str_hash, g_str_equal);

  g_return_val_if_fail (pipeline != NULL && job != NULL, NULL);
  checkpoint = g_new0 (SutraCheckpoint, 1);
  checkpoint->pipeline = pipeline;
  checkpoint->job = job;
  if (callbacks != NULL)
    checkpoint->callbacks = *callbacks;
  checkpoint->user_data = user_data;
  checkpoint->stages = g_ptr_array_new_with_free_func ((GDestroyNotify) stage_free);
  checkpoint->pinned_lineages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_lineage_free_pinned);
  g_mutex_init (&checkpoint->pinned_lock);
  g_mutex_init (&checkpoint->commit_lock);
  g_cond_init (&checkpoint->commit_wake);
  g_mutex_init (&checkpoint->progress_lock);
  g_mutex_init (&checkpoint->gen_lock);

  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];
      SutraCheckpointStage *stage = g_new0 (SutraCheckpointStage, 1);

      stage->checkpoint = checkpoint;
      stage->spec = spec;
      stage->index = i;
      stage->fingerprint = job->fingerprints + (gsize) spec->index * SUTRA_DIGEST_SIZE;
      stage->stores = spec->checkpoint;
      g_mutex_init (&stage->lineage_lock);
      g_mutex_init (&stage->sink_lock);
      stage->lineages = g_hash_table_new_full (sutra_lineage_hash, sutra_lineage_equal,
                                               (GDestroyNotify) sutra_lineage_unref, NULL);
      stage->sink_keys = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      g_ptr_array_add (checkpoint->stages, stage);
      g_hash_table_insert (indices, spec->name, GUINT_TO_POINTER (i));
    }
  plan_complete_keys (checkpoint);
  checkpoint->batches = sutra_journal_load_batches (job->journal, indices);
  plan_skipped (checkpoint);
  if (!plan_shard (checkpoint, error))
    {
      sutra_checkpoint_free (checkpoint);
      return NULL;
    }
  plan_sinks (checkpoint);
  return checkpoint;
}

void
sutra_checkpoint_free (SutraCheckpoint *checkpoint)
{
  if (checkpoint == NULL)
    return;
  g_return_if_fail (checkpoint->committer == NULL);
  g_ptr_array_unref (checkpoint->stages);
  /* Last: the stages' tables point at them. */
  g_ptr_array_unref (checkpoint->pinned_lineages);
  g_mutex_clear (&checkpoint->pinned_lock);
  g_clear_pointer (&checkpoint->batches, g_hash_table_unref);
  g_mutex_clear (&checkpoint->commit_lock);
  g_cond_clear (&checkpoint->commit_wake);
  g_mutex_clear (&checkpoint->progress_lock);
  g_mutex_clear (&checkpoint->gen_lock);
  g_free (checkpoint);
}

SutraCheckpointStage *
sutra_checkpoint_get_stage (SutraCheckpoint *checkpoint, guint index)
{
  g_return_val_if_fail (index < checkpoint->stages->len, NULL);
  return checkpoint->stages->pdata[index];
}

gboolean
sutra_checkpoint_stage_owns_batch (SutraCheckpointStage *stage, guint64 seq)
{
  return !stage->shard_stage || sutra_shard_owns (&stage->checkpoint->job->shard, seq);
}

const char *
sutra_checkpoint_get_shard_key (SutraCheckpoint *checkpoint)
{
  return checkpoint->shard_key;
}

gboolean
sutra_checkpoint_stage_is_skipped (SutraCheckpointStage *stage)
{
  return stage->skipped;
}

gboolean
sutra_checkpoint_stage_stores (SutraCheckpointStage *stage)
{
  return stage->stores && !stage_kind_is (stage, SUTRA_STAGE_SINK);
}

const char *
sutra_checkpoint_stage_get_complete_key (SutraCheckpointStage *stage)
{
  return stage->complete_key;
}

const char *
sutra_checkpoint_stage_get_resume_state (SutraCheckpointStage *stage)
{
  return stage->resume_state;
}

void
sutra_checkpoint_stage_forget_resume (SutraCheckpointStage *stage)
{
  g_mutex_lock (&stage->sink_lock);
  g_clear_pointer (&stage->sink_done, g_hash_table_unref);
  g_clear_pointer (&stage->resume_state, g_free);
  g_mutex_unlock (&stage->sink_lock);
  sutra_journal_reset_sink (stage->checkpoint->job->journal, stage->spec->name, NULL);
}

SutraLineage *
sutra_checkpoint_stage_get_source_lineage (SutraCheckpointStage *stage)
{
  return stage->source_lineage;
}

/* The committer ---------------------------------------------------------- */

/* The running stages' counters go to the journal too, so that `sutra
 * status` shows where a killed run had got to. */
static void
record_progress (SutraCheckpoint *checkpoint)
{
  static const gint64 never = 0;
  gint64 now = g_get_monotonic_time ();

  if (checkpoint->callbacks.get_stats == NULL)
    return;
  /* With every commit that records work, so that the counters agree with
   * the batches committed (a source's count is never behind the stages it
   * feeds); else every few seconds, not to commit for nothing. */
  if (checkpoint->progress_recorded_us != never &&
      now - checkpoint->progress_recorded_us < PROGRESS_INTERVAL_US &&
      !sutra_journal_has_pending (checkpoint->job->journal))
    return;
  checkpoint->progress_recorded_us = now;
  g_mutex_lock (&checkpoint->progress_lock);
  for (guint i = 0; i < checkpoint->stages->len; i++)
    {
      SutraCheckpointStage *stage = checkpoint->stages->pdata[i];
      SutraStageStats stats;

      checkpoint->callbacks.get_stats (i, &stats, checkpoint->user_data);
      if (stats.state != SUTRA_STAGE_STATE_RUNNING || stage->final_state_recorded)
        continue;
      sutra_journal_set_stage (checkpoint->job->journal, stage->spec->name, "running", NULL,
                               stats.n_in, stats.n_out, stats.n_failed,
                               stats.n_cached + stats.n_resumed, stats.n_total,
                               (now - stats.started_us) / 1e6);
      if (stats.cache_hits + stats.cache_misses > 0)
        sutra_journal_set_cache_counts (checkpoint->job->journal, stage->spec->name,
                                        stats.cache_hits, stats.cache_misses);
    }
  g_mutex_unlock (&checkpoint->progress_lock);
}

/* Commits the journal in the background: one transaction (and one fsync of
 * the store) for everything finished in the last interval, so commits do
 * not dominate however small the batches. */
static gpointer
committer_main (gpointer data)
{
  SutraCheckpoint *checkpoint = data;
  gint64 last_cost_us = 0;

  g_mutex_lock (&checkpoint->commit_lock);
  while (!checkpoint->commit_stop)
    {
      g_autoptr (GError) error = NULL;
      gint64 started;

      g_cond_wait_until (&checkpoint->commit_wake, &checkpoint->commit_lock,
                         g_get_monotonic_time () +
                           MAX (COMMIT_INTERVAL_US, COMMIT_COST_FACTOR * last_cost_us));
      if (checkpoint->commit_stop)
        break;
      g_mutex_unlock (&checkpoint->commit_lock);
      started = g_get_monotonic_time ();
      record_progress (checkpoint);
      if (!commit_now (checkpoint, &error) && checkpoint->callbacks.fail != NULL)
        checkpoint->callbacks.fail (g_steal_pointer (&error), checkpoint->user_data);
      last_cost_us = g_get_monotonic_time () - started;
      g_mutex_lock (&checkpoint->commit_lock);
    }
  g_mutex_unlock (&checkpoint->commit_lock);
  return NULL;
}

void
sutra_checkpoint_start (SutraCheckpoint *checkpoint)
{
  g_return_if_fail (checkpoint->committer == NULL);
  checkpoint->started_us = g_get_monotonic_time ();
  /* A sink's first sync comes an interval in, not with its first batch. */
  for (guint i = 0; i < checkpoint->stages->len; i++)
    ((SutraCheckpointStage *) checkpoint->stages->pdata[i])->last_sync_us = checkpoint->started_us;
  checkpoint->commit_stop = FALSE;
  checkpoint->committer = g_thread_new ("sutra-commit", committer_main, checkpoint);
}

void
sutra_checkpoint_wake (SutraCheckpoint *checkpoint)
{
  g_mutex_lock (&checkpoint->commit_lock);
  g_cond_signal (&checkpoint->commit_wake);
  g_mutex_unlock (&checkpoint->commit_lock);
}

gboolean
sutra_checkpoint_finish (SutraCheckpoint *checkpoint, GError **error)
{
  if (checkpoint->committer != NULL)
    {
      g_mutex_lock (&checkpoint->commit_lock);
      checkpoint->commit_stop = TRUE;
      g_cond_signal (&checkpoint->commit_wake);
      g_mutex_unlock (&checkpoint->commit_lock);
      g_thread_join (g_steal_pointer (&checkpoint->committer));
    }
  /* Everything finished, also on a stop: make it durable. */
  return commit_now (checkpoint, error);
}

gboolean
sutra_checkpoint_finish_shard (SutraCheckpoint *checkpoint, GError **error)
{
  SutraJob *job = checkpoint->job;

  if (job->shard.role != SUTRA_SHARD_PART)
    return TRUE;
  /* Sealed first: once the marker is there, the gather may start and
   * must find every entry. */
  return sutra_store_seal (job->store, error) &&
         sutra_shard_write_marker (job->store_dir, checkpoint->shard_key, &job->shard, error);
}

void
sutra_checkpoint_stage_set_devices (SutraCheckpointStage *stage, JsonObject *devices)
{
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), devices);
  g_autofree char *text = json_to_string (node, FALSE);

  sutra_journal_set_stage_devices (stage->checkpoint->job->journal, stage->spec->name, text);
}

void
sutra_checkpoint_stage_finished (SutraCheckpointStage *stage,
                                 const char *state,
                                 const SutraStageStats *stats,
                                 double seconds)
{
  SutraCheckpoint *checkpoint = stage->checkpoint;
  gboolean done = strcmp (state, "done") == 0;

  /* The committer records running stages' progress: this row must come
   * after any of those, or a finished stage would read "running". */
  g_mutex_lock (&checkpoint->progress_lock);
  sutra_journal_set_stage (checkpoint->job->journal, stage->spec->name, state,
                           done ? stage->complete_key : NULL, stats->n_in, stats->n_out,
                           stats->n_failed, stats->n_cached + stats->n_resumed, stats->n_total,
                           seconds);
  if (stats->cache_hits + stats->cache_misses > 0)
    sutra_journal_set_cache_counts (checkpoint->job->journal, stage->spec->name, stats->cache_hits,
                                    stats->cache_misses);
  stage->final_state_recorded = TRUE;
  g_mutex_unlock (&checkpoint->progress_lock);
  /* What this stage stored is complete: make it durable now, while the
   * stages downstream finish, rather than after them. */
  if (sutra_checkpoint_stage_stores (stage))
    sutra_checkpoint_wake (checkpoint);
}
