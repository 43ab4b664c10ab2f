/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of plugins/tts through the real loader and the harness, and one `sutra run`. */

#include "sutra-harness.h"
#include "sutra-registry.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static SutraRegistry *registry;

static const char sentence[] =
  "The quick brown fox jumps over the lazy dog. It was a sunny day in the park.";
#define SENTENCE_WORDS 16

static SutraHarness *
new_tts (const char *params_json)
{
  g_autoptr (GError) error = NULL;
  SutraHarness *harness = sutra_harness_new (registry, "tts", params_json, &error);

  g_assert_no_error (error);
  g_assert_nonnull (harness);
  return harness;
}

static SutraItem *
text_item (const char *text, gssize length, const char *language)
{
  SutraItem *item =
    sutra_item_new_root ("book/0000/0001", 0, SUTRA_MEDIA_TEXT_PLAIN,
                         g_bytes_new (text, length < 0 ? strlen (text) : (gsize) length));

  if (language != NULL)
    json_object_set_string_member (sutra_item_ensure_meta (item), "language", language);
  return item;
}

/* Speaks one item; returns the one item the stage pushed. */
static SutraItem *
speak (SutraHarness *harness, SutraItem *item, GError **error)
{
  g_autoptr (GPtrArray) out = sutra_harness_process (harness, &item, 1, error);

  if (out == NULL)
    return NULL;
  g_assert_cmpuint (out->len, ==, 1);
  return sutra_item_ref (out->pdata[0]);
}

static SutraItem *
speak_text (SutraHarness *harness, const char *text, const char *language)
{
  g_autoptr (SutraItem) in = text_item (text, -1, language);
  g_autoptr (GError) error = NULL;
  SutraItem *out = speak (harness, in, &error);

  g_assert_no_error (error);
  g_assert_nonnull (out);
  return out;
}

/* Checks the audio metadata against the payload; returns the sample count. */
static gint64
check_audio (SutraItem *item)
{
  gsize size;
  gint64 n_samples;

  sutra_item_get_data (item, &size);
  g_assert_cmpstr (sutra_item_get_media_type (item), ==, "audio/x-raw");
  g_assert_cmpstr (sutra_item_get_meta_string (item, "sample_format", NULL), ==, "s16le");
  g_assert_cmpint (sutra_item_get_meta_int (item, "sample_rate", 0), ==, 22050);
  g_assert_cmpint (sutra_item_get_meta_int (item, "channels", 0), ==, 1);
  n_samples = sutra_item_get_meta_int (item, "n_samples", -1);
  g_assert_cmpint (n_samples * 2, ==, (gint64) size);
  g_assert_cmpint (sutra_item_get_meta_int (item, "duration_ms", -1), ==,
                   (n_samples * 1000 + 11025) / 22050);
  return n_samples;
}

static gint16
sample_at (SutraItem *item, gsize i)
{
  const guint8 *data = sutra_item_get_data (item, NULL);

  return (gint16) (data[2 * i] | (data[2 * i + 1] << 8));
}

static void
test_tts_speaks_sentence (void)
{
  g_autoptr (SutraHarness) harness = new_tts ("{\"voice\": \"en\"}");
  g_autoptr (SutraItem) out = NULL;
  double expected_s = SENTENCE_WORDS * 60.0 / 175;
  double sum_squares = 0;
  int peak = 0;
  gint64 n_samples;

  g_test_summary ("A sentence becomes s16le mono PCM at 22050 Hz, as long as 16 words at 175 "
                  "words per minute take (within a factor of two), loud enough to be speech; "
                  "the item keeps its id and metadata");
  {
    g_autoptr (SutraItem) in = text_item (sentence, -1, "en");

    json_object_set_boolean_member (sutra_item_ensure_meta (in), "paragraph_end", TRUE);
    json_object_set_string_member (sutra_item_ensure_meta (in), "chapter_title", "CHAPTER I.");
    out = speak (harness, in, NULL);
  }
  g_assert_nonnull (out);
  g_assert_cmpstr (sutra_item_get_id (out), ==, "book/0000/0001");
  n_samples = check_audio (out);
  g_assert_cmpfloat (n_samples / 22050.0, >, expected_s / 2);
  g_assert_cmpfloat (n_samples / 22050.0, <, expected_s * 2);
  for (gint64 i = 0; i < n_samples; i++)
    {
      int s = sample_at (out, (gsize) i);

      sum_squares += (double) s * s;
      peak = MAX (peak, ABS (s));
    }
  /* espeak-ng at volume 100 peaks near 20000; RMS over the pauses too. */
  g_assert_cmpint (peak, >, 5000);
  g_assert_cmpfloat (sqrt (sum_squares / (double) n_samples), >, 500);
  g_assert_true (json_object_get_boolean_member (sutra_item_get_meta (out), "paragraph_end"));
  g_assert_cmpstr (sutra_item_get_meta_string (out, "chapter_title", NULL), ==, "CHAPTER I.");
  g_assert_cmpstr (sutra_item_get_meta_string (out, "language", NULL), ==, "en");
  g_assert_cmpstr (sutra_item_get_meta_string (out, "voice", NULL), ==, "en");
}

static void
test_tts_rate (void)
{
  g_autoptr (SutraHarness) normal = new_tts ("{\"voice\": \"en\"}");
  g_autoptr (SutraHarness) fast = new_tts ("{\"voice\": \"en\", \"rate\": 350}");
  g_autoptr (SutraItem) at_175 = speak_text (normal, sentence, NULL);
  g_autoptr (SutraItem) at_350 = speak_text (fast, sentence, NULL);

  g_test_summary ("rate is words per minute: twice the rate takes well under three quarters "
                  "of the time");
  g_assert_cmpint (check_audio (at_350) * 4, <, check_audio (at_175) * 3);
}

static char *
checksum_of (SutraItem *item)
{
  gsize size;
  const guint8 *data = sutra_item_get_data (item, &size);

  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, size);
}

static void
test_tts_deterministic (void)
{
  g_autoptr (SutraHarness) harness = new_tts (NULL);
  g_autoptr (SutraItem) first = speak_text (harness, sentence, "en");
  g_autoptr (SutraItem) other = speak_text (harness, "Hola, esto es una prueba.", "es");
  g_autoptr (SutraItem) again = speak_text (harness, sentence, "en");
  g_autofree char *expected = checksum_of (first);
  g_autofree char *pattern = g_strdup_printf ("*sha256 %s*", expected);

  g_test_summary ("The same text gives the same bytes whatever was spoken before it, in this "
                  "process (after another voice) or in a fresh one: espeak-ng's carried-over "
                  "state must not leak into a chunk's audio");
  g_assert_cmpint (check_audio (first), >, 0);
  g_assert_cmpint (check_audio (other), >, 0);
  g_assert_cmpmem (sutra_item_get_data (first, NULL),
                   g_bytes_get_size (sutra_item_get_payload (first)),
                   sutra_item_get_data (again, NULL),
                   g_bytes_get_size (sutra_item_get_payload (again)));

  if (g_test_subprocess ())
    return;
  g_test_trap_subprocess ("/plugins/tts/deterministic-fresh-process", 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout (pattern);
}

static void
test_tts_deterministic_fresh_process (void)
{
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (SutraItem) out = NULL;
  g_autofree char *sum = NULL;

  if (!g_test_subprocess ())
    {
      g_test_skip ("runs as the subprocess of /plugins/tts/deterministic");
      return;
    }
  harness = new_tts (NULL);
  out = speak_text (harness, sentence, "en");
  sum = checksum_of (out);
  g_print ("sha256 %s\n", sum);
}

static const struct
{
  const char *name;
  const char *text;
  gsize length;
} silent_cases[] = {
  { "empty", "", 0 },
  { "spaces", "  \n\t ", 5 },
  { "full-stop", ".", 1 },
  { "dashes", "\xe2\x80\x94\xe2\x80\xa6", 6 },
  { "controls", "\x01\x02\x7f", 3 },
  { "nul", "\0", 1 },
};

static void
test_tts_silent (gconstpointer data)
{
  gsize i = GPOINTER_TO_SIZE (data);
  g_autoptr (SutraHarness) harness = new_tts ("{\"voice\": \"en\"}");
  g_autoptr (SutraItem) in =
    text_item (silent_cases[i].text, (gssize) silent_cases[i].length, "en");
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraItem) out = speak (harness, in, &error);

  g_test_summary ("Empty chunks and text espeak-ng speaks as silence give a valid item of no "
                  "samples, not an error");
  g_assert_no_error (error);
  g_assert_cmpint (check_audio (out), ==, 0);
  g_assert_cmpint (sutra_item_get_meta_int (out, "duration_ms", -1), ==, 0);
  g_assert_cmpstr (sutra_item_get_meta_string (out, "language", NULL), ==, "en");
}

static void
test_tts_unknown_script (void)
{
  g_autoptr (SutraHarness) harness = new_tts ("{\"voice\": \"en\"}");
  g_autoptr (SutraItem) out =
    speak_text (harness, "\xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87 \xe2\x88\xb0", NULL);

  g_test_summary ("Characters the English voice has no words for (an emoji, Chinese, a rare "
                  "symbol) do not fail the item");
  check_audio (out);
}

static void
test_tts_markup_is_text (void)
{
  static const struct
  {
    const char *plain;
    const char *markup;
  } pairs[] = {
    { "bold", "<b>bold</b>" },
    { "hello", "[[h@l'oU]]" },
    { "hello", "<speak>hello</speak>" },
  };
  g_autoptr (SutraHarness) harness = new_tts ("{\"voice\": \"en\"}");

  g_test_summary ("SSML-like tags and espeak-ng's [[phoneme]] brackets are read as text, not "
                  "obeyed: they take much longer to say than the word they wrap");
  for (gsize i = 0; i < G_N_ELEMENTS (pairs); i++)
    {
      g_autoptr (SutraItem) plain = speak_text (harness, pairs[i].plain, NULL);
      g_autoptr (SutraItem) markup = speak_text (harness, pairs[i].markup, NULL);

      g_assert_cmpint (check_audio (markup), >, 2 * check_audio (plain));
    }
}

static void
test_tts_nul_inside (void)
{
  g_autoptr (SutraHarness) harness = new_tts ("{\"voice\": \"en\"}");
  g_autoptr (SutraItem) spaced = speak_text (harness, "Hello there world", NULL);
  g_autoptr (SutraItem) in = text_item ("Hello there\0world", 17, NULL);
  g_autoptr (SutraItem) nul = speak (harness, in, NULL);
  g_autofree char *a = checksum_of (spaced);
  g_autofree char *b = checksum_of (nul);

  g_test_summary ("A payload is bytes with a length: a U+0000 inside it is a space, not the "
                  "end of the text");
  g_assert_cmpstr (a, ==, b);
}

static void
test_tts_invalid_utf8 (void)
{
  g_autoptr (SutraHarness) harness = new_tts ("{\"voice\": \"en\"}");
  g_autoptr (SutraItem) in = text_item ("Good text, then \xff bad", -1, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraItem) out = speak (harness, in, &error);

  g_test_summary ("Text that is not UTF-8 fails the item with the offset of the first bad byte");
  g_assert_null (out);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "not valid UTF-8 (byte 16)"));
}

static void
test_tts_unknown_voice (void)
{
  static const char *const params[] = {
    "{\"voice\": \"xx-nope\"}",
    "{\"voice\": \"auto\", \"default_voice\": \"xx-nope\"}",
    "{\"voice\": \"\"}",
  };

  g_test_summary ("An unknown voice, or default voice, refuses to start with the list of "
                  "installed voices");
  for (gsize i = 0; i < G_N_ELEMENTS (params); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (SutraHarness) harness = sutra_harness_new (registry, "tts", params[i], &error);

      g_assert_null (harness);
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, "espeak-ng has no voice"));
      g_assert_nonnull (strstr (error->message, "installed voices: af, "));
      g_assert_nonnull (strstr (error->message, ", en, "));
      g_assert_nonnull (strstr (error->message, ", es, "));
    }
}

static void
test_tts_auto_voice (void)
{
  static const struct
  {
    const char *language; /* the item's metadata; NULL for none */
    const char *voice;    /* what `auto` must speak it with */
  } cases[] = {
    { "es", "es" }, { "ES", "es" }, { "es_ES", "es" }, { "fr-CA", "fr" },
    { "de", "de" }, { NULL, "en" }, { "zz", "en" },    { "../../etc/passwd", "en" },
    { "", "en" },
  };
  g_autoptr (SutraHarness) automatic = new_tts ("{\"voice\": \"auto\"}");

  g_test_summary ("voice auto takes the item's language metadata (case and _ folded, a region "
                  "espeak-ng lacks dropped): the same bytes as the voice named explicitly; no "
                  "language, an unknown one or a path fall back to default_voice");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *params = g_strdup_printf ("{\"voice\": \"%s\"}", cases[i].voice);
      g_autoptr (SutraHarness) explicit = new_tts (params);
      g_autoptr (SutraItem) a = speak_text (automatic, "Uno, dos, tres.", cases[i].language);
      g_autoptr (SutraItem) b = speak_text (explicit, "Uno, dos, tres.", NULL);
      g_autofree char *sum_a = checksum_of (a);
      g_autofree char *sum_b = checksum_of (b);

      g_assert_cmpstr (sutra_item_get_meta_string (a, "voice", NULL), ==, cases[i].voice);
      g_assert_cmpstr (sum_a, ==, sum_b);
    }
  {
    g_autoptr (SutraItem) es = speak_text (automatic, "Uno, dos, tres.", "es");
    g_autoptr (SutraItem) en = speak_text (automatic, "Uno, dos, tres.", "en");
    g_autofree char *sum_es = checksum_of (es);
    g_autofree char *sum_en = checksum_of (en);

    g_assert_cmpstr (sum_es, !=, sum_en);
  }
}

static void
test_tts_empty_batch (void)
{
  g_autoptr (SutraHarness) harness = new_tts (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) out = sutra_harness_process (harness, NULL, 0, &error);

  g_test_summary ("An empty batch pushes nothing");
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, 0);
}

static void
test_tts_not_text (void)
{
  g_autoptr (SutraHarness) harness = new_tts (NULL);
  g_autoptr (SutraItem) in =
    sutra_item_new_root ("x", 0, SUTRA_MEDIA_OCTETS, g_bytes_new_static ("ab", 2));
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraItem) out = speak (harness, in, &error);

  g_test_summary ("A payload that is not text is refused as unsupported");
  g_assert_null (out);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_UNSUPPORTED);
}

static const char book[] = "CHAPTER I. The Start\n\n"
                           "Hello world, this is a small test. It has two sentences.\n\n"
                           "A second paragraph, short.\n\n"
                           "CHAPTER II. The End\n\n"
                           "Goodbye now, and thank you for listening.\n";

static void
test_tts_sutra_run (void)
{
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "run", NULL);
  g_autofree char *input = g_build_filename (dir, "book.txt", NULL);
  g_autofree char *pipeline = g_build_filename (dir, "speak.json", NULL);
  g_autofree char *output = g_build_filename (dir, "audio", NULL);
  g_autofree char *sutra =
    g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL);
  g_autofree char *set_input = g_strconcat ("input=", input, NULL);
  g_autofree char *set_output = g_strconcat ("output=", output, NULL);
  static const char *const chunks[] = { "book/0000/0000.bin", "book/0000/0001.bin",
                                        "book/0001/0000.bin" };
  static const char json[] =
    "{ \"sutra\": 1, \"name\": \"speak\", \"stages\": {\n"
    "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"${input}\", \"format\": "
    "\"document\" } },\n"
    "  \"segment\": { \"plugin\": \"segmenter\", \"input\": \"read\" },\n"
    "  \"speak\": { \"plugin\": \"tts\", \"input\": \"segment\" },\n"
    "  \"write\": { \"plugin\": \"file-sink\", \"input\": \"speak\", \"params\": { \"dir\": "
    "\"${output}\" } } } }\n";
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *err_text = NULL;
  gint64 total = 0;

  g_test_summary ("sutra run: text-source, segmenter, tts, file-sink writes one raw PCM file "
                  "per chunk, each whole samples, together as long as the book's words take");
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_file_set_contents (input, book, -1, &error);
  g_assert_no_error (error);
  g_file_set_contents (pipeline, json, -1, &error);
  g_assert_no_error (error);

  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                              &error, sutra, "run", "--no-job", "-q", pipeline, "--set", set_input,
                              "--set", set_output, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, NULL, &err_text, &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_successful (process))
    g_error ("sutra run failed: %s", err_text);

  for (gsize i = 0; i < G_N_ELEMENTS (chunks); i++)
    {
      g_autofree char *path = g_build_filename (output, chunks[i], NULL);
      GStatBuf st;

      g_assert_cmpint (g_stat (path, &st), ==, 0);
      g_assert_cmpint (st.st_size % 2, ==, 0);
      g_assert_cmpint (st.st_size, >, 22050); /* more than half a second each */
      total += st.st_size;
    }
  {
    g_autofree char *extra = g_build_filename (output, "book", "0001", "0001.bin", NULL);

    g_assert_false (g_file_test (extra, G_FILE_TEST_EXISTS));
  }
  /* 23 words (chapter titles are metadata, not speech) at 175 per minute. */
  g_assert_cmpfloat (total / 2 / 22050.0, >, 23 * 60.0 / 175 / 2);
  g_assert_cmpfloat (total / 2 / 22050.0, <, 23 * 60.0 / 175 * 2);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  registry = sutra_registry_new ();
  sutra_registry_load_default (registry, NULL, &error);
  g_assert_no_error (error);

  g_test_add_func ("/plugins/tts/speaks-sentence", test_tts_speaks_sentence);
  g_test_add_func ("/plugins/tts/rate", test_tts_rate);
  g_test_add_func ("/plugins/tts/deterministic", test_tts_deterministic);
  g_test_add_func ("/plugins/tts/deterministic-fresh-process",
                   test_tts_deterministic_fresh_process);
  for (gsize i = 0; i < G_N_ELEMENTS (silent_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/plugins/tts/silent/%s", silent_cases[i].name);

      g_test_add_data_func (path, GSIZE_TO_POINTER (i), test_tts_silent);
    }
  g_test_add_func ("/plugins/tts/unknown-script", test_tts_unknown_script);
  g_test_add_func ("/plugins/tts/markup-is-text", test_tts_markup_is_text);
  g_test_add_func ("/plugins/tts/nul-inside", test_tts_nul_inside);
  g_test_add_func ("/plugins/tts/invalid-utf8", test_tts_invalid_utf8);
  g_test_add_func ("/plugins/tts/unknown-voice", test_tts_unknown_voice);
  g_test_add_func ("/plugins/tts/auto-voice", test_tts_auto_voice);
  g_test_add_func ("/plugins/tts/empty-batch", test_tts_empty_batch);
  g_test_add_func ("/plugins/tts/not-text", test_tts_not_text);
  g_test_add_func ("/plugins/tts/sutra-run", test_tts_sutra_run);

  status = g_test_run ();
  sutra_registry_free (registry);
  return status;
}
