/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of plugins/http through the real loader and the harness, against a
 * stand-in API on 127.0.0.1 (fake-api.py): the only stand-in sutra's tests
 * use, because the real thing is a remote service. */

#include "sutra-harness.h"
#include "sutra-pipeline.h"
#include "sutra-registry.h"
#include "sutra-run.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static SutraRegistry *registry;
static GPid server_pid;
static int server_stdin = -1;
static char *base_url;

/* Starts fake-api.py with @options (NULL-terminated) and reads the port it
 * listens on; it serves until *@stdin_fd closes. */
static gboolean
start_server_with (const char *const *options, GPid *pid, int *stdin_fd, char **url)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GIOChannel) channel = NULL;
  g_autofree char *line = NULL;
  int out_fd;

  g_ptr_array_add (argv, "python3");
  g_ptr_array_add (argv, FAKE_API);
  for (guint i = 0; options != NULL && options[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) options[i]);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_async_with_pipes (NULL, (char **) argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                                 pid, stdin_fd, &out_fd, NULL, &error))
    return FALSE;
  channel = g_io_channel_unix_new (out_fd);
  g_io_channel_set_close_on_unref (channel, TRUE);
  if (g_io_channel_read_line (channel, &line, NULL, NULL, NULL) != G_IO_STATUS_NORMAL)
    return FALSE;
  *url = g_strdup_printf ("http://127.0.0.1:%d", atoi (line));
  return TRUE;
}

static void
stop_server (GPid pid, int stdin_fd)
{
  close (stdin_fd);
  kill (pid, SIGTERM);
  g_spawn_close_pid (pid);
}

static gboolean
start_server (void)
{
  return start_server_with (NULL, &server_pid, &server_stdin, &base_url);
}

static JsonObject *
stats_of (const char *url_base)
{
  g_autofree char *url = g_strdup_printf ("%s/stats", url_base);
  const char *argv[] = { "python3", "-c",
                         "import sys, urllib.request; "
                         "sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())",
                         url, NULL };
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL, NULL,
                &error);
  g_assert_no_error (error);
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static JsonObject *
server_stats (void)
{
  return stats_of (base_url);
}

/* Starts the server's counts of requests in flight at once afresh. */
static void
server_reset_peaks (void)
{
  g_autofree char *url = g_strdup_printf ("%s/reset", base_url);
  const char *argv[] = { "python3", "-c",
                         "import sys, urllib.request; urllib.request.urlopen(sys.argv[1]).read()",
                         url, NULL };
  g_autoptr (GError) error = NULL;
  gint status = 0;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status,
                &error);
  g_assert_no_error (error);
  g_spawn_check_wait_status (status, &error);
  g_assert_no_error (error);
}

static gint64
times_seen (const char *text)
{
  g_autoptr (JsonObject) stats = server_stats ();
  JsonObject *seen = json_object_get_object_member (stats, "seen");

  return json_object_has_member (seen, text) ? json_object_get_int_member (seen, text) : 0;
}

static SutraHarness *
chat_harness (const char *extra, GError **error)
{
  g_autofree char *params =
    g_strdup_printf ("{\"url\": \"%s/v1/chat/completions\", \"model\": \"m1\", \"api_key_env\": "
                     "\"SUTRA_TEST_KEY\", \"backoff_ms\": 10%s%s}",
                     base_url, extra != NULL ? ", " : "", extra != NULL ? extra : "");

  return sutra_harness_new (registry, "http", params, error);
}

static GPtrArray *
send_texts (SutraHarness *harness, const char *const *texts, GError **error)
{
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);

  for (guint i = 0; texts[i] != NULL; i++)
    {
      g_autofree char *id = g_strdup_printf ("doc/%u", i);
      SutraItem *item = sutra_item_new_root (id, i, SUTRA_MEDIA_TEXT_PLAIN,
                                             g_bytes_new (texts[i], strlen (texts[i])));

      json_object_set_string_member (sutra_item_ensure_meta (item), "chapter", "Ch. 1");
      g_ptr_array_add (items, item);
    }
  return sutra_harness_process (harness, (SutraItem *const *) items->pdata, items->len, error);
}

static char *
text_of (SutraItem *item)
{
  gsize size;
  const guint8 *data = sutra_item_get_data (item, &size);

  return g_strndup ((const char *) data, size);
}

static void
test_http_chat (void)
{
  const char *const texts[] = { "hello there", "second chunk", "third", NULL };
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GPtrArray) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) stats = NULL;
  g_autofree char *first = NULL;
  JsonArray *auth;

  g_test_summary ("Chat mode sends each item's text as the user message with the model and the "
                  "key from the environment, and keeps the reply text, in item order, with "
                  "the token counts in metadata");
  harness = chat_harness (NULL, &error);
  g_assert_no_error (error);
  out = send_texts (harness, texts, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, 3);
  first = text_of (out->pdata[0]);
  g_assert_cmpstr (first, ==, "ECHO: HELLO THERE");
  g_assert_cmpstr (sutra_item_get_id (out->pdata[2]), ==, "doc/2");
  g_assert_cmpint (sutra_item_get_meta_int (out->pdata[0], "prompt_tokens", -1), ==, 2);
  g_assert_cmpint (sutra_item_get_meta_int (out->pdata[0], "completion_tokens", -1), ==, 3);
  g_assert_cmpint (sutra_item_get_meta_int (out->pdata[0], "total_tokens", -1), ==, 5);
  g_assert_cmpstr (sutra_item_get_meta_string (out->pdata[0], "model", NULL), ==, "m1");
  g_assert_cmpstr (sutra_item_get_meta_string (out->pdata[0], "chapter", NULL), ==, "Ch. 1");
  stats = server_stats ();
  auth = json_object_get_array_member (stats, "auth");
  g_assert_cmpuint (json_array_get_length (auth), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (auth, 0), ==, "Bearer sk-test-0123456789");
}

static void
test_http_429 (void)
{
  const char *const texts[] = { "a RATE429 b", "c DATE429 d", "e HUGE429 f", NULL };
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GPtrArray) out = NULL;
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  g_test_summary ("HTTP 429 is honoured: Retry-After in seconds or as a date is waited for, "
                  "and an absurdly large one is cut to max_wait_ms; each item is asked twice "
                  "and succeeds");
  harness = chat_harness ("\"max_wait_ms\": 1500", &error);
  g_assert_no_error (error);
  out = send_texts (harness, texts, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_cmpint (sutra_item_get_meta_int (out->pdata[i], "http_attempts", -1), ==, 2);
      g_assert_cmpint (times_seen (texts[i]), ==, 2);
    }
  /* The waits were taken (not a timing assertion on speed: a lower bound
   * that only a skipped wait would break). */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 900 * 1000);
}

static void
test_http_5xx (void)
{
  const char *const flaky[] = { "FLAKY500 once", NULL };
  const char *const down[] = { "ALWAYS503 now", NULL };
  const char *const bad[] = { "BAD400 here", NULL };
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GPtrArray) out = NULL;
  g_autoptr (GError) error = NULL;

  g_test_summary ("5xx answers are retried with backoff up to max_attempts; a 4xx is not "
                  "retried; no error message shows the API key, even when the server echoes "
                  "it");
  harness = chat_harness ("\"max_attempts\": 3", &error);
  g_assert_no_error (error);
  out = send_texts (harness, flaky, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sutra_item_get_meta_int (out->pdata[0], "http_attempts", -1), ==, 3);
  g_clear_pointer (&out, g_ptr_array_unref);

  out = send_texts (harness, down, &error);
  g_assert_null (out);
  g_assert_nonnull (strstr (error->message, "failed 3 times"));
  g_assert_nonnull (strstr (error->message, "HTTP 503"));
  g_assert_null (strstr (error->message, "sk-test-0123456789"));
  g_assert_nonnull (strstr (error->message, "[api key]"));
  g_assert_cmpint (times_seen (down[0]), ==, 3);
  g_clear_error (&error);

  out = send_texts (harness, bad, &error);
  g_assert_null (out);
  g_assert_nonnull (strstr (error->message, "not retried"));
  g_assert_cmpint (times_seen (bad[0]), ==, 1);
}

static void
test_http_timeout (void)
{
  const char *const slow[] = { "SLOW one", NULL };
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GPtrArray) out = NULL;
  g_autoptr (GError) error = NULL;

  g_test_summary ("A request past request_timeout_ms is retried, then fails the batch");
  harness = chat_harness ("\"request_timeout_ms\": 300, \"max_attempts\": 2", &error);
  g_assert_no_error (error);
  out = send_texts (harness, slow, &error);
  g_assert_null (out);
  g_assert_nonnull (strstr (error->message, "failed 2 times"));
  g_assert_nonnull (strstr (error->message, "imeout"));
}

static void
test_http_in_flight (void)
{
  const char *const busy[] = { "BUSY 1", "BUSY 2", "BUSY 3", "BUSY 4", "BUSY 5",
                               "BUSY 6", "BUSY 7", "BUSY 8", NULL };
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GPtrArray) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) stats = NULL;
  gint64 most;

  g_test_summary ("A batch's requests are in flight together, never more than max_in_flight");
  harness = chat_harness ("\"max_in_flight\": 4", &error);
  g_assert_no_error (error);
  out = send_texts (harness, busy, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, 8);
  stats = server_stats ();
  most = json_object_get_int_member (stats, "max_in_flight");
  g_assert_cmpint (most, >=, 2);
  g_assert_cmpint (most, <=, 4);
}

/* A pipeline of several http workers under one stage-level bound. */
typedef struct
{
  const char *name;
  const char *isolation;
  guint workers;
  guint max_in_flight;
  guint n_items;
} FlightCase;

static const FlightCase flight_cases[] = {
  { "threads", "thread", 3, 4, 24 },
  { "processes", "process", 3, 4, 24 },
  { "one-at-a-time", "thread", 2, 1, 6 },
};

static void
test_http_stage_in_flight (gconstpointer data)
{
  const FlightCase *row = data;
  g_autofree char *dir = g_dir_make_tmp ("sutra-http-flight-XXXXXX", NULL);
  g_autofree char *input = g_build_filename (dir, "lines.txt", NULL);
  g_autofree char *output = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *text = NULL;
  g_autofree char *out = NULL;
  g_autoptr (GString) lines = g_string_new (NULL);
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) stats = NULL;
  g_auto (GStrv) written = NULL;
  JsonObject *seen;
  SutraRun *run;
  gint64 most;

  g_test_summary ("The stage's max_in_flight bounds the requests of all its workers together "
                  "(threads or processes), without the plugin's own parameter: the server "
                  "never sees more at once, and every item is asked exactly once");
  server_reset_peaks ();
  for (guint i = 0; i < row->n_items; i++)
    g_string_append_printf (lines, "BUSY %s %u\n", row->name, i);
  g_file_set_contents (input, lines->str, -1, &error);
  g_assert_no_error (error);
  text =
    g_strdup_printf ("{\"sutra\": 1, \"stages\": {"
                     "\"read\": {\"plugin\": \"text-source\", \"params\": {\"path\": \"%s\"}},"
                     "\"ask\": {\"plugin\": \"http\", \"input\": \"read\", \"workers\": %u, "
                     "\"isolation\": \"%s\", \"max_in_flight\": %u, "
                     "\"params\": {\"url\": \"%s/v1/chat/completions\", \"api_key_env\": "
                     "\"SUTRA_TEST_KEY\"}},"
                     "\"write\": {\"plugin\": \"jsonl-sink\", \"input\": \"ask\", \"params\": "
                     "{\"path\": \"%s\"}}}}",
                     input, row->workers, row->isolation, row->max_in_flight, base_url, output);
  pipeline = sutra_pipeline_load_from_data ("flight.json", text, -1, registry, NULL, &error);
  g_assert_no_error (error);
  /* Each worker's batches hold its share of the bound. */
  g_assert_cmpuint (sutra_pipeline_get_stage (pipeline, "ask")->batch, ==,
                    (row->max_in_flight + row->workers - 1) / row->workers);
  run = sutra_run_new (pipeline);
  sutra_run_execute (run, &error);
  sutra_run_free (run);
  g_assert_no_error (error);

  stats = server_stats ();
  most = json_object_get_int_member (stats, "max_in_flight");
  g_test_message ("most requests in flight: %" G_GINT64_FORMAT " (bound %u, %u workers)", most,
                  row->max_in_flight, row->workers);
  g_assert_cmpint (most, >=, 1);
  g_assert_cmpint (most, <=, row->max_in_flight);
  seen = json_object_get_object_member (stats, "seen");
  for (guint i = 0; i < row->n_items; i++)
    {
      g_autofree char *line = g_strdup_printf ("BUSY %s %u", row->name, i);

      g_assert_cmpint (json_object_get_int_member_with_default (seen, line, 0), ==, 1);
    }
  g_file_get_contents (output, &out, NULL, &error);
  g_assert_no_error (error);
  written = g_strsplit (g_strchomp (out), "\n", -1);
  g_assert_cmpuint (g_strv_length (written), ==, row->n_items);
  g_assert_null (strstr (out, "sk-test-0123456789"));
  (void) g_remove (output);
  (void) g_remove (input);
  (void) g_rmdir (dir);
}

/* A rate-limited stage against a server that refuses what exceeds the same
 * rate. */
typedef struct
{
  const char *name;
  const char *isolation;
  guint workers;
  guint max_in_flight;
  guint rate; /* requests a second, the stage's and the server's */
  guint n_items;
} RateCase;

/* Batches of 32 (64 in flight over 2 workers) against a bucket of 20:
 * sent as bursts, each batch would find too few tokens, so without pacing
 * these rows see 429s at once; paced, they take about n_items / rate
 * seconds. "processes" checks that worker processes are told the rate. */
static const RateCase rate_cases[] = {
  { "threads", "thread", 2, 64, 20, 64 },
  { "processes", "process", 2, 64, 20, 64 },
};

static void
test_http_rate_limit (gconstpointer data)
{
  const RateCase *row = data;
  g_autofree char *rate = g_strdup_printf ("%u", row->rate);
  const char *options[] = { "--rate", rate, NULL };
  g_autofree char *dir = g_dir_make_tmp ("sutra-http-rate-XXXXXX", NULL);
  g_autofree char *input = g_build_filename (dir, "lines.txt", NULL);
  g_autofree char *output = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *url = NULL;
  g_autofree char *text = NULL;
  g_autofree char *out = NULL;
  g_autoptr (GString) lines = g_string_new (NULL);
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) stats = NULL;
  g_auto (GStrv) written = NULL;
  JsonObject *seen;
  SutraRun *run;
  GPid pid;
  int stdin_fd;
  gint64 n_requests;
  double span;
  double shortest;

  g_test_summary ("With rate_limit R against a server that answers 429 to what exceeds R a "
                  "second (a bucket of one second's worth), batches far larger than the "
                  "bucket are paced inside: every item asked once, no 429, and the requests "
                  "never closer together on average than 1 / R");
  g_test_bug ("12");
  if (!start_server_with (options, &pid, &stdin_fd, &url))
    {
      g_test_skip ("python3 cannot run the stand-in API (tests/plugins/http/fake-api.py)");
      return;
    }
  for (guint i = 0; i < row->n_items; i++)
    g_string_append_printf (lines, "PACE %s %u\n", row->name, i);
  g_file_set_contents (input, lines->str, -1, &error);
  g_assert_no_error (error);
  text = g_strdup_printf ("{\"sutra\": 1, \"stages\": {"
                          "\"read\": {\"plugin\": \"text-source\", \"params\": {\"path\": \"%s\"}},"
                          "\"ask\": {\"plugin\": \"http\", \"input\": \"read\", \"workers\": %u, "
                          "\"isolation\": \"%s\", \"max_in_flight\": %u, \"rate_limit\": %u, "
                          "\"params\": {\"url\": \"%s/v1/chat/completions\", \"api_key_env\": "
                          "\"SUTRA_TEST_KEY\", \"max_attempts\": 1}},"
                          "\"write\": {\"plugin\": \"jsonl-sink\", \"input\": \"ask\", \"params\": "
                          "{\"path\": \"%s\"}}}}",
                          input, row->workers, row->isolation, row->max_in_flight, row->rate, url,
                          output);
  pipeline = sutra_pipeline_load_from_data ("rate.json", text, -1, registry, NULL, &error);
  g_assert_no_error (error);
  run = sutra_run_new (pipeline);
  sutra_run_execute (run, &error);
  sutra_run_free (run);
  stats = stats_of (url);
  stop_server (pid, stdin_fd);
  g_assert_no_error (error);

  n_requests = json_object_get_int_member (stats, "requests");
  span = json_object_get_double_member (stats, "last_at") -
         json_object_get_double_member (stats, "first_at");
  shortest = (double) (n_requests - 1) / row->rate;
  g_test_message ("%" G_GINT64_FORMAT " requests in %.3f s (%.2f/s between the first and the "
                  "last; %.3f s at the limit), %" G_GINT64_FORMAT
                  " refused, most open %" G_GINT64_FORMAT,
                  n_requests, span, (n_requests - 1) / span, shortest,
                  json_object_get_int_member (stats, "refused"),
                  json_object_get_int_member (stats, "all_max_in_flight"));
  /* max_attempts 1: a 429 would have failed the run above; counted here
   * too, as the server saw them. */
  g_assert_cmpint (json_object_get_int_member (stats, "refused"), ==, 0);
  g_assert_cmpint (n_requests, ==, row->n_items);
  g_assert_cmpint (json_object_get_int_member (stats, "all_max_in_flight"), <=, row->max_in_flight);
  seen = json_object_get_object_member (stats, "seen");
  for (guint i = 0; i < row->n_items; i++)
    {
      g_autofree char *line = g_strdup_printf ("PACE %s %u", row->name, i);

      g_assert_cmpint (json_object_get_int_member_with_default (seen, line, 0), ==, 1);
    }
  /* The rate: n requests at R/s are n - 1 intervals of 1 / R, so the
   * server's span from the first to the last is at least (n - 1) / R, as
   * the client sends them. One interval is allowed off, because the server
   * times a request once it has read it: the first pays for a new
   * connection (Python accepting it and starting a thread) that later ones,
   * on kept-alive connections, do not, and comes out a few ms late (up to
   * 5 ms seen at a load average of 6 on 2 CPUs). Sent as bursts, the span
   * would be half of this (and the first burst would meet 429s). */
  g_assert_cmpfloat (span, >=, shortest - 1.0 / row->rate);
  g_file_get_contents (output, &out, NULL, &error);
  g_assert_no_error (error);
  written = g_strsplit (g_strchomp (out), "\n", -1);
  g_assert_cmpuint (g_strv_length (written), ==, row->n_items);
  (void) g_remove (output);
  (void) g_remove (input);
  (void) g_rmdir (dir);
}

static void
test_http_json_mode (void)
{
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GPtrArray) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *params = NULL;
  g_autofree char *text = NULL;
  const char *const texts[] = { "json me", NULL };

  g_test_summary ("JSON mode fills the request template with the item's text, id and metadata "
                  "and takes the result at the JSON pointer");
  params = g_strdup_printf ("{\"mode\": \"json\", \"url\": \"%s/json\", \"request\": "
                            "\"{\\\"input\\\": \\\"${text}\\\", \\\"id\\\": \\\"${id}\\\", "
                            "\\\"chapter\\\": \\\"${meta.chapter}\\\"}\", \"result\": \"/result\"}",
                            base_url);
  harness = sutra_harness_new (registry, "http", params, &error);
  g_assert_no_error (error);
  out = send_texts (harness, texts, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sutra_item_get_media_type (out->pdata[0]), ==, "application/json");
  text = text_of (out->pdata[0]);
  g_assert_cmpstr (text, ==, "{\"upper\":\"JSON ME\",\"id\":\"doc/0\",\"chapter\":\"Ch. 1\"}");
}

static void
test_http_missing_key (void)
{
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *params = g_strdup_printf (
    "{\"url\": \"%s/v1/chat/completions\", \"api_key_env\": \"SUTRA_NO_SUCH_KEY\"}", base_url);

  g_test_summary ("A key variable that is not set fails at start, naming the variable");
  harness = sutra_harness_new (registry, "http", params, &error);
  g_assert_null (harness);
  g_assert_nonnull (strstr (error->message, "SUTRA_NO_SUCH_KEY is not set"));
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  if (!start_server ())
    {
      g_print (
        "1..0 # SKIP python3 cannot run the stand-in API (tests/plugins/http/fake-api.py)\n");
      return 0;
    }
  g_setenv ("SUTRA_TEST_KEY", "sk-test-0123456789", TRUE);
  registry = sutra_registry_new ();
  sutra_registry_load_default (registry, NULL, &error);
  g_assert_no_error (error);

  g_test_add_func ("/plugins/http/chat", test_http_chat);
  g_test_add_func ("/plugins/http/429", test_http_429);
  g_test_add_func ("/plugins/http/5xx", test_http_5xx);
  g_test_add_func ("/plugins/http/timeout", test_http_timeout);
  g_test_add_func ("/plugins/http/in-flight", test_http_in_flight);
  for (guint i = 0; i < G_N_ELEMENTS (flight_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/plugins/http/stage-in-flight/%s", flight_cases[i].name);

      g_test_add_data_func (path, &flight_cases[i], test_http_stage_in_flight);
    }
  for (guint i = 0; i < G_N_ELEMENTS (rate_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/plugins/http/rate-limit/%s", rate_cases[i].name);

      g_test_add_data_func (path, &rate_cases[i], test_http_rate_limit);
    }
  g_test_add_func ("/plugins/http/json-mode", test_http_json_mode);
  g_test_add_func ("/plugins/http/missing-key", test_http_missing_key);

  status = g_test_run ();
  stop_server (server_pid, server_stdin);
  sutra_registry_free (registry);
  g_free (base_url);
  return status;
}
