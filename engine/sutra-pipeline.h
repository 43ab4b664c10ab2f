/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraPipeline: a pipeline file, parsed, resolved and validated. */

#pragma once

#include "sutra-isolation.h"
#include "sutra-rate-limiter.h"
#include "sutra-registry.h"
#include "sutra-settings.h"

G_BEGIN_DECLS

#define SUTRA_PIPELINE_ERROR (sutra_pipeline_error_quark ())
GQuark sutra_pipeline_error_quark (void);

/* When a file has several problems, the error's code is the first one's and
 * its message lists them all, one per line. */
typedef enum
{
  SUTRA_PIPELINE_ERROR_READ,                /* the file cannot be read */
  SUTRA_PIPELINE_ERROR_SYNTAX,              /* invalid JSON */
  SUTRA_PIPELINE_ERROR_VERSION,             /* "sutra" missing or not 1 */
  SUTRA_PIPELINE_ERROR_UNKNOWN_KEY,         /* a key sutra does not know */
  SUTRA_PIPELINE_ERROR_BAD_VALUE,           /* a setting of the wrong type or range */
  SUTRA_PIPELINE_ERROR_UNKNOWN_PLUGIN,      /* "plugin" names no loaded stage */
  SUTRA_PIPELINE_ERROR_MISSING_INPUT,       /* "input" names no stage */
  SUTRA_PIPELINE_ERROR_CYCLE,               /* the stages form a cycle */
  SUTRA_PIPELINE_ERROR_BAD_PARAM,           /* a parameter fails its table */
  SUTRA_PIPELINE_ERROR_UNRESOLVED_VARIABLE, /* ${var} with no value */
  SUTRA_PIPELINE_ERROR_BAD_GRAPH,           /* a gather with no split upstream, a
                                             * sink that feeds a stage, a source
                                             * with an input ... */
  SUTRA_PIPELINE_ERROR_INPUT_FILE,          /* an input file missing or unreadable */
  SUTRA_PIPELINE_ERROR_OUTPUT_DIR,          /* an output place that cannot be written */
  SUTRA_PIPELINE_ERROR_DEVICE,              /* a device that does not exist or fits not */
  SUTRA_PIPELINE_ERROR_BAD_OVERRIDE,        /* a --set that names nothing */
  SUTRA_PIPELINE_ERROR_TOO_LARGE,           /* larger or nested deeper than a pipeline
                                             * file may be (SUTRA_JSON_MAX_BYTES,
                                             * SUTRA_JSON_MAX_DEPTH) */
} SutraPipelineError;

typedef enum
{
  SUTRA_ON_ERROR_FAIL,
  SUTRA_ON_ERROR_SKIP,
} SutraOnError;

typedef struct _SutraStageSpec SutraStageSpec;

struct _SutraStageSpec
{
  char *name;
  guint index;       /* position in topological order */
  char *plugin_name; /* the stage type, as the file gives it */
  const SutraStageInfo *info;
  const SutraPlugin *plugin;
  GPtrArray *inputs;  /* SutraStageSpec *, in the file's order */
  GPtrArray *outputs; /* SutraStageSpec *, downstream stages */
  guint workers;
  /* How the workers run, and how long one batch may take there (0: no
   * limit; only with SUTRA_ISOLATION_PROCESS, where a worker that runs
   * over can be killed). Execution settings: not in the fingerprint. */
  SutraIsolation isolation;
  guint timeout_ms;
  guint queue;
  guint queue_mb; /* and the most payload bytes it holds, in MiB */
  guint batch;
  char **devices;             /* NULL: the CPU; "auto" is resolved here, and a
                               * missing GPU replaced by "cpu" (device_fallback) */
  gboolean devices_auto;      /* "devices": "auto" */
  gboolean device_fallback;   /* "device_fallback": "cpu" */
  GPtrArray *device_warnings; /* (nullable): what device_fallback changed,
                               * one message each, with the file position */
  guint retry_attempts;       /* attempts in all, 1 = no retry */
  guint retry_backoff_ms;
  guint retry_max_backoff_ms;
  SutraOnError on_error;
  SutraOnError on_missing; /* gathers: a group with failed members */
  gboolean checkpoint;
  /* Each item's output kept and found again by content ("cache":
   * "content", or the plugin's cache_content): see sutra-memo.h. An
   * execution setting: not in the fingerprint. */
  gboolean cache_content;
  SutraRateLimits rate_limits; /* requests and tokens per second; 0: none */
  /* Items in the plugin's hands at once, all workers together; 0: no
   * bound. Batches are capped to ceil (max_in_flight / workers). */
  guint max_in_flight;
  SutraSettings *settings;
  JsonObject *resolved_params; /* every parameter, defaults included */
  guint8 fingerprint[32];      /* plugin, version, ABI, resolved params */
};

typedef struct
{
  char *path;
  char *name;
  GPtrArray *stages; /* SutraStageSpec *, in topological order */
  GHashTable *by_name;
  JsonNode *resolved;  /* the document after --set and ${var} */
  char *resolved_json; /* its canonical text (the job snapshot) */
} SutraPipeline;

/* A --set: "name=value" sets variable ${name}; "stage.key=value" sets a
 * stage setting (workers, queue ...) or, if no setting has that name, the
 * stage's parameter. */
typedef struct
{
  GPtrArray *assignments; /* "x=y" strings */
} SutraOverrides;

/* Loads @path, applies @overrides (nullable, NULL-terminated "k=v"
 * strings), resolves variables and validates everything before anything
 * runs. Every problem of the file is reported, each naming the file, the
 * line and column, the stage and the key, and the valid choices. */
SutraPipeline *sutra_pipeline_load (const char *path,
                                    SutraRegistry *registry,
                                    const char *const *overrides,
                                    GError **error);

/* The same from text already in memory; @path names it in messages. */
SutraPipeline *sutra_pipeline_load_from_data (const char *path,
                                              const char *text,
                                              gssize length,
                                              SutraRegistry *registry,
                                              const char *const *overrides,
                                              GError **error);

typedef enum
{
  SUTRA_PIPELINE_LOAD_DEFAULT = 0,
  /* Check the file and its graph, nothing of this machine: for drawing a
   * pipeline (sutra graph) before its inputs exist. A ${var} with no value
   * is left as it is (and what depends on its value, unchecked); input and
   * output files and devices are not looked at. */
  SUTRA_PIPELINE_LOAD_STRUCTURE_ONLY = 1 << 0,
} SutraPipelineLoadFlags;

/* sutra_pipeline_load() and sutra_pipeline_load_from_data() with @flags. */
SutraPipeline *sutra_pipeline_load_full (const char *path,
                                         SutraRegistry *registry,
                                         const char *const *overrides,
                                         SutraPipelineLoadFlags flags,
                                         GError **error);

SutraPipeline *sutra_pipeline_load_from_data_full (const char *path,
                                                   const char *text,
                                                   gssize length,
                                                   SutraRegistry *registry,
                                                   const char *const *overrides,
                                                   SutraPipelineLoadFlags flags,
                                                   GError **error);

void sutra_pipeline_free (SutraPipeline *pipeline);

SutraStageSpec *sutra_pipeline_get_stage (SutraPipeline *pipeline, const char *name);

/* Returns: (transfer full): the pipeline as Graphviz DOT. */
char *sutra_pipeline_to_dot (SutraPipeline *pipeline);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraPipeline, sutra_pipeline_free)

G_END_DECLS
