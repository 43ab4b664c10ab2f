/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checkpoints: lineages and batch keys, outputs to and from the store, sink
 * checkpoints, what a job needs to run, and the journal's committer. */

/*
 * A batch's outputs are keyed by the stage's fingerprint and the lineage and
 * path of every input; the store holds them and the journal records them,
 * committed in the background after the store is synced. Before a run, the
 * stages whose outputs are complete and whose inputs did not change are
 * found and left out. docs/resume.md tells the whole story.
 */

#include "sutra-run-private.h"

#include "sutra-autocleanups.h"
#include "sutra-record.h"
#include "sutra-worker.h"

#include <openssl/evp.h>
#include <string.h>

/* Lineage ------------------------------------------------------------------ */

/* The fingerprint the job's keys use for @stage: its spec's, with its
 * plugin module's content folded in (see sutra_job_open()). */
static inline const guint8 *
stage_fingerprint (StageRuntime *stage)
{
  return stage->run->job->fingerprints + (gsize) stage->spec->index * SUTRA_DIGEST_SIZE;
}

/* Pins @lineage (transfer full) for the rest of @run, which owns it from
 * now on. Returns: (transfer none): @lineage. */
SutraLineage *
sutra_checkpoint_pin_lineage (SutraRun *run, SutraLineage *lineage)
{
  sutra_lineage_pin (lineage);
  g_mutex_lock (&run->pinned_lock);
  g_ptr_array_add (run->pinned_lineages, lineage);
  g_mutex_unlock (&run->pinned_lock);
  return lineage;
}

/* The lineage of what this stage makes from an item of lineage @input.
 * Returns: (transfer none) (nullable). */
SutraLineage *
sutra_checkpoint_derive_lineage (StageRuntime *stage, SutraLineage *input, LineageMemo *memo)
{
  SutraLineage *output;

  if (input == NULL || stage->run->job == NULL)
    return NULL;
  if (memo != NULL && memo->input == input)
    return memo->output;
  g_mutex_lock (&stage->checkpoint.lineage_lock);
  output = g_hash_table_lookup (stage->checkpoint.lineages, input);
  if (output == NULL)
    {
      output =
        sutra_checkpoint_pin_lineage (stage->run,
                                      sutra_lineage_derive (input, stage_fingerprint (stage)));
      g_hash_table_insert (stage->checkpoint.lineages, sutra_lineage_ref (input), output);
    }
  g_mutex_unlock (&stage->checkpoint.lineage_lock);
  if (memo != NULL)
    {
      memo->input = input;
      memo->output = output;
    }
  return output;
}

/* Gives @output (owned by the caller) the lineage that derives from @input.
 *
 * An input passed on unchanged (the map returned the item itself) keeps its
 * lineage. Items are immutable once pushed, so its content is its input's,
 * and a lineage names what made the content: the keys downstream stay right
 * (they also hold every item's path, so a stage that passes on other items
 * changes them). Leaving it alone also leaves the item's memory alone:
 * writing the lineage into each passed item made the next stage's thread
 * fetch every item from this thread's cache, which cost a pass-through
 * pipeline more than everything else checkpointing does. */
SutraItem *
sutra_checkpoint_take_lineage (StageRuntime *stage,
                               SutraItem *output,
                               SutraItem *input,
                               LineageMemo *memo)
{
  SutraLineage *lineage;

  if (output == input)
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
sutra_checkpoint_group_lineage_end (StageRuntime *stage, SutraGroupLineage *fold, SutraItem *output)
{
  g_autoptr (SutraLineage) combined = NULL;
  g_autoptr (SutraLineage) derived = NULL;
  guint8 digest[SUTRA_DIGEST_SIZE];
  guint64 le_count;

  if (fold->keyless || fold->first == NULL || stage->run->job == NULL)
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
  derived = sutra_lineage_derive (combined, stage_fingerprint (stage));
  sutra_item_set_lineage (output, derived);
  return output;
}

void
sutra_checkpoint_group_lineage_clear (SutraGroupLineage *fold)
{
  g_clear_pointer (&fold->first, sutra_lineage_unref);
  g_clear_pointer (&fold->context, EVP_MD_CTX_free);
}

/* The same, for a gather given all its @members at once. */
SutraItem *
sutra_checkpoint_take_group_lineage (StageRuntime *stage, SutraItem *output, GPtrArray *members)
{
  SutraGroupLineage fold = { 0 };

  if (stage->run->job == NULL)
    return output;
  for (guint i = 0; i < members->len; i++)
    sutra_checkpoint_group_lineage_add (&fold, members->pdata[i]);
  output = sutra_checkpoint_group_lineage_end (stage, &fold, output);
  sutra_checkpoint_group_lineage_clear (&fold);
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
sutra_checkpoint_key_begin (StageRuntime *stage, SutraKeyBuilder *builder)
{
  builder->context = NULL;
  builder->count_field = NULL;
  builder->count = 0;
  builder->last = NULL;
  builder->has_previous = FALSE;
  builder->keyless = FALSE;
  memcpy (builder->text, stage_fingerprint (stage), SUTRA_DIGEST_SIZE);
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

void
sutra_checkpoint_batch_key (StageRuntime *stage, Batch *batch)
{
  SutraKeyBuilder stack;
  SutraKeyBuilder *builder = batch->key_builder;

  /* A streaming gather's members went into its builder as they passed. */
  if (builder == NULL)
    {
      builder = &stack;
      sutra_checkpoint_key_begin (stage, builder);
      for (guint i = 0; i < batch->entries->len; i++)
        sutra_checkpoint_key_add (builder, batch->entries->pdata[i]);
    }
  if (batch->closing != NULL)
    sutra_checkpoint_key_add (builder, batch->closing);
  batch->has_key = sutra_checkpoint_key_end (builder, batch->key);
}

/* Checkpoints ---------------------------------------------------------------- */

/* The outputs of a batch computed before: by this job (in its journal) or
 * by another job sharing the store. NULL when there are none, or when the
 * entry fails its checks (then the batch is computed again). */
GPtrArray *
sutra_checkpoint_load_batch (StageRuntime *stage, Batch *batch)
{
  SutraRun *run = stage->run;
  SutraJob *job = run->job;
  g_autoptr (GBytes) lookup = g_bytes_new_static (batch->key, SUTRA_DIGEST_SIZE);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  SutraJournalBatch *known = g_hash_table_lookup (run->batches, lookup);
  SutraStoreLocation location;
  GPtrArray *items;
  gboolean from_cache = FALSE;

  if (known != NULL && !(known->n_failed > 0 && sutra_job_retries_stage (job, stage->spec->name)))
    location = known->location;
  else if (known == NULL && sutra_store_lookup (job->store, batch->key, &location))
    from_cache = TRUE;
  else
    {
      if (known != NULL)
        sutra_journal_clear_failures (job->journal, batch->key);
      return NULL;
    }

  body = sutra_store_get (job->store, batch->key, &location, &error);
  items = body != NULL ? sutra_record_decode (body, batch->data, &error) : NULL;
  if (items == NULL)
    {
      JsonObject *event = sutra_run_stage_event (stage, "store-entry-rejected");

      json_object_set_string_member (event, "message", error->message);
      sutra_run_emit_event (run, event);
      if (g_atomic_int_add (&run->n_corrupt, 1) < 3)
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
      sutra_journal_add_batch (job->journal, stage->spec->name, batch->key, &location,
                               sutra_batch_n_inputs (batch), n_out, 0, TRUE);
      COUNTER_ADD (stage->counters.n_cached, sutra_batch_n_inputs (batch));
    }
  else
    {
      COUNTER_ADD (stage->counters.n_resumed, sutra_batch_n_inputs (batch));
      COUNTER_ADD (stage->counters.n_failed, known->n_failed);
    }
  return items;
}

gboolean
sutra_checkpoint_save_batch (StageRuntime *stage, Batch *batch, GPtrArray *outputs, GError **error)
{
  g_autoptr (GBytes) body = sutra_record_encode (outputs, batch->data);
  guint n_out = 0;

  for (guint i = 0; i < outputs->len; i++)
    n_out += !sutra_item_is_marker (outputs->pdata[i]);
  return sutra_checkpoint_save_record (stage, batch, body, n_out, error);
}

/* Stores a batch's record, encoded already (a split's, as it streamed),
 * and journals it with its @n_out data items. */
gboolean
sutra_checkpoint_save_record (StageRuntime *stage,
                              Batch *batch,
                              GBytes *body,
                              guint64 n_out,
                              GError **error)
{
  SutraJob *job = stage->run->job;
  SutraStoreLocation location;

  if (!sutra_store_put (job->store, batch->key, body, &location, error))
    {
      g_prefix_error (error, "stage “%s”: ", stage->spec->name);
      return FALSE;
    }
  sutra_journal_add_batch (job->journal, stage->spec->name, batch->key, &location,
                           sutra_batch_n_inputs (batch), n_out, batch->n_failed, FALSE);
  return TRUE;
}

/* What names a sink's input stream: its complete key (its inputs', and
 * theirs, down to the input files) and its batch size, which cuts the stream
 * into the batches its progress is counted in. */
static char *
sink_stream_key (StageRuntime *stage)
{
  return g_strdup_printf ("%s/b%u", stage->checkpoint.complete_key, stage->spec->batch);
}

/* A sink's batch is named by its place in the sink's input stream, not by
 * a hash of its items. A sink resumes only on the stream it saw: the same
 * complete key (its inputs', and theirs, down to the input files) and batch
 * size, and no failed item that could now succeed (see
 * sutra_checkpoint_plan_job()); its n-th batch is then the one written
 * before. Hashing every item cost the sink, often the pipeline's slowest
 * stage, a pass over memory for nothing. */
void
sutra_checkpoint_sink_batch_key (Batch *batch)
{
  guint64 seq = GUINT64_TO_LE (batch->seq);

  memset (batch->key, 0, SUTRA_DIGEST_SIZE);
  memcpy (batch->key, "sinkseq", 8);
  memcpy (batch->key + 8, &seq, sizeof seq);
  batch->has_key = TRUE;
}

gboolean
sutra_checkpoint_sink_has_batch (StageRuntime *stage, Batch *batch)
{
  g_autoptr (GBytes) lookup = g_bytes_new_static (batch->key, SUTRA_DIGEST_SIZE);

  return stage->checkpoint.sink_done != NULL &&
         g_hash_table_contains (stage->checkpoint.sink_done, lookup);
}

/* A sink syncs at most every half second, and never more often than twenty
 * times its last sync took: however large its output, syncing costs about
 * 5 % of its time, and a kill loses at most a few seconds of its work. */
#define SINK_SYNC_INTERVAL_US (500 * 1000)
#define SINK_SYNC_COST_FACTOR 20

/* Records the sink's progress: the keys of the batches it wrote since the
 * last checkpoint and, for a sink that can sync, the state it can resume
 * from, taken after a sync so that the state never runs ahead of the disk.
 * Both go to the journal in one unit. */
gboolean
sutra_checkpoint_sink (StageRuntime *stage, gboolean force, gboolean complete, GError **error)
{
  SutraRun *run = stage->run;
  g_autofree char *plugin_state = NULL;
  g_autofree char *stream = NULL;
  g_autofree char *state = NULL;
  gint64 now = g_get_monotonic_time ();

  if (run->job == NULL)
    return TRUE;
  g_mutex_lock (&stage->checkpoint.sink_lock);
  if (stage->info->sync != NULL && !force && !complete &&
      now - stage->checkpoint.last_sync_us <
        MAX (SINK_SYNC_INTERVAL_US, SINK_SYNC_COST_FACTOR * stage->checkpoint.last_sync_cost_us))
    {
      g_mutex_unlock (&stage->checkpoint.sink_lock);
      return TRUE;
    }
  if (stage->info->sync != NULL && !complete && stage->workers.list->len == 1)
    {
      SutraWorker *worker = stage->workers.list->pdata[0];

      if (!sutra_executor_sync (worker->executor, &plugin_state, error))
        {
          g_mutex_unlock (&stage->checkpoint.sink_lock);
          g_prefix_error (error, "stage “%s”: ", stage->spec->name);
          return FALSE;
        }
      stage->checkpoint.last_sync_cost_us = g_get_monotonic_time () - now;
    }
  stream = sink_stream_key (stage);
  state = g_strdup_printf ("%s %s", stream, plugin_state ? plugin_state : "");
  sutra_journal_add_sink_checkpoint (run->job->journal, stage->spec->name,
                                     stage->checkpoint.sink_keys, state, complete);
  g_ptr_array_unref (stage->checkpoint.sink_keys);
  stage->checkpoint.sink_keys = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  stage->checkpoint.last_sync_us = now;
  g_mutex_unlock (&stage->checkpoint.sink_lock);
  return TRUE;
}

void
sutra_checkpoint_sink_note_batch (StageRuntime *stage, Batch *batch)
{
  g_mutex_lock (&stage->checkpoint.sink_lock);
  g_ptr_array_add (stage->checkpoint.sink_keys, g_bytes_new (batch->key, SUTRA_DIGEST_SIZE));
  g_mutex_unlock (&stage->checkpoint.sink_lock);
}

/* Jobs ---------------------------------------------------------------------- */

void
sutra_run_set_job (SutraRun *run, SutraJob *job)
{
  run->job = job;
}

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

/* Works out, before anything runs, each stage's complete key (its
 * fingerprint and its inputs' complete keys; a source's, its fingerprint and
 * its input files' content) and which stages are up to date: a sink whose
 * complete output exists and whose inputs did not change, and a stage whose
 * every consumer is up to date. Those are not run at all. */
static void
note_failed_stage (int n_columns, const char *const *values, gpointer data)
{
  if (values[0] != NULL)
    g_hash_table_add (data, g_strdup (values[0]));
}

void
sutra_checkpoint_plan_job (SutraRun *run)
{
  g_autoptr (GHashTable) failed_stages =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gboolean unstable_stream;
  SutraJob *job = run->job;
  g_autoptr (GHashTable) indices = g_hash_table_new (g_str_hash, g_str_equal);
  Recorded recorded = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free),
                        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };

  for (guint i = 0; i < run->stages->len; i++)
    {
      StageRuntime *stage = run->stages->pdata[i];
      g_autoptr (EVP_MD_CTX) context = EVP_MD_CTX_new ();
      guint8 digest[SUTRA_DIGEST_SIZE];

      g_hash_table_insert (indices, stage->spec->name, GUINT_TO_POINTER (i));
      stage->checkpoint.checkpointing = stage->spec->checkpoint;
      EVP_DigestInit_ex (context, EVP_sha256 (), NULL);
      EVP_DigestUpdate (context, stage_fingerprint (stage), SUTRA_DIGEST_SIZE);
      if (stage->info->kind == SUTRA_STAGE_SOURCE)
        {
          guint8 content[SUTRA_DIGEST_SIZE];
          g_autoptr (SutraLineage) origin = NULL;

          /* Input that cannot be read twice gets a lineage of its own
           * every run: nothing downstream of it is ever taken as done. */
          guint n_files, n_cached;
          JsonObject *event = sutra_run_stage_event (stage, "input-digested");

          if (!sutra_job_source_digest (stage->spec, job->journal, content, &n_files, &n_cached))
            for (guint b = 0; b < SUTRA_DIGEST_SIZE; b++)
              content[b] = (guint8) g_random_int ();
          json_object_set_int_member (event, "files", n_files);
          json_object_set_int_member (event, "recorded", n_cached);
          sutra_run_emit_event (run, event);
          origin = sutra_lineage_new (content);
          stage->checkpoint.source_lineage =
            sutra_checkpoint_pin_lineage (run,
                                          sutra_lineage_derive (origin, stage_fingerprint (stage)));
          EVP_DigestUpdate (context, content, SUTRA_DIGEST_SIZE);
        }
      for (guint r = 0; r < stage->spec->inputs->len; r++)
        {
          StageRuntime *input =
            run->stages->pdata[((SutraStageSpec *) stage->spec->inputs->pdata[r])->index];
          EVP_DigestUpdate (context, input->checkpoint.complete_key, 64);
        }
      EVP_DigestFinal_ex (context, digest, NULL);
      sutra_digest_to_hex (digest, stage->checkpoint.complete_key);
    }
  run->batches = sutra_journal_load_batches (job->journal, indices);

  sutra_journal_query (job->journal,
                       "SELECT stage, complete_key, n_failed FROM stages WHERE state = 'done'",
                       collect_done_stage, &recorded, NULL);
  /* Forward: a stage is stale when its own record does not match, or (with
   * --retry-failed) it has failures to retry, or any input is stale: its
   * inputs may change. Backward: a stage runs when it is stale or feeds a
   * stage that runs. */
  for (guint i = 0; i < run->stages->len; i++)
    {
      StageRuntime *stage = run->stages->pdata[i];
      const char *key = g_hash_table_lookup (recorded.complete, stage->spec->name);
      gboolean fresh = key != NULL && strcmp (key, stage->checkpoint.complete_key) == 0 &&
                       !(g_hash_table_contains (recorded.failed, stage->spec->name) &&
                         sutra_job_retries_stage (job, stage->spec->name));

      if (fresh && stage->info->kind == SUTRA_STAGE_SINK)
        fresh = outputs_exist (stage->spec);
      for (guint r = 0; fresh && r < stage->spec->inputs->len; r++)
        fresh = ((StageRuntime *)
                   run->stages->pdata[((SutraStageSpec *) stage->spec->inputs->pdata[r])->index])
                  ->checkpoint.skipped;
      /* "skipped" holds "fresh" until the backward pass. */
      stage->checkpoint.skipped = fresh;
    }
  for (guint i = run->stages->len; i-- > 0;)
    {
      StageRuntime *stage = run->stages->pdata[i];

      for (guint e = 0; stage->checkpoint.skipped && e < stage->output.edges->len; e++)
        stage->checkpoint.skipped =
          g_array_index (stage->output.edges, Edge, e).target->checkpoint.skipped;
    }
  g_hash_table_unref (recorded.complete);
  g_hash_table_unref (recorded.failed);

  /* A sink resumes by counting batches of its input stream, which must then
   * be the stream it saw. Failed items can change it: tried again
   * (--retry-failed), or computed again because their stage stores nothing
   * and a failure that went away (a timeout) does not come back. */
  sutra_journal_query (job->journal, "SELECT DISTINCT stage FROM failures", note_failed_stage,
                       failed_stages, NULL);
  {
    GHashTableIter iter;
    gpointer name;

    unstable_stream = FALSE;
    g_hash_table_iter_init (&iter, failed_stages);
    while (!unstable_stream && g_hash_table_iter_next (&iter, &name, NULL))
      unstable_stream = sutra_job_retries_stage (job, name);
  }
  for (guint i = 0; i < run->stages->len && !unstable_stream; i++)
    {
      StageRuntime *stage = run->stages->pdata[i];

      unstable_stream =
        stage->info->kind != SUTRA_STAGE_SINK &&
        (stage->info->kind == SUTRA_STAGE_SOURCE || !stage->checkpoint.checkpointing) &&
        g_hash_table_contains (failed_stages, stage->spec->name);
    }
  for (guint i = 0; i < run->stages->len; i++)
    {
      StageRuntime *stage = run->stages->pdata[i];
      g_autofree char *state = NULL;
      g_autofree char *stream = NULL;
      gboolean complete = FALSE;
      GHashTable *done;
      gsize prefix;

      if (stage->info->kind != SUTRA_STAGE_SINK || stage->checkpoint.skipped)
        continue;
      done = sutra_journal_load_sink (job->journal, stage->spec->name, &state, &complete);
      stream = sink_stream_key (stage);
      prefix = strlen (stream);
      /* Progress of this very sink on the same stream, not finished: resume
       * it. Otherwise its output is written anew. */
      if (state != NULL && !complete && g_str_has_prefix (state, stream) && state[prefix] == ' ' &&
          !unstable_stream)
        {
          stage->checkpoint.sink_done = done;
          stage->checkpoint.resume_state =
            state[prefix + 1] != '\0' ? g_strdup (state + prefix + 1) : NULL;
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
  for (guint i = 0; i < run->stages->len; i++)
    {
      StageRuntime *stage = run->stages->pdata[i];
      gboolean recomputes_all =
        stage->info->kind == SUTRA_STAGE_SINK
          ? stage->checkpoint.sink_done == NULL
          : stage->info->kind == SUTRA_STAGE_SOURCE || !stage->checkpoint.checkpointing;

      if (!stage->checkpoint.skipped && recomputes_all &&
          g_hash_table_contains (failed_stages, stage->spec->name))
        sutra_journal_clear_stage_failures (job->journal, stage->spec->name);
    }
}

/* Commits come at most every 200 ms, and never more often than twenty times
 * the last one took (its fsyncs included): committing costs about 5 % of
 * the time whatever the disk, and a kill loses at most a few commits' worth. */
#define COMMIT_INTERVAL_US (200 * 1000)
#define COMMIT_COST_FACTOR 20
#define PROGRESS_INTERVAL_US (2 * 1000 * 1000)

/* The running stages' counters go to the journal too, so that `sutra
 * status` shows where a killed run had got to. */
static void
record_progress (SutraRun *run)
{
  static const gint64 never = 0;
  gint64 now = g_get_monotonic_time ();

  /* With every commit that records work, so that the counters agree with
   * the batches committed (a source's count is never behind the stages it
   * feeds); else every few seconds, not to commit for nothing. */
  if (run->progress_recorded_us != never &&
      now - run->progress_recorded_us < PROGRESS_INTERVAL_US &&
      !sutra_journal_has_pending (run->job->journal))
    return;
  run->progress_recorded_us = now;
  g_mutex_lock (&run->progress_lock);
  for (guint i = 0; i < run->stages->len; i++)
    {
      StageRuntime *stage = run->stages->pdata[i];
      SutraStageStats stats;

      sutra_run_get_stats (run, i, &stats);
      if (stats.state != SUTRA_STAGE_STATE_RUNNING || stage->checkpoint.final_state_recorded)
        continue;
      sutra_journal_set_stage (run->job->journal, stage->spec->name, "running", NULL, stats.n_in,
                               stats.n_out, stats.n_failed, stats.n_cached + stats.n_resumed,
                               stats.n_total, (now - stats.started_us) / 1e6);
    }
  g_mutex_unlock (&run->progress_lock);
}

/* Commits the journal in the background: one transaction (and one fsync of
 * the store) for everything finished in the last interval, so commits do
 * not dominate however small the batches. */
gpointer
sutra_checkpoint_committer_main (gpointer data)
{
  SutraRun *run = data;
  gint64 last_cost_us = 0;

  g_mutex_lock (&run->commit_lock);
  while (!run->commit_stop)
    {
      g_autoptr (GError) error = NULL;
      gint64 started;

      g_cond_wait_until (&run->commit_wake, &run->commit_lock,
                         g_get_monotonic_time () +
                           MAX (COMMIT_INTERVAL_US, COMMIT_COST_FACTOR * last_cost_us));
      if (run->commit_stop)
        break;
      g_mutex_unlock (&run->commit_lock);
      started = g_get_monotonic_time ();
      record_progress (run);
      if (sutra_journal_commit (run->job->journal, run->job->store, &error) < 0)
        sutra_run_fail (run, g_steal_pointer (&error));
      last_cost_us = g_get_monotonic_time () - started;
      g_mutex_lock (&run->commit_lock);
    }
  g_mutex_unlock (&run->commit_lock);
  return NULL;
}
