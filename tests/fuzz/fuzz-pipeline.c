/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the pipeline parser and validator (engine/sutra-pipeline.c). */

#include "fuzz.h"

#include "sutra-pipeline.h"

#include <string.h>

/*
 * Input: the text of a pipeline file, loaded against the real plugins
 * (parsing, variables, the parameter tables, the graph checks). A file
 * that is refused must be refused with a pipeline error that names the
 * file; one that loads must also load with --set overrides, print as DOT,
 * and its resolved snapshot (what a job records) must load again.
 */

#define FUZZ_PATH "fuzz.json"

static void
assert_refused_well (const GError *error)
{
  g_assert_nonnull (error);
  g_assert_true (error->domain == SUTRA_PIPELINE_ERROR);
  g_assert_nonnull (strstr (error->message, FUZZ_PATH));
}

static void
load_snapshot (const SutraPipeline *pipeline)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) again =
    sutra_pipeline_load_from_data (FUZZ_PATH, pipeline->resolved_json, -1, fuzz_get_registry (),
                                   NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (again);
  g_assert_cmpuint (again->stages->len, ==, pipeline->stages->len);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  fuzz_get_registry ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  /* Overrides of each kind: a variable, a stage setting, a parameter, and
   * one that names nothing. */
  static const char *const overrides[] = {
    "input=data/sample.txt", "max_chars=77", "read.workers=3", "segment.max_chars=99", NULL,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autoptr (SutraPipeline) overridden = NULL;
  g_autofree char *dot = NULL;

  pipeline = sutra_pipeline_load_from_data (FUZZ_PATH, (const char *) data, size,
                                            fuzz_get_registry (), NULL, &error);
  if (pipeline == NULL)
    {
      assert_refused_well (error);
      return 0;
    }
  g_assert_no_error (error);
  dot = sutra_pipeline_to_dot (pipeline);
  g_assert_nonnull (dot);
  load_snapshot (pipeline);
  overridden = sutra_pipeline_load_from_data (FUZZ_PATH, (const char *) data, size,
                                              fuzz_get_registry (), overrides, &error);
  if (overridden == NULL)
    assert_refused_well (error);
  return 0;
}
