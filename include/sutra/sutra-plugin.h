/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plugin descriptor: what a plugin exports and the engine loads. */

#pragma once

#if !defined(SUTRA_INSIDE) && !defined(SUTRA_COMPILATION)
#error "Include <sutra/sutra.h>, not this header."
#endif

#include <gio/gio.h>
#include <sutra/sutra-item.h>
#include <sutra/sutra-output.h>
#include <sutra/sutra-version.h>

G_BEGIN_DECLS

/**
 * SutraStageKind:
 * @SUTRA_STAGE_SOURCE: produces items; has no input
 * @SUTRA_STAGE_MAP: one item in, one out
 * @SUTRA_STAGE_SPLIT: one item in, its descendants out
 * @SUTRA_STAGE_GATHER: all children of a parent in (in path order), one out
 * @SUTRA_STAGE_SINK: writes items out; feeds no other stage
 */
typedef enum
{
  SUTRA_STAGE_SOURCE = 1,
  SUTRA_STAGE_MAP,
  SUTRA_STAGE_SPLIT,
  SUTRA_STAGE_GATHER,
  SUTRA_STAGE_SINK,
} SutraStageKind;

/**
 * SutraThreading:
 * @SUTRA_THREADING_SHARED: one instance serves every worker at once; its
 *   process function is thread-safe
 * @SUTRA_THREADING_PER_WORKER: one instance per worker; instances share no
 *   state, so workers run in parallel
 * @SUTRA_THREADING_SINGLE: not thread-safe at all (global state in a library):
 *   the engine runs one worker in the process
 */
typedef enum
{
  SUTRA_THREADING_SHARED = 1,
  SUTRA_THREADING_PER_WORKER,
  SUTRA_THREADING_SINGLE,
} SutraThreading;

/**
 * SutraDeviceFlags:
 * @SUTRA_DEVICE_CPU: the stage runs on the CPU
 * @SUTRA_DEVICE_CUDA: the stage runs on CUDA GPUs (`"cuda:N"`)
 * @SUTRA_DEVICE_CUDA_PREFERRED: with %SUTRA_DEVICE_CUDA and
 *   %SUTRA_DEVICE_CPU: the stage's GPU path wins over its CPU path end to
 *   end (transfers counted), so `"devices": "auto"` picks the machine's
 *   GPUs. Without it, `"auto"` picks the CPU, and the GPUs run the stage
 *   only when the pipeline names them. Since: ABI 2.0
 *
 * Devices a stage can run on (a bit mask).
 */
typedef enum
{
  SUTRA_DEVICE_CPU = 1 << 0,
  SUTRA_DEVICE_CUDA = 1 << 1,
  SUTRA_DEVICE_CUDA_PREFERRED = 1 << 2,
} SutraDeviceFlags;

/**
 * SutraParamType:
 * @SUTRA_PARAM_BOOL: a JSON boolean; stored as `gboolean`
 * @SUTRA_PARAM_INT: a JSON integer within [min, max]; stored as `gint64`
 * @SUTRA_PARAM_DOUBLE: a JSON number within [min, max]; stored as `double`
 * @SUTRA_PARAM_STRING: a JSON string; stored as `const char *`
 * @SUTRA_PARAM_ENUM: a JSON string, one of @choices; stored as `const char *`
 *   pointing at the matching entry of @choices
 */
typedef enum
{
  SUTRA_PARAM_BOOL = 1,
  SUTRA_PARAM_INT,
  SUTRA_PARAM_DOUBLE,
  SUTRA_PARAM_STRING,
  SUTRA_PARAM_ENUM,
} SutraParamType;

/**
 * SutraParamFlags:
 * @SUTRA_PARAM_REQUIRED: the pipeline must give a value (no default)
 * @SUTRA_PARAM_INPUT_PATH: a string naming input files (a path, a glob or
 *   `-` for standard input): validation checks that they exist and can be
 *   read
 * @SUTRA_PARAM_OUTPUT_PATH: a string naming a file to write: validation
 *   checks that its directory exists and can be written
 * @SUTRA_PARAM_OUTPUT_DIR: a string naming a directory to write into (made if
 *   missing): validation checks that it, or its parent, can be written
 */
typedef enum
{
  SUTRA_PARAM_REQUIRED = 1 << 0,
  SUTRA_PARAM_INPUT_PATH = 1 << 1,
  SUTRA_PARAM_OUTPUT_PATH = 1 << 2,
  SUTRA_PARAM_OUTPUT_DIR = 1 << 3,
} SutraParamFlags;

/**
 * SutraParamInfo:
 * @struct_size: sizeof (SutraParamInfo) as the plugin was built; the
 *   SUTRA_PARAM_ROW_* macros set it. Since: ABI 2.0
 * @name: the key in the pipeline file's `params`, snake_case, unit in the
 *   name (`gap_ms`)
 * @type: the value's type
 * @offset: where the engine stores the value in the stage's settings struct
 *   (use G_STRUCT_OFFSET)
 * @default_int: the default of a BOOL or INT parameter
 * @default_double: the default of a DOUBLE parameter
 * @default_string: the default of a STRING or ENUM parameter (nullable)
 * @min: the smallest value of an INT or DOUBLE parameter
 * @max: the largest value of an INT or DOUBLE parameter
 * @choices: the values of an ENUM parameter, %NULL-terminated
 * @flags: #SutraParamFlags
 * @doc: one sentence for `sutra inspect`
 *
 * One row of a stage's parameter table, as FFmpeg's AVOption: the engine
 * validates the pipeline against the table and fills the settings struct;
 * plugins never parse user JSON. A table ends with a row whose @name is
 * %NULL. Fields are only ever appended, as in #SutraStageInfo: fill rows
 * with the SUTRA_PARAM_ROW_* macros, which set @struct_size and stay
 * source-compatible when the struct grows.
 */
typedef struct
{
  gsize struct_size;
  const char *name;
  SutraParamType type;
  gsize offset;
  gint64 default_int;
  double default_double;
  const char *default_string;
  double min;
  double max;
  const char *const *choices;
  guint flags;
  const char *doc;
  /* Later 2.x minors: append only; never reorder or remove. */
} SutraParamInfo;

/**
 * SutraStageContext:
 * @stage_name: the stage's name in the pipeline file
 * @worker_index: which worker this instance serves, from 0 (always 0 for
 *   a %SUTRA_THREADING_SHARED stage)
 * @n_workers: the stage's worker count
 * @device: "cpu" or a GPU such as "cuda:1"
 * @device_index: the GPU's index, or -1 for the CPU
 * @work_dir: a directory where the stage may keep large files
 * @resume_state: (nullable): for a sink, the last state its sync function
 *   returned in an earlier, interrupted run of this job; %NULL on a fresh run
 * @max_in_flight: the stage's `max_in_flight`: the most items all of its
 *   workers together have in the plugin's hands at once, or 0 when the
 *   pipeline sets no bound. The engine enforces it before each call (it
 *   never hands out more, and caps batches to the worker's share), so a
 *   plugin that overlaps the items of a batch (requests in flight) may take
 *   it as its own limit and run a whole batch at once. Since: ABI 2.1
 * @requests_per_second: the stage's `rate_limit` in requests a second (a
 *   limit given per minute or hour is converted), or 0 when the pipeline
 *   sets none (or limits tokens only). The engine spaces batches at this
 *   rate, one schedule for all the stage's workers, reserving a batch's
 *   requests at once: a plugin that sends a batch's items as separate
 *   requests may space them 1 / @requests_per_second apart, so that the
 *   batch spreads over the time reserved for it rather than arriving as a
 *   burst. Since: ABI 2.2
 *
 * What the engine tells a stage instance when it creates it. Engine-owned
 * and valid until the instance is destroyed. Fields are only ever appended:
 * a plugin reads one from a later minor only if it was built for that minor
 * (the engine refuses a plugin built for a newer minor than its own).
 */
typedef struct
{
  const char *stage_name;
  guint worker_index;
  guint n_workers;
  const char *device;
  int device_index;
  const char *work_dir;
  const char *resume_state;
  guint max_in_flight;
  double requests_per_second;
  /* Later 2.x minors: append only; never reorder or remove. */
} SutraStageContext;

/**
 * SutraStageInfo:
 * @struct_size: sizeof (SutraStageInfo) as the plugin was built: begin every
 *   row with %SUTRA_STAGE_INFO_INIT and end the table with
 *   %SUTRA_STAGE_INFO_END, which set it. Since: ABI 2.0
 * @name: the stage's name, which pipeline files give as `plugin`; unique
 *   across all loaded plugins
 * @kind: the #SutraStageKind
 * @summary: one line for `sutra plugins` and `sutra inspect`
 * @params: the parameter table, ending with %SUTRA_PARAM_ROW_END
 * @settings_size: the size of the settings struct @params offsets point
 *   into; the engine allocates it, zeroed, and fills it
 * @threading: the #SutraThreading model
 * @devices: the #SutraDeviceFlags the stage supports
 * @create: makes an instance for one worker and device from the filled
 *   settings (which stay valid until the instance is destroyed). Succeeds
 *   fully or returns %NULL with @error set. May be %NULL for a stage that
 *   needs no instance: process then gets a %NULL instance.
 * @process: processes a batch of @n_items input items (a source gets none:
 *   @items is %NULL and @n_items 0, and it emits everything it produces in
 *   this one call). Returns %FALSE with @error set on failure; the items of
 *   the batch then count as failed. Every kind sets it, except a gather that
 *   streams (sets @gather_begin and the rest instead).
 * @finish: (nullable): called once per instance after its last batch, on
 *   success only: a sink flushes and closes its files here
 * @sync: (nullable): a sink's checkpoint in one step: make everything
 *   written so far durable (fsync) and return, in @state, a string the sink
 *   can resume from (say, the file's length); the engine records it in the
 *   journal and gives it back in #SutraStageContext.resume_state when the
 *   job resumes. A sink sets @sync or the pair @sync_prepare and
 *   @sync_commit, not both.
 * @destroy: (nullable): frees an instance @create made
 * @input_media_types: (nullable) (array zero-terminated=1): the media types
 *   the stage takes (`"text/plain"`; a subtype `*` takes the whole type),
 *   %NULL-terminated; %NULL means any (a stage that passes what it does not
 *   handle through takes any). A source takes no input: leave it %NULL.
 * @output_media_types: (nullable) (array zero-terminated=1): the media types
 *   the stage pushes, %NULL-terminated; %NULL means unspecified (for a map:
 *   what it was given). A sink pushes nothing: leave it %NULL.
 * @meta_keys: (nullable) (array zero-terminated=1): the metadata members the
 *   stage writes on the items it pushes, %NULL-terminated; an entry `"*"`
 *   says it writes others too (copied from its input, say). %NULL means
 *   unspecified; an empty array (`{ NULL }`), that it writes none.
 * @sync_prepare: (nullable): a sink's checkpoint in two steps, first step:
 *   make everything written so far durable and return, in @state (transfer
 *   full), the string the sink can resume from; the engine then records it in
 *   the journal. Returns %FALSE with @error set on failure. Since: ABI 2.0
 * @sync_commit: (nullable): second step, called with the state
 *   @sync_prepare returned once the journal has recorded it (so the sink may
 *   drop what it kept to undo the step: a temporary file, a transaction).
 *   Set both or neither. Since: ABI 2.0
 * @gather_begin: (nullable): a streaming gather opens a group given its
 *   first member (so that it can make the parent with
 *   sutra_item_new_parent (@first, ...)) and returns its per-group state,
 *   which must not be %NULL, or %NULL with @error set. Since: ABI 2.0
 * @gather_add: (nullable): called with every member of the group in path
 *   order, the first included. It must not keep a member it does not need
 *   (take a reference to keep one): the group's memory stays bounded by
 *   what the plugin keeps, never by the group's size. Since: ABI 2.0
 * @gather_end: (nullable): called once after the last member, with the
 *   member count; pushes exactly one item (the parent) onto @output and
 *   frees the group state, whether it succeeds or not. Since: ABI 2.0
 * @gather_abort: (nullable): frees the group state of a group that fails
 *   before @gather_end (a member failed upstream, a call failed, the run
 *   stops). Since: ABI 2.0
 * @cache_content: a map whose every output is worth keeping by content
 *   (a translation, a model's answer: slow per item, and the same inputs
 *   come again in other jobs): the engine keeps each item's output in the
 *   job's store, keyed by the stage's fingerprint, @cache_salt and the
 *   item's media type, payload and the metadata named by @cache_meta_keys,
 *   and gives an item seen before its output without calling @process. The
 *   pipeline's `"cache"` key overrides it (`"content"` or `"batch"`). For
 *   such a stage @process must be a pure function of those inputs; the
 *   metadata members it does not read must come out as they went in, or
 *   not at all (the engine replays what the output changed). Since: ABI 2.1
 * @cache_meta_keys: (nullable) (array zero-terminated=1): the metadata
 *   members @process reads, %NULL-terminated; only they are part of an
 *   item's content key, so the same text under another chapter title is
 *   found again. %NULL means all of the item's metadata. Since: ABI 2.1
 * @cache_salt: (nullable): returns (transfer full) what else the outputs
 *   depend on, besides the plugin's version and parameters (the installed
 *   version of a model or a dictionary), or %NULL with @error set, which
 *   fails the run before it starts. Called once per run, on sutra's main
 *   thread and in sutra's process whatever the stage's isolation, before
 *   any instance is created: it must be quick and must not keep state.
 *   Since: ABI 2.1
 *
 * One stage of a plugin. `sutra inspect` shows the media types and the
 * metadata keys, and `sutra validate` refuses a stage fed by one whose
 * declared outputs it does not take.
 *
 * A gather (kind %SUTRA_STAGE_GATHER) either streams, setting all four of
 * @gather_begin, @gather_add, @gather_end and @gather_abort and no @process,
 * or sets @process and gets all of a group's members in one call (which
 * holds the whole group in memory). One worker drives a group from begin to
 * end; a failed @gather_add or @gather_end fails the group (its members are
 * gone, so it is not retried member by member).
 *
 * Rows grow by appending: @struct_size tells the engine how far apart the
 * plugin's rows lie and which fields the plugin knows; a field the plugin's
 * @struct_size does not cover reads as %NULL or 0.
 */
typedef struct
{
  gsize struct_size;
  const char *name;
  SutraStageKind kind;
  const char *summary;
  const SutraParamInfo *params;
  gsize settings_size;
  SutraThreading threading;
  guint devices;
  gpointer (*create) (const SutraStageContext *context, gconstpointer settings, GError **error);
  gboolean (*process) (gpointer instance,
                       SutraItem *const *items,
                       guint n_items,
                       SutraOutput *output,
                       GError **error);
  gboolean (*finish) (gpointer instance, SutraOutput *output, GError **error);
  gboolean (*sync) (gpointer instance, char **state, GError **error);
  void (*destroy) (gpointer instance);
  const char *const *input_media_types;
  const char *const *output_media_types;
  const char *const *meta_keys;
  gboolean (*sync_prepare) (gpointer instance, char **state, GError **error);
  void (*sync_commit) (gpointer instance, const char *state);
  gpointer (*gather_begin) (gpointer instance, SutraItem *first, GError **error);
  gboolean (*gather_add) (gpointer instance, gpointer group, SutraItem *member, GError **error);
  gboolean (*gather_end) (gpointer instance,
                          gpointer group,
                          guint n_members,
                          SutraOutput *output,
                          GError **error);
  void (*gather_abort) (gpointer instance, gpointer group);
  /* 2.1 */
  gboolean cache_content;
  const char *const *cache_meta_keys;
  char *(*cache_salt) (gconstpointer settings, GError **error);
  /* Later 2.x minors: append only; never reorder or remove. */
} SutraStageInfo;

/**
 * SutraPluginInfo:
 * @abi_major: %SUTRA_ABI_MAJOR as the plugin was built
 * @abi_minor: %SUTRA_ABI_MINOR as the plugin was built
 * @struct_size: sizeof (SutraPluginInfo) as the plugin was built. Since: ABI 2.0
 * @name: the plugin's name; equals the module's file name without suffix
 * @version: the plugin's own version; part of every stage's fingerprint,
 *   so bump it when outputs change
 * @summary: one line for `sutra plugins`
 * @stages: the stages, ending with %SUTRA_STAGE_INFO_END
 *
 * What a plugin's one exported function returns. Constant: the engine never
 * modifies or frees it. Put %SUTRA_PLUGIN_INFO_INIT among its initialisers
 * (the plugins in sutra's tree put it last), which sets the first three
 * fields. @abi_major and @abi_minor stay first in every
 * ABI, so that the engine can refuse a plugin built for another one.
 */
typedef struct
{
  guint16 abi_major;
  guint16 abi_minor;
  guint32 struct_size;
  const char *name;
  const char *version;
  const char *summary;
  const SutraStageInfo *stages;
  /* Later 2.x minors: append only; never reorder or remove. */
} SutraPluginInfo;

/**
 * SUTRA_PLUGIN_INFO_INIT:
 *
 * The initialisers of a #SutraPluginInfo's ABI version and size: `static
 * const SutraPluginInfo info = { .name = ..., ..., SUTRA_PLUGIN_INFO_INIT };`
 */
#define SUTRA_PLUGIN_INFO_INIT                                \
  .abi_major = SUTRA_ABI_MAJOR, .abi_minor = SUTRA_ABI_MINOR, \
  .struct_size = sizeof (SutraPluginInfo)

/**
 * SUTRA_STAGE_INFO_INIT:
 *
 * The first initialiser of every #SutraStageInfo row: `{
 * SUTRA_STAGE_INFO_INIT, .name = ..., },`. It records the row's size, which
 * the engine steps through the table with.
 */
#define SUTRA_STAGE_INFO_INIT .struct_size = sizeof (SutraStageInfo)

/**
 * SUTRA_STAGE_INFO_END:
 *
 * The row that ends a stage table.
 */
#define SUTRA_STAGE_INFO_END            \
  {                                     \
    SUTRA_STAGE_INFO_INIT, .name = NULL \
  }

/** The name of the one symbol a plugin exports. */
#define SUTRA_PLUGIN_ENTRY_POINT "sutra_plugin_get_info"

/**
 * SUTRA_PLUGIN_DEFINE:
 * @info: a `static const SutraPluginInfo`
 *
 * Defines the plugin's one exported function. Build the plugin with hidden
 * visibility so that this is the only symbol it exports.
 */
/* clang-format off */
#define SUTRA_PLUGIN_DEFINE(info)                                              \
  SUTRA_EXPORT const SutraPluginInfo *sutra_plugin_get_info (void);            \
  const SutraPluginInfo *sutra_plugin_get_info (void) { return &(info); }

/* Helpers for parameter tables: one row per macro, defaults by type; each
 * sets the row's struct_size. */
#define SUTRA_PARAM_ROW_BOOL(n, s, f, def, fl, d)                              \
  { sizeof (SutraParamInfo), n, SUTRA_PARAM_BOOL, G_STRUCT_OFFSET (s, f), def, 0, NULL, 0, 1, NULL, fl, d }
#define SUTRA_PARAM_ROW_INT(n, s, f, def, lo, hi, fl, d)                       \
  { sizeof (SutraParamInfo), n, SUTRA_PARAM_INT, G_STRUCT_OFFSET (s, f), def, 0, NULL, lo, hi, NULL, fl, d }
#define SUTRA_PARAM_ROW_DOUBLE(n, s, f, def, lo, hi, fl, d)                    \
  { sizeof (SutraParamInfo), n, SUTRA_PARAM_DOUBLE, G_STRUCT_OFFSET (s, f), 0, def, NULL, lo, hi, NULL, fl, d }
#define SUTRA_PARAM_ROW_STRING(n, s, f, def, fl, d)                            \
  { sizeof (SutraParamInfo), n, SUTRA_PARAM_STRING, G_STRUCT_OFFSET (s, f), 0, 0, def, 0, 0, NULL, fl, d }
#define SUTRA_PARAM_ROW_ENUM(n, s, f, def, ch, fl, d)                          \
  { sizeof (SutraParamInfo), n, SUTRA_PARAM_ENUM, G_STRUCT_OFFSET (s, f), 0, 0, def, 0, 0, ch, fl, d }
#define SUTRA_PARAM_ROW_END { sizeof (SutraParamInfo), NULL, 0, 0, 0, 0, NULL, 0, 0, NULL, 0, NULL }
/* clang-format on */

/**
 * SUTRA_PLUGIN_ERROR:
 *
 * The error domain plugins use for their own failures when no more specific
 * domain (G_IO_ERROR, G_FILE_ERROR) fits.
 */
#define SUTRA_PLUGIN_ERROR (sutra_plugin_error_quark ())
SUTRA_API GQuark sutra_plugin_error_quark (void);

/**
 * SutraPluginError:
 * @SUTRA_PLUGIN_ERROR_FAILED: a failure with no better code
 * @SUTRA_PLUGIN_ERROR_INVALID_INPUT: an input item the stage cannot process
 *   (bad encoding, a damaged file); the message says the cause and where in
 *   the item (a byte offset, a file inside an archive). The engine prefixes
 *   the stage and the item id, so the message need not repeat them.
 * @SUTRA_PLUGIN_ERROR_UNSUPPORTED: the input is valid but of a kind the
 *   stage does not handle (a media type it does not take)
 */
typedef enum
{
  SUTRA_PLUGIN_ERROR_FAILED,
  SUTRA_PLUGIN_ERROR_INVALID_INPUT,
  SUTRA_PLUGIN_ERROR_UNSUPPORTED,
} SutraPluginError;

G_END_DECLS
