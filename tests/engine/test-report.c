/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of the run report: escaping, the graph's layout, and reports of real jobs in a browser. */

#include "sutra-report.h"
#include "sutra-test-util.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

/* Escaping ------------------------------------------------------------------ */

typedef struct
{
  const char *name;
  const char *text;
  gssize length;
  const char *escaped;
} EscapeCase;

static const EscapeCase escape_cases[] = {
  { "plain", "chapter 3", -1, "chapter 3" },
  { "markup", "<script>alert('x')</script>", -1,
    "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" },
  { "ampersand", "Tom & Jerry &amp;", -1, "Tom &amp; Jerry &amp;amp;" },
  { "attribute", "\" onload=\"x", -1, "&quot; onload=&quot;x" },
  { "utf8-kept", "ā “quoted” 語", -1, "ā “quoted” 語" },
  { "invalid-utf8", "a\xff\xfe b", -1, "a\xef\xbf\xbd\xef\xbf\xbd b" },
  { "control", "bell\a and\nnewline", -1, "bell\xef\xbf\xbd and\nnewline" },
  { "embedded-nul", "before\0after", 12,
    "before\xef\xbf\xbd"
    "after" },
  { "empty", "", -1, "" },
};

static void
test_report_escape (gconstpointer data)
{
  const EscapeCase *row = data;
  g_autofree char *escaped = sutra_report_escape (row->text, row->length);

  g_test_summary ("Text from books and plugins is safe in HTML, whatever its bytes");
  g_assert_cmpstr (escaped, ==, row->escaped);
  g_assert_true (g_utf8_validate (escaped, -1, NULL));
}

static void
test_report_escape_null (void)
{
  g_autofree char *escaped = sutra_report_escape (NULL, -1);

  g_test_summary ("A missing text is an empty one");
  g_assert_cmpstr (escaped, ==, "");
}

/* Layout -------------------------------------------------------------------- */

/* A pipeline as "name<-input,input" words: "read b<-read c<-read,b". */
static SutraReport *
report_from_spec (const char *spec)
{
  SutraReport *report = sutra_report_new ("spec");
  g_auto (GStrv) words = g_strsplit (spec, " ", -1);

  for (guint i = 0; words[i] != NULL; i++)
    {
      g_auto (GStrv) parts = g_strsplit (words[i], "<-", 2);
      g_auto (GStrv) inputs = parts[1] != NULL ? g_strsplit (parts[1], ",", -1) : NULL;

      sutra_report_add_stage (report, parts[0], "identity", (const char *const *) inputs);
    }
  sutra_report_layout (report);
  return report;
}

static SutraReportStage *
stage_named (SutraReport *report, const char *name)
{
  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];

      if (strcmp (stage->name, name) == 0)
        return stage;
    }
  g_assert_not_reached ();
  return NULL;
}

static gboolean
boxes_overlap (SutraReportStage *a, SutraReportStage *b)
{
  return a->x < b->x + SUTRA_REPORT_BOX_WIDTH && b->x < a->x + SUTRA_REPORT_BOX_WIDTH &&
         a->y < b->y + SUTRA_REPORT_BOX_HEIGHT && b->y < a->y + SUTRA_REPORT_BOX_HEIGHT;
}

typedef struct
{
  const char *name;
  const char *spec;
  const char *layers; /* each stage's expected depth, in the spec's order */
} LayoutCase;

static const LayoutCase layout_cases[] = {
  { "one-stage", "read", "0" },
  { "chain", "read pass<-read write<-pass", "012" },
  { "fan-out", "read a<-read b<-read c<-read", "0111" },
  { "diamond", "read left<-read right<-read join<-left,right", "0112" },
  /* A stage reading a source and a deep stage sits right of the deep one. */
  { "longest-path", "read a<-read b<-a c<-b mix<-read,c", "01234" },
  { "two-sources", "r1 r2 join<-r1,r2 out<-join", "0012" },
  { "listed-out-of-order", "write<-pass pass<-read read", "210" },
};

static void
test_report_layout (gconstpointer data)
{
  const LayoutCase *row = data;
  g_autoptr (SutraReport) report = report_from_spec (row->spec);

  g_test_summary ("Stages sit in columns by depth, every arrow points right, no two boxes "
                  "overlap, and the graph holds them all");
  g_assert_cmpuint (report->stages->len, ==, strlen (row->layers));
  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];

      g_assert_cmpuint (stage->layer, ==, row->layers[i] - '0');
      g_assert_cmpfloat (stage->x, >=, 0);
      g_assert_cmpfloat (stage->y, >=, 0);
      g_assert_cmpfloat (stage->x + SUTRA_REPORT_BOX_WIDTH, <=, report->width);
      g_assert_cmpfloat (stage->y + SUTRA_REPORT_BOX_HEIGHT, <=, report->height);
      for (guint k = 0; stage->inputs[k] != NULL; k++)
        g_assert_cmpfloat (stage_named (report, stage->inputs[k])->x + SUTRA_REPORT_BOX_WIDTH, <,
                           stage->x);
      for (guint j = 0; j < i; j++)
        g_assert_false (boxes_overlap (stage, report->stages->pdata[j]));
    }
}

static void
test_report_layout_cycle (void)
{
  g_autoptr (SutraReport) report = report_from_spec ("a<-c b<-a c<-b");

  g_test_summary ("A cycle (a damaged snapshot) still gets a finite layout");
  g_assert_cmpuint (stage_named (report, "a")->layer, <, 3);
  g_assert_cmpuint (stage_named (report, "b")->layer, <, 3);
  g_assert_cmpuint (stage_named (report, "c")->layer, <, 3);
}

static void
test_report_layout_keeps_arrows_short (void)
{
  /* Two chains side by side: each stage should sit level with its input,
   * whatever order the file lists them in. */
  g_autoptr (SutraReport) report = report_from_spec ("a1 b1 b2<-b1 a2<-a1 a3<-a2 b3<-b2");

  g_test_summary ("Stages sit level with what they read: parallel chains do not cross");
  g_assert_cmpfloat (stage_named (report, "a2")->y, ==, stage_named (report, "a1")->y);
  g_assert_cmpfloat (stage_named (report, "a3")->y, ==, stage_named (report, "a2")->y);
  g_assert_cmpfloat (stage_named (report, "b2")->y, ==, stage_named (report, "b1")->y);
  g_assert_cmpfloat (stage_named (report, "b3")->y, ==, stage_named (report, "b2")->y);
}

static void
test_report_graph_svg (void)
{
  g_autoptr (SutraReport) report = report_from_spec ("read <b>&x<-read out<-<b>&x,read");
  g_autofree char *svg = sutra_report_graph_svg (report);

  g_test_summary ("The graph is an SVG of one box per stage and one arrow per input, names "
                  "escaped");
  g_assert_true (g_str_has_prefix (svg, "<svg "));
  g_assert_cmpuint (sutra_test_count (svg, "<g class=\"stage "), ==, 3);
  g_assert_cmpuint (sutra_test_count (svg, "class=\"edge\""), ==, 3);
  sutra_assert_contains (svg, "&lt;b&gt;&amp;x");
  sutra_assert_not_contains (svg, "<b>");
  sutra_assert_contains (svg, "data-from=\"&lt;b&gt;&amp;x\" data-to=\"out\"");
}

/* The bottleneck ---------------------------------------------------------------- */

typedef struct
{
  const char *name;
  double busy[4]; /* each stage's busy share of its workers' time */
  int bottleneck; /* -1: none */
} BottleneckCase;

static const BottleneckCase bottleneck_cases[] = {
  { "middle", { 1.0, 0.95, 0.20, 0.01 }, 1 },
  { "last", { 1.0, 0.10, 0.30, 0.80 }, 3 },
  /* The source's one call lasts the whole run: it is never the bottleneck. */
  { "not-the-source", { 1.0, 0.10, 0.10, 0.10 }, -1 },
  { "none-busy", { 0.3, 0.40, 0.45, 0.2 }, -1 },
};

static void
test_report_bottleneck (gconstpointer data)
{
  const BottleneckCase *row = data;
  g_autoptr (SutraReport) report = report_from_spec ("read a<-read b<-a c<-b");
  g_autofree char *html = NULL;

  g_test_summary ("The bottleneck is the stage whose workers were busiest, when they were "
                  "busy most of the time");
  for (guint i = 0; i < 4; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];

      stage->state = g_strdup ("done");
      stage->workers = 2;
      stage->seconds = 10;
      stage->busy_us = (gint64) (row->busy[i] * 2 * 10 * G_USEC_PER_SEC);
    }
  sutra_report_layout (report);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpint (((SutraReportStage *) report->stages->pdata[i])->is_bottleneck, ==,
                     (int) i == row->bottleneck);
  html = sutra_report_to_html (report);
  g_assert_cmpuint (sutra_test_count (html, "<tr class=\"stage bottleneck\""), ==,
                    row->bottleneck >= 0 ? 1 : 0);
}

/* The document ------------------------------------------------------------------ */

static void
add_samples (SutraReportStage *stage,
             guint n,
             guint64 per_second,
             guint queue_fill,
             guint queue_capacity)
{
  for (guint k = 0; k < n; k++)
    {
      SutraJournalSample sample = { 0 };

      sample.t = k;
      g_strlcpy (sample.state, k + 1 < n ? "running" : "done", sizeof sample.state);
      sample.n_in = sample.n_out = k * per_second;
      sample.queue_fill = queue_fill;
      sample.queue_capacity = queue_capacity;
      sample.workers = 1;
      sample.busy_us = k * G_USEC_PER_SEC / 2;
      g_array_append_val (stage->samples, sample);
    }
}

static void
test_report_html (void)
{
  g_autoptr (SutraReport) report = report_from_spec ("read slow<-read");
  SutraReportStage *slow = stage_named (report, "slow");
  g_autofree char *html = NULL;

  g_test_summary ("The document has the header, graph, table, charts and failures, with "
                  "failure messages escaped and nothing loaded from elsewhere");
  g_free (report->name);
  report->name = g_strdup ("<audiobook>");
  slow->state = g_strdup ("failed");
  slow->n_in = 250;
  slow->n_failed = 2;
  /* A source has no input queue. */
  add_samples (stage_named (report, "read"), 6, 40, 0, 0);
  add_samples (slow, 6, 50, 80, 100);
  g_ptr_array_add (report->failures,
                   g_strdup ("slow\tbook/0003\tbad <img src=x onerror=alert(1)> & “quote”"));
  g_ptr_array_add (report->failures, g_strdup ("slow\tbook/0007\tline one\nline two"));
  report->n_more_failures = 5;
  html = sutra_report_to_html (report);

  g_assert_true (g_str_has_prefix (html, "<!DOCTYPE html>"));
  sutra_assert_contains (html, "<title>sutra report: &lt;audiobook&gt;</title>");
  sutra_assert_contains (html, "bad &lt;img src=x onerror=alert(1)&gt; &amp; “quote”");
  sutra_assert_not_contains (html, "<img");
  sutra_assert_contains (html, "line one\nline two");
  sutra_assert_contains (html, "Failures (7)");
  sutra_assert_contains (html, "… and 5 more");
  sutra_assert_contains (html, "<td class=\"num n-failed\">2</td>");
  sutra_assert_contains (html, "<td class=\"num n-in\">250</td>");
  /* One line per stage in the rate and busy charts; the source has no
   * input queue and no meaningful busy share. */
  g_assert_cmpuint (sutra_test_count (html, "<g class=\"series\" data-stage=\"slow\">"), ==, 3);
  g_assert_cmpuint (sutra_test_count (html, "<g class=\"series\" data-stage=\"read\">"), ==, 1);
  /* When each stage ran: both from the start to their last sample. */
  g_assert_cmpuint (sutra_test_count (html, "<g class=\"activity\" data-stage="), ==, 2);
  g_assert_cmpuint (sutra_test_count (html, "<rect class=\"done\" x=\"130.0\""), ==, 2);
  /* 50 items a second at most: the rate axis ends at the next round
   * step (20 each), the queue's at 100 %. */
  sutra_assert_contains (html, "text-anchor=\"end\">60</text>");
  sutra_assert_not_contains (html, "text-anchor=\"end\">80</text>");
  sutra_assert_contains (html, ">100%</text>");
  /* Self-contained: no scripts, no fetched styles, images or fonts. */
  sutra_assert_not_contains (html, "<script");
  sutra_assert_not_contains (html, "<link");
  g_assert_cmpuint (sutra_test_count (html, "url("), ==, sutra_test_count (html, "url(#"));
  sutra_assert_not_contains (html, "src=\"");
  sutra_assert_not_contains (html, "href=\"http");
}

static void
test_report_html_without_samples (void)
{
  g_autoptr (SutraReport) report = report_from_spec ("read write<-read");
  g_autofree char *html = sutra_report_to_html (report);

  g_test_summary ("A job that recorded no samples (an older sutra's) says so in the charts");
  g_assert_cmpuint (sutra_test_count (html, "No samples were recorded"), ==, 4);
  sutra_assert_contains (html, "No item failed and was skipped.");
}

/* Real jobs -------------------------------------------------------------------- */

static char *
sutra_path (void)
{
  return g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL);
}

static char **
child_env (void)
{
  char **env = g_get_environ ();

  /* Messages quote with “ ” and GOption converts to the locale's charset. */
  return g_environ_setenv (env, "LC_ALL", "C.UTF-8", TRUE);
}

/* Runs sutra with the arguments after @err (NULL-terminated) in @cwd;
 * returns its exit status. */
static int G_GNUC_NULL_TERMINATED
run_sutra (const char *cwd, char **out, char **err, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *sutra = sutra_path ();
  g_auto (GStrv) env = child_env ();
  g_autoptr (GError) error = NULL;
  g_autofree char *line = NULL;
  const char *arg;
  va_list args;
  int status = 0;

  g_ptr_array_add (argv, sutra);
  va_start (args, err);
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  line = g_strjoinv (" ", (char **) argv->pdata);
  g_spawn_sync (cwd, (char **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, out, err, &status,
                &error);
  g_assert_no_error (error);
  g_test_message ("$ %s\nstdout: %s\nstderr: %s", line, *out, *err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static char *
find_chromium (void)
{
  const char *const names[] = { "chromium", "chromium-browser", "google-chrome", NULL };

  for (guint i = 0; names[i] != NULL; i++)
    {
      char *path = g_find_program_in_path (names[i]);

      if (path != NULL)
        return path;
    }
  return NULL;
}

/* Opens @html in headless chromium: the DOM it built, and a screenshot in
 * @png (nullable). NULL with the test skipped when there is no chromium. */
static char *
browse (const char *dir, const char *html, const char *png)
{
  g_autofree char *chromium = find_chromium ();
  g_autofree char *timeout = g_find_program_in_path ("timeout");
  g_autofree char *profile = g_build_filename (dir, "chromium-profile", NULL);
  g_autofree char *profile_arg = g_strconcat ("--user-data-dir=", profile, NULL);
  g_autofree char *uri = g_filename_to_uri (html, NULL, NULL);
  g_autofree char *shot_arg = png != NULL ? g_strconcat ("--screenshot=", png, NULL) : NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) env = g_get_environ ();
  char *out = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  if (chromium == NULL)
    {
      g_test_skip ("no chromium to open the report in (install Debian's chromium package; "
                   "scripts/setup-debian.sh does)");
      return NULL;
    }
  /* A hung browser fails the test instead of hanging it. */
  if (timeout != NULL)
    {
      g_ptr_array_add (argv, timeout);
      g_ptr_array_add (argv, "120");
    }
  g_ptr_array_add (argv, chromium);
  g_ptr_array_add (argv, "--headless");
  /* The sandbox needs user namespaces, which containers and root lack;
   * the page is the test's own. */
  g_ptr_array_add (argv, "--no-sandbox");
  g_ptr_array_add (argv, "--disable-gpu");
  g_ptr_array_add (argv, "--disable-dev-shm-usage");
  g_ptr_array_add (argv, "--no-first-run");
  g_ptr_array_add (argv, profile_arg);
  g_ptr_array_add (argv, "--window-size=1280,1800");
  g_ptr_array_add (argv, png != NULL ? shot_arg : "--dump-dom");
  g_ptr_array_add (argv, uri);
  g_ptr_array_add (argv, NULL);
  /* The sanitizers' settings are for sutra, not for the browser. */
  env = g_environ_unsetenv (env, "LD_PRELOAD");
  g_spawn_sync (dir, (char **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                &error);
  g_assert_no_error (error);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    g_test_message ("chromium: %s", err);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  return out;
}

/* The PNG's width and height, from its header. */
static void
png_size (const char *path, guint *width, guint *height)
{
  g_autofree guchar *data = NULL;
  gsize length = 0;
  g_autoptr (GError) error = NULL;

  g_file_get_contents (path, (char **) &data, &length, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (length, >, 24);
  g_assert_cmpmem (data, 8, "\x89PNG\r\n\x1a\n", 8);
  *width = GUINT32_FROM_BE (*(guint32 *) (data + 16));
  *height = GUINT32_FROM_BE (*(guint32 *) (data + 20));
}

/* A source fanning out to a stage that fails one item (whose id has
 * markup in it: the file's name) and a copy, each into a sink. */
static const char fanout_pipeline[] =
  "{ \"sutra\": 1, \"name\": \"report-demo\", \"stages\": {\n"
  "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"x<i>&y.txt\" } },\n"
  "  \"check\": { \"plugin\": \"fault\", \"input\": \"read\", \"on_error\": \"skip\",\n"
  "             \"workers\": 2, \"params\": { \"fail_on\": \"*:3\" } },\n"
  "  \"copy\": { \"plugin\": \"identity\", \"input\": \"read\" },\n"
  "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"check\",\n"
  "             \"params\": { \"path\": \"checked.jsonl\" } },\n"
  "  \"keep\": { \"plugin\": \"jsonl-sink\", \"input\": \"copy\",\n"
  "            \"params\": { \"path\": \"copied.jsonl\" } } } }\n";

static void
test_report_in_browser (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *pipeline = sutra_test_write (dir, "demo.json", fanout_pipeline, -1);
  g_autofree char *input =
    sutra_test_write (dir, "x<i>&y.txt", "one\ntwo\nthree\nfour\nfive\n", -1);
  g_autofree char *report = g_build_filename (dir, "report.html", NULL);
  g_autofree char *png = g_build_filename (dir, "report.png", NULL);
  g_autofree char *out = NULL, *err = NULL, *html = NULL, *dom = NULL, *shot = NULL;
  const char *const stages[] = { "read", "check", "copy", "write", "keep" };
  guint width = 0, height = 0;

  g_test_summary ("sutra run --report writes a report that a real browser shows with every "
                  "stage, the counts and the failure's message, as text");
  g_assert_cmpint (run_sutra (dir, &out, &err, "run", "-q", "-j", "job", "--report", "report.html",
                              "demo.json", NULL),
                   ==, 0);
  g_assert_true (g_file_get_contents (report, &html, NULL, NULL));
  sutra_assert_not_contains (html, "<script");
  sutra_assert_not_contains (html, "<link");
  g_assert_cmpuint (sutra_test_count (html, "url("), ==, sutra_test_count (html, "url(#"));

  dom = browse (dir, report, NULL);
  if (dom == NULL)
    return;
  sutra_assert_contains (dom, "<title>sutra report: report-demo</title>");
  sutra_assert_contains (dom, "id=\"job-state\">done<");
  for (guint i = 0; i < G_N_ELEMENTS (stages); i++)
    {
      g_autofree char *node = g_strdup_printf ("id=\"node-%s\"", stages[i]);
      g_autofree char *row = g_strdup_printf ("id=\"stage-%s\"", stages[i]);

      sutra_assert_contains (dom, node);
      sutra_assert_contains (dom, row);
    }
  g_assert_cmpuint (sutra_test_count (dom, "class=\"edge\""), ==, 4);
  /* The counts: five lines read, one of them failed in “check”. */
  sutra_assert_contains (dom, "id=\"stage-read\"");
  sutra_assert_contains (dom, "<td class=\"num n-out\">5</td>");
  sutra_assert_contains (dom, "<td class=\"num n-failed\">1</td>");
  sutra_assert_contains (dom, "5 items · <tspan class=\"failed\">1 failed</tspan>");
  sutra_assert_contains (dom, "Failures (1)");
  /* The message as text, its markup escaped: the browser made no element
   * of it. */
  sutra_assert_contains (dom, "failing on purpose at item “x&lt;i&gt;&amp;y:3”");
  sutra_assert_not_contains (dom, "<i>");
  sutra_assert_contains (dom, "id=\"fact-inputs\">x&lt;i&gt;&amp;y.txt<");
  sutra_assert_contains (dom, "checked.jsonl\ncopied.jsonl");
  sutra_assert_contains (dom, "--report report.html");

  shot = browse (dir, report, png);
  png_size (png, &width, &height);
  g_assert_cmpuint (width, ==, 1280);
  g_assert_cmpuint (height, ==, 1800);
}

static const char failing_pipeline[] =
  "{ \"sutra\": 1, \"name\": \"fails\", \"stages\": {\n"
  "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"in.txt\" } },\n"
  "  \"check\": { \"plugin\": \"fault\", \"input\": \"read\", \"params\": { \"fail_on\": \"*:2\" } "
  "},\n"
  "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"check\",\n"
  "             \"params\": { \"path\": \"out.jsonl\" } } } }\n";

static void
test_report_failed_run (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *pipeline = sutra_test_write (dir, "fails.json", failing_pipeline, -1);
  g_autofree char *input = sutra_test_write (dir, "in.txt", "a\nb\nc\n", -1);
  g_autofree char *report = g_build_filename (dir, "failed.html", NULL);
  g_autofree char *out = NULL, *err = NULL, *html = NULL, *dom = NULL;

  g_test_summary ("A failed run still writes its report, which says it failed and why");
  g_assert_cmpint (run_sutra (dir, &out, &err, "run", "-q", "-j", "job", "--report", "failed.html",
                              "fails.json", NULL),
                   ==, 1);
  g_assert_true (g_file_get_contents (report, &html, NULL, NULL));
  sutra_assert_contains (html, "id=\"job-state\">failed<");
  sutra_assert_contains (html, "id=\"fact-error\">stage “check”");
  sutra_assert_contains (html, "<p class=\"run-error\">The run failed: <code>stage “check”");
  sutra_assert_contains (html, "failing on purpose at item “in:2”");
  sutra_assert_contains (html, "<span class=\"pill failed\">failed</span>");

  dom = browse (dir, report, NULL);
  if (dom == NULL)
    return;
  sutra_assert_contains (dom, "id=\"job-state\">failed<");
}

static void
test_report_stage_cannot_start (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *pipeline = sutra_test_write (
    dir, "nostart.json",
    "{ \"sutra\": 1, \"name\": \"nostart\", \"stages\": {\n"
    "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"in.txt\" } },\n"
    "  \"check\": { \"plugin\": \"fault\", \"input\": \"read\",\n"
    "             \"params\": { \"fail_create\": true } },\n"
    "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"check\",\n"
    "             \"params\": { \"path\": \"out.jsonl\" } } } }\n",
    -1);
  g_autofree char *input = sutra_test_write (dir, "in.txt", "a\n", -1);
  g_autofree char *report = g_build_filename (dir, "nostart.html", NULL);
  g_autofree char *out = NULL, *err = NULL, *html = NULL;

  g_test_summary ("A run whose stage cannot start still gets a report that says so");
  g_assert_cmpint (run_sutra (dir, &out, &err, "run", "-q", "-j", "job", "--report", "nostart.html",
                              "nostart.json", NULL),
                   ==, 1);
  g_assert_true (g_file_get_contents (report, &html, NULL, NULL));
  sutra_assert_contains (html, "id=\"job-state\">failed<");
  sutra_assert_contains (html, "id=\"fact-error\">stage “check” (plugin “fault”) could not start");
  sutra_assert_contains (html, "id=\"fact-inputs\">in.txt<");
}

static gboolean
has_samples (const char *journal)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *statement = NULL;
  gboolean found = FALSE;

  if (sqlite3_open_v2 (journal, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2 (db, "SELECT COUNT (DISTINCT seq) FROM timeline WHERE n_in > 0", -1,
                          &statement, NULL) == SQLITE_OK &&
      sqlite3_step (statement) == SQLITE_ROW)
    found = sqlite3_column_int (statement, 0) >= 2;
  sqlite3_finalize (statement);
  sqlite3_close (db);
  return found;
}

static void
test_report_killed_run (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *job = g_build_filename (dir, "job", NULL);
  g_autofree char *journal = g_build_filename (job, "journal.db", NULL);
  g_autofree char *sutra = sutra_path ();
  g_autoptr (GString) lines = g_string_new (NULL);
  g_autofree char *input = NULL, *pipeline = NULL, *out = NULL, *err = NULL, *html = NULL;
  g_auto (GStrv) env = child_env ();
  g_autoptr (GError) error = NULL;
  const char *argv[] = { sutra, "run", "-q", "-j", "job", "slow.json", NULL };
  GPid pid;
  int status;

  g_test_summary ("After the fact, a killed run's report says it was interrupted and shows "
                  "what it had done");
  for (guint i = 0; i < 2000; i++)
    g_string_append_printf (lines, "line %u\n", i);
  input = sutra_test_write (dir, "in.txt", lines->str, lines->len);
  pipeline = sutra_test_write (
    dir, "slow.json",
    "{ \"sutra\": 1, \"name\": \"slow\", \"stages\": {\n"
    "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"in.txt\" } },\n"
    "  \"pass\": { \"plugin\": \"identity\", \"input\": \"read\", \"batch\": 1,\n"
    "            \"params\": { \"sleep_us\": 20000 } },\n"
    "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"pass\",\n"
    "             \"params\": { \"path\": \"out.jsonl\" } } } }\n",
    -1);
  g_spawn_async (dir, (char **) argv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error);
  g_assert_no_error (error);
  /* Killed once it has recorded progress twice (a rate needs two samples):
   * whenever that is, not after a guessed time. The run takes 40 s; it
   * records a sample each second. */
  while (!has_samples (journal))
    g_usleep (20 * 1000);
  kill (pid, SIGKILL);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);

  g_assert_cmpint (run_sutra (dir, &out, &err, "report", "job", NULL), ==, 0);
  g_assert_cmpstr (out, ==, "job/report.html\n");
  {
    g_autofree char *path = g_build_filename (job, "report.html", NULL);

    g_assert_true (g_file_get_contents (path, &html, NULL, NULL));
  }
  sutra_assert_contains (html, "id=\"job-state\">interrupted<");
  sutra_assert_contains (html, "<span class=\"pill running\">running</span>");
  g_assert_cmpuint (sutra_test_count (html, "<g class=\"series\" data-stage=\"pass\">"), ==, 3);
}

static void
test_report_resumed_job (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *pipeline = sutra_test_write (dir, "fails.json", failing_pipeline, -1);
  g_autofree char *input = sutra_test_write (dir, "in.txt", "a\nb\nc\n", -1);
  g_autofree char *out = NULL, *err = NULL, *html = NULL;
  g_autofree char *out2 = NULL, *err2 = NULL, *out3 = NULL, *err3 = NULL;

  g_test_summary ("Every run of a job is listed, each with its command and how it ended");
  g_assert_cmpint (run_sutra (dir, &out, &err, "run", "-q", "-j", "job", "fails.json", NULL), ==,
                   1);
  g_assert_cmpint (run_sutra (dir, &out2, &err2, "resume", "-q", "job", NULL), ==, 1);
  g_assert_cmpint (run_sutra (dir, &out3, &err3, "report", "job", "-o", "two-runs.html", NULL), ==,
                   0);
  g_assert_cmpstr (out3, ==, "two-runs.html\n");
  {
    g_autofree char *path = g_build_filename (dir, "two-runs.html", NULL);

    g_assert_true (g_file_get_contents (path, &html, NULL, NULL));
  }
  sutra_assert_contains (html, "Runs of this job");
  g_assert_cmpuint (sutra_test_count (html, "<span class=\"pill failed\">failed</span></td><td "
                                            "class=\"message\">"),
                    ==, 2);
  sutra_assert_contains (html, " resume -q job</td>");
}

static void
test_report_bad_use (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *pipeline = sutra_test_write (dir, "fails.json", failing_pipeline, -1);
  g_autofree char *input = sutra_test_write (dir, "in.txt", "a\nb\nc\n", -1);
  g_autofree char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;
  g_autofree char *not_a_job = g_build_filename (dir, "empty", NULL);

  g_test_summary ("A directory that holds no job, and --report without a job, are refused, "
                  "saying why");
  g_assert_cmpint (g_mkdir_with_parents (not_a_job, 0700), ==, 0);
  g_assert_cmpint (run_sutra (dir, &out, &err, "report", "empty", NULL), ==, 5);
  sutra_assert_contains (err, "empty");
  g_assert_cmpint (run_sutra (dir, &out2, &err2, "run", "--no-job", "--report", "r.html",
                              "fails.json", NULL),
                   ==, 2);
  sutra_assert_contains (err2, "--report");
  sutra_assert_contains (err2, "--no-job");
  {
    g_autofree char *path = g_build_filename (dir, "r.html", NULL);

    g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (escape_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/report/escape/%s", escape_cases[i].name);

      g_test_add_data_func (path, &escape_cases[i], test_report_escape);
    }
  g_test_add_func ("/engine/report/escape/null", test_report_escape_null);
  for (gsize i = 0; i < G_N_ELEMENTS (layout_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/report/layout/%s", layout_cases[i].name);

      g_test_add_data_func (path, &layout_cases[i], test_report_layout);
    }
  g_test_add_func ("/engine/report/layout/cycle", test_report_layout_cycle);
  g_test_add_func ("/engine/report/layout/keeps-arrows-short",
                   test_report_layout_keeps_arrows_short);
  g_test_add_func ("/engine/report/graph-svg", test_report_graph_svg);
  for (gsize i = 0; i < G_N_ELEMENTS (bottleneck_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/report/bottleneck/%s", bottleneck_cases[i].name);

      g_test_add_data_func (path, &bottleneck_cases[i], test_report_bottleneck);
    }
  g_test_add_func ("/engine/report/html", test_report_html);
  g_test_add_func ("/engine/report/html-without-samples", test_report_html_without_samples);
  g_test_add_func ("/engine/report/in-browser", test_report_in_browser);
  g_test_add_func ("/engine/report/failed-run", test_report_failed_run);
  g_test_add_func ("/engine/report/stage-cannot-start", test_report_stage_cannot_start);
  g_test_add_func ("/engine/report/killed-run", test_report_killed_run);
  g_test_add_func ("/engine/report/resumed-job", test_report_resumed_job);
  g_test_add_func ("/engine/report/bad-use", test_report_bad_use);
  return g_test_run ();
}
