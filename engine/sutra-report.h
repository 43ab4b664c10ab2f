/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraReport: a job's run report, one self-contained HTML file. */

#pragma once

#include "sutra-journal.h"

G_BEGIN_DECLS

#define SUTRA_REPORT_ERROR (sutra_report_error_quark ())
GQuark sutra_report_error_quark (void);

typedef enum
{
  SUTRA_REPORT_ERROR_READ,  /* the job cannot be read */
  SUTRA_REPORT_ERROR_WRITE, /* the report cannot be written */
} SutraReportError;

/* One stage, as the report shows it. */
typedef struct
{
  char *name;
  char *plugin;
  char **inputs; /* the stages it reads, by name */
  guint workers;
  /* The stage's last run, from the journal (state NULL: never ran). */
  char *state;
  guint64 n_in, n_out, n_failed, n_cached, n_total;
  double seconds;
  gint64 busy_us; /* -1: not recorded */
  guint queue_capacity;
  GArray *samples; /* SutraJournalSample, the last run's, in time order */
  char *devices;   /* items per device ("cuda:0 600, cuda:1 400"), or NULL */
  /* Filled by sutra_report_layout(). */
  guint layer; /* longest path from a source */
  guint slot;  /* position within the layer, from the top */
  double x, y; /* the box's top left corner in the graph */
  gboolean is_bottleneck;
} SutraReportStage;

typedef struct
{
  char *job_dir;
  char *name;            /* the pipeline's name */
  GPtrArray *stages;     /* SutraReportStage *, in the pipeline file's order */
  GPtrArray *runs;       /* SutraJournalRun *, first run first */
  GPtrArray *failures;   /* char * "stage\titem\tmessage" */
  guint n_more_failures; /* recorded but left out of the list */
  gboolean job_running;  /* a sutra runs the job now */
  /* The graph's size, from sutra_report_layout(). */
  double width, height;
} SutraReport;

#define SUTRA_REPORT_BOX_WIDTH 200.0
#define SUTRA_REPORT_BOX_HEIGHT 84.0

SutraReport *sutra_report_new (const char *name);
void sutra_report_free (SutraReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraReport, sutra_report_free)

/* Adds a stage reading @inputs (NULL-terminated stage names, nullable).
 * Returns: (transfer none): the stage, for its counters to be filled. */
SutraReportStage *sutra_report_add_stage (SutraReport *report,
                                          const char *name,
                                          const char *plugin,
                                          const char *const *inputs);

/* Reads the job in @job_dir: its pipeline snapshot and journal. Works on
 * a finished, failed, interrupted or running job.
 * Returns: (transfer full): the report, or NULL with @error set. */
SutraReport *sutra_report_load (const char *job_dir, GError **error);

/* Places the stages: one column per depth (a stage sits right of every
 * stage it reads), each column ordered to keep arrows short; and marks
 * the bottleneck, the stage whose workers were busiest. */
void sutra_report_layout (SutraReport *report);

/* Returns: (transfer full): @text (@length bytes, or -1: up to its NUL)
 * safe in HTML text and attribute values; invalid UTF-8 is replaced. */
char *sutra_report_escape (const char *text, gssize length);

/* Returns: (transfer full): the pipeline graph as an inline SVG element. */
char *sutra_report_graph_svg (SutraReport *report);

/* Returns: (transfer full): the whole report as an HTML document. */
char *sutra_report_to_html (SutraReport *report);

/* Loads the job in @job_dir and writes its report to @path (atomically). */
gboolean sutra_report_write (const char *job_dir, const char *path, GError **error);

G_END_DECLS
