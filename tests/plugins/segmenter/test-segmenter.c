/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of plugins/segmenter through the real loader and the harness. */

#include "sutra-harness.h"
#include "sutra-registry.h"
#include "sutra-test-png.h"
#include "sutra-test-util.h"

#include <archive.h>
#include <archive_entry.h>
#include <glib/gstdio.h>
#include <string.h>

static SutraRegistry *registry;

/* Helpers */

/* SUTRA_SHARED_DATA (set by tests/meson.build), else ../shared/data beside
 * the source tree, as the build saw it. */
static char *
books_dir (void)
{
  const char *shared = g_getenv ("SUTRA_SHARED_DATA");

  if (shared != NULL && shared[0] != '\0')
    return g_build_filename (shared, "books", NULL);
  return g_build_filename (SEGMENTER_SHARED_DATA, "books", NULL);
}

/* Whether the books of ../shared/data are here; if not, the calling test is
 * skipped with a message saying what is missing. */
static gboolean
books_present (void)
{
  g_autofree char *dir = books_dir ();
  g_autofree char *message = NULL;

  if (g_file_test (dir, G_FILE_TEST_IS_DIR))
    return TRUE;
  message = g_strdup_printf ("the public-domain books are missing: no directory %s (put the "
                             "project's shared/ folder beside the checkout, or set "
                             "SUTRA_SHARED_DATA to its data/ folder)",
                             dir);
  g_test_skip (message);
  return FALSE;
}

static void
test_segmenter_books_missing (void)
{
  g_assert_false (books_present ());
}

static GBytes *
read_book (const char *name)
{
  g_autofree char *dir = books_dir ();
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  char *contents = NULL;
  gsize length = 0;

  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (contents, length);
}

static SutraItem *
make_book (const char *id, const char *path, const char *media_type, GBytes *bytes)
{
  SutraItem *book = sutra_item_new_root (id, 0, media_type, bytes);

  if (path != NULL)
    json_object_set_string_member (sutra_item_ensure_meta (book), "path", path);
  return book;
}

static SutraItem *
make_text_book (const char *id, const char *media_type, const char *text)
{
  g_autofree char *path = g_strdup_printf ("/books/%s.txt", id);

  return make_book (id, path, media_type, g_bytes_new (text, strlen (text)));
}

static GPtrArray *
segment (const char *params, SutraItem *book, GError **error)
{
  g_autoptr (SutraHarness) harness = sutra_harness_new (registry, "segmenter", params, error);

  if (harness == NULL)
    return NULL;
  return sutra_harness_process (harness, &book, 1, error);
}

static GPtrArray *
segment_ok (const char *params, SutraItem *book)
{
  g_autoptr (GError) error = NULL;
  GPtrArray *items = segment (params, book, &error);

  g_assert_no_error (error);
  g_assert_nonnull (items);
  return items;
}

static char *
item_text (SutraItem *item)
{
  gsize size;
  const guint8 *data = sutra_item_get_data (item, &size);

  return g_strndup ((const char *) data, size);
}

/* The chapter titles, in order, one per chapter (chunks share them). */
static GPtrArray *
chapter_titles (GPtrArray *items)
{
  GPtrArray *titles = g_ptr_array_new_with_free_func (g_free);
  gint64 last = -1;

  for (guint i = 0; i < items->len; i++)
    {
      SutraItem *item = items->pdata[i];
      gint64 index = sutra_item_get_meta_int (item, "chapter_index", -1);

      g_assert_cmpint (index, >=, 0);
      if (index != last)
        {
          g_assert_cmpint (index, ==, last + 1);
          g_ptr_array_add (titles,
                           g_strdup (sutra_item_get_meta_string (item, "chapter_title", "")));
          last = index;
        }
    }
  return titles;
}

static char *
join_titles (GPtrArray *titles)
{
  g_ptr_array_add (titles, NULL);
  {
    char *joined = g_strjoinv ("|", (char **) titles->pdata);

    g_ptr_array_remove_index (titles, titles->len - 1);
    return joined;
  }
}

static gboolean
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void
fold_append (GString *out, const char *start, gsize length)
{
  for (gsize i = 0; i < length; i++)
    {
      if (is_space (start[i]))
        {
          if (out->len > 0 && out->str[out->len - 1] != ' ')
            g_string_append_c (out, ' ');
        }
      else
        g_string_append_c (out, start[i]);
    }
}

static char *
fold (const char *text)
{
  GString *out = g_string_new (NULL);

  fold_append (out, text, strlen (text));
  while (out->len > 0 && out->str[out->len - 1] == ' ')
    g_string_truncate (out, out->len - 1);
  return g_string_free (out, FALSE);
}

/* Every chunk, joined by spaces, white space folded. */
static char *
joined_chunks (GPtrArray *items)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < items->len; i++)
    {
      gsize size;
      const guint8 *data = sutra_item_get_data (items->pdata[i], &size);

      if (out->len > 0)
        g_string_append_c (out, ' ');
      fold_append (out, (const char *) data, size);
    }
  return g_string_free (out, FALSE);
}

static void
assert_chunks_fit (GPtrArray *items, glong max_chars)
{
  for (guint i = 0; i < items->len; i++)
    {
      g_autofree char *text = item_text (items->pdata[i]);

      g_assert_cmpint (g_utf8_strlen (text, -1), <=, max_chars);
      g_assert_cmpint (g_utf8_strlen (text, -1), >, 0);
      g_assert_false (is_space (text[0]));
      g_assert_false (is_space (text[strlen (text) - 1]));
    }
}

/* Ids are book/chapter/chunk, in increasing path order, and the metadata
 * agrees with the path. */
static void
assert_well_formed (GPtrArray *items, const char *book_id)
{
  for (guint i = 0; i < items->len; i++)
    {
      SutraItem *item = items->pdata[i];
      g_autofree char *id =
        g_strdup_printf ("%s/%04" G_GUINT64_FORMAT "/%04" G_GUINT64_FORMAT, book_id,
                         sutra_item_get_position (item, 1), sutra_item_get_position (item, 2));

      g_assert_cmpuint (sutra_item_get_depth (item), ==, 3);
      g_assert_cmpstr (sutra_item_get_id (item), ==, id);
      g_assert_cmpstr (sutra_item_get_media_type (item), ==, "text/plain");
      g_assert_cmpint (sutra_item_get_meta_int (item, "chapter_index", -1), ==,
                       (gint64) sutra_item_get_position (item, 1));
      g_assert_nonnull (sutra_item_get_meta_string (item, "chapter_title", NULL));
      g_assert_nonnull (sutra_item_get_meta_string (item, "language", NULL));
      g_assert_cmpint (sutra_item_get_meta_int (item, "paragraph_index", -1), >=, 0);
      g_assert_nonnull (json_object_get_member (sutra_item_get_meta (item), "paragraph_end"));
      if (i > 0)
        {
          SutraItem *previous = items->pdata[i - 1];

          g_assert_cmpint (sutra_item_compare (previous, item), <, 0);
          /* Chunks count from 0 in each chapter, without gaps. */
          if (sutra_item_get_position (previous, 1) == sutra_item_get_position (item, 1))
            g_assert_cmpuint (sutra_item_get_position (item, 2), ==,
                              sutra_item_get_position (previous, 2) + 1);
          else
            {
              g_assert_cmpuint (sutra_item_get_position (item, 1), ==,
                                sutra_item_get_position (previous, 1) + 1);
              g_assert_cmpuint (sutra_item_get_position (item, 2), ==, 0);
            }
        }
      else
        {
          g_assert_cmpuint (sutra_item_get_position (item, 1), ==, 0);
          g_assert_cmpuint (sutra_item_get_position (item, 2), ==, 0);
        }
    }
}

/* The stage */

static void
test_segmenter_descriptor (void)
{
  const SutraPlugin *plugin = NULL;
  const SutraStageInfo *stage;
  const char *expected[] = { "max_chars",     "language",           "strip_boilerplate",
                             "front_matter",  "heading_pattern",    "markdown_level",
                             "repair_utf8",   "max_expanded_bytes", "emit",
                             "epub_chapters", "caps_headings" };

  g_test_summary ("The plugin loads through the real loader and declares a split stage "
                  "with a documented parameter table");
  stage = sutra_registry_find_stage (registry, "segmenter", &plugin);
  g_assert_nonnull (stage);
  g_assert_cmpstr (plugin->info->name, ==, "segmenter");
  g_assert_cmpint (stage->kind, ==, SUTRA_STAGE_SPLIT);
  g_assert_cmpint (stage->threading, ==, SUTRA_THREADING_PER_WORKER);
  g_assert_cmpuint (stage->devices, ==, SUTRA_DEVICE_CPU);
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      gboolean found = FALSE;

      for (const SutraParamInfo *param = stage->params; param->name != NULL; param++)
        if (strcmp (param->name, expected[i]) == 0)
          {
            found = TRUE;
            g_assert_nonnull (param->doc);
            g_assert_cmpuint (strlen (param->doc), >, 10);
          }
      g_assert_true (found);
    }
}

static const struct
{
  const char *name;
  const char *params;
  const char *message;
} bad_params[] = {
  { "max-chars-too-small", "{\"max_chars\": 5}", "max_chars" },
  { "front-matter-unknown", "{\"front_matter\": \"keep\"}", "front_matter" },
  { "emit-unknown", "{\"emit\": \"sentences\"}", "emit" },
  { "markdown-level-7", "{\"markdown_level\": 7}", "markdown_level" },
  { "heading-pattern-invalid", "{\"heading_pattern\": \"(CHAPTER\"}", "heading_pattern" },
  { "unknown-key", "{\"max_char\": 100}", "max_chars" },
};

static void
test_segmenter_bad_params (gconstpointer data)
{
  guint i = GPOINTER_TO_UINT (data);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraHarness) harness = NULL;

  g_test_summary ("Parameters out of range, unknown choices and an invalid heading pattern "
                  "are refused, naming the parameter");
  harness = sutra_harness_new (registry, "segmenter", bad_params[i].params, &error);
  g_assert_null (harness);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, bad_params[i].message));
}

static void
test_segmenter_empty_batch (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraHarness) harness = sutra_harness_new (registry, "segmenter", NULL, &error);
  g_autoptr (GPtrArray) items = NULL;

  g_test_summary ("An empty batch yields nothing");
  g_assert_no_error (error);
  items = sutra_harness_process (harness, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (items->len, ==, 0);
}

static void
test_segmenter_cancelled (void)
{
  if (!books_present ())
    return;

  g_autoptr (GError) error = NULL;
  g_autoptr (SutraHarness) harness = sutra_harness_new (registry, "segmenter", NULL, &error);
  g_autoptr (SutraItem) book =
    make_book ("alice-pg11", "alice-pg11.txt", "text/plain", read_book ("alice-pg11.txt"));
  g_autoptr (GPtrArray) items = NULL;

  g_test_summary ("A cancelled run returns at once, without an error of its own");
  g_assert_no_error (error);
  sutra_harness_cancel (harness);
  items = sutra_harness_process (harness, &book, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (items->len, ==, 0);
}

/* The books of shared/data */

static const char *const alice_titles[] = {
  "CHAPTER I. Down the Rabbit-Hole",
  "CHAPTER II. The Pool of Tears",
  "CHAPTER III. A Caucus-Race and a Long Tale",
  "CHAPTER IV. The Rabbit Sends in a Little Bill",
  "CHAPTER V. Advice from a Caterpillar",
  "CHAPTER VI. Pig and Pepper",
  "CHAPTER VII. A Mad Tea-Party",
  "CHAPTER VIII. The Queen's Croquet-Ground",
  "CHAPTER IX. The Mock Turtle's Story",
  "CHAPTER X. The Lobster Quadrille",
  "CHAPTER XI. Who Stole the Tarts?",
  "CHAPTER XII. Alice's Evidence",
};

static void
test_segmenter_alice_txt (void)
{
  if (!books_present ())
    return;

  g_autoptr (SutraItem) book =
    make_book ("alice-pg11", "/data/alice-pg11.txt", "text/plain", read_book ("alice-pg11.txt"));
  g_autoptr (GPtrArray) items = segment_ok ("{\"max_chars\": 200}", book);
  g_autoptr (GPtrArray) titles = chapter_titles (items);
  SutraItem *first = items->pdata[0];
  g_autofree char *first_text = item_text (first);

  g_test_summary ("alice-pg11.txt gives its 12 chapters with their titles; the title page "
                  "goes to the metadata and leads the first chapter");
  g_assert_cmpuint (titles->len, ==, G_N_ELEMENTS (alice_titles));
  for (guint i = 0; i < titles->len; i++)
    g_assert_cmpstr (titles->pdata[i], ==, alice_titles[i]);
  assert_well_formed (items, "alice-pg11");
  assert_chunks_fit (items, 200);
  /* The title page leads the first chapter, marked as front matter. */
  g_assert_cmpstr (sutra_item_get_id (first), ==, "alice-pg11/0000/0000");
  g_assert_cmpstr (first_text, ==, "ALICE'S ADVENTURES IN WONDERLAND");
  g_assert_true (json_object_get_boolean_member (sutra_item_get_meta (first), "front_matter"));
  for (guint i = 0; i < items->len; i++)
    if (!json_object_has_member (sutra_item_get_meta (items->pdata[i]), "front_matter"))
      {
        g_autofree char *text = item_text (items->pdata[i]);

        g_assert_cmpuint (i, ==, 3);
        g_assert_true (g_str_has_prefix (text, "Alice was beginning to get very tired"));
        break;
      }
  g_assert_cmpstr (sutra_item_get_meta_string (first, "title", NULL), ==,
                   "ALICE'S ADVENTURES IN WONDERLAND");
  g_assert_cmpstr (sutra_item_get_meta_string (first, "author", NULL), ==, "Lewis Carroll");
  g_assert_cmpstr (sutra_item_get_meta_string (first, "language", NULL), ==, "en");
}

/* The chapter headings of alice-pg28885.epub, as its XHTML has them
 * (<div class="chapter">CHAPTER I</div>, then the title in a sidenote). */
static const char *const alice_epub_titles[] = {
  "CHAPTER I. Down the Rabbit-Hole",
  "CHAPTER II. Pool of Tears",
  "CHAPTER III. A Caucus-race and a Long Tale",
  "CHAPTER IV. The Rabbit sends in a Little Bill",
  "CHAPTER V. Advice from a Caterpillar",
  "CHAPTER VI. Pig and Pepper",
  "CHAPTER VII. A Mad Tea-party",
  "CHAPTER VIII. The Queen's Croquet-Ground",
  "CHAPTER IX. The Mock Turtle's Story",
  "CHAPTER X. The Lobster Quadrille",
  "CHAPTER XI. Who Stole the Tarts?",
  "CHAPTER XII. Alice's Evidence",
};

/* Its toc.ncx: Gutenberg's editions notice, the title, two lists, the
 * end and a note; the story is all under LIST OF THE PLATES. */
static const char *const alice_toc[] = {
  "There are several editions of this ebook in the Project Gutenberg collection. Various "
  "characteristics of each ebook are listed to aid in selecting the preferred file. Click on "
  "any of the filenumbers below to quickly view each ebook.",
  "ALICE'S ADVENTURES IN WONDERLAND",
  "CONTENTS",
  "LIST OF THE PLATES",
  "THE END",
  "Transcriber's Note:",
};

/* Lines of the Gutenberg header and licence, which no chunk may hold. */
static const char *const gutenberg_lines[] = {
  "End of Project Gutenberg",
  "End of the Project Gutenberg",
  "www.gutenberg",
  "gutenberg.org",
  "Produced by",
  "START OF THIS PROJECT GUTENBERG",
  "END OF THIS PROJECT GUTENBERG",
  "FULL PROJECT GUTENBERG LICENSE",
  "There are several editions of this ebook",
  "This eBook is for the use of anyone",
};

static void
assert_no_gutenberg_lines (GPtrArray *items)
{
  for (guint i = 0; i < items->len; i++)
    {
      g_autofree char *text = item_text (items->pdata[i]);

      for (guint k = 0; k < G_N_ELEMENTS (gutenberg_lines); k++)
        {
          if (strstr (text, gutenberg_lines[k]) != NULL)
            g_test_message ("%s: %s", sutra_item_get_id (items->pdata[i]), text);
          g_assert_null (strstr (text, gutenberg_lines[k]));
        }
      g_assert_null (strstr (text, "Project Gutenberg"));
    }
}

static void
test_segmenter_alice_epub (void)
{
  if (!books_present ())
    return;

  g_autoptr (SutraItem) book = make_book ("alice-pg28885", "/data/alice-pg28885.epub",
                                          SUTRA_MEDIA_EPUB, read_book ("alice-pg28885.epub"));
  g_autoptr (GPtrArray) items = segment_ok ("{\"max_chars\": 300}", book);
  g_autoptr (GPtrArray) titles = chapter_titles (items);
  g_autoptr (GPtrArray) dropped = NULL;
  g_autoptr (GPtrArray) dropped_titles = NULL;
  g_autoptr (GPtrArray) by_headings = NULL;
  g_autoptr (GPtrArray) heading_titles = NULL;
  g_autofree char *all = joined_chunks (items);
  SutraItem *first = items->pdata[0];
  gint64 last_chapter = -1;

  g_test_summary ("alice-pg28885.epub, whose TOC lists only front matter and puts the story "
                  "under LIST OF THE PLATES, gives its 12 chapters from the headings of its "
                  "text, the front matter before them, the OPF metadata and no Gutenberg "
                  "boilerplate");
  /* The front matter (the proem, the contents, the list of plates) is a
   * chapter of its own with front_matter "auto", as in a plain text. */
  g_assert_cmpuint (titles->len, ==, 1 + G_N_ELEMENTS (alice_epub_titles));
  g_assert_cmpstr (titles->pdata[0], ==, "Front matter");
  for (guint i = 0; i < G_N_ELEMENTS (alice_epub_titles); i++)
    g_assert_cmpstr (titles->pdata[i + 1], ==, alice_epub_titles[i]);
  assert_well_formed (items, "alice-pg28885");
  assert_chunks_fit (items, 300);
  assert_no_gutenberg_lines (items);
  g_assert_cmpstr (sutra_item_get_meta_string (first, "title", NULL), ==,
                   "Alice's Adventures in Wonderland / Illustrated by Arthur Rackham. With a "
                   "Proem by Austin Dobson");
  g_assert_cmpstr (sutra_item_get_meta_string (first, "author", NULL), ==, "Lewis Carroll");
  g_assert_cmpstr (sutra_item_get_meta_string (first, "language", NULL), ==, "en");
  for (guint i = 0; i < items->len; i++)
    {
      SutraItem *item = items->pdata[i];
      gint64 chapter = sutra_item_get_meta_int (item, "chapter_index", -1);
      gboolean front = json_object_has_member (sutra_item_get_meta (item), "front_matter");

      /* Only the front matter chapter is front matter; each chapter opens
       * with its first paragraph, the heading left out. */
      g_assert_cmpint (front, ==, chapter == 0);
      g_assert_null (sutra_item_get_meta_string (item, "part_title", NULL));
      if (chapter != last_chapter)
        {
          g_autofree char *text = item_text (item);

          if (chapter == 0)
            g_assert_cmpstr (text, ==, "Endpapers");
          else if (chapter == 1)
            g_assert_true (g_str_has_prefix (text, "ALICE was beginning to get very tired"));
          g_assert_false (g_str_has_prefix (text, "CHAPTER"));
          last_chapter = chapter;
        }
    }
  /* The story is there, the drop cap joined to its word; what follows THE
   * END is the last chapter's; entities are resolved. */
  g_assert_nonnull (strstr (all, "ALICE was beginning to get very tired of sitting by her sister"));
  g_assert_nonnull (strstr (all, "happy summer days. THE END ILLUSTRATIONS REPRODUCED"));
  g_assert_nonnull (strstr (all, "BALLANTYNE & COMPANY"));
  g_assert_true (g_str_has_suffix (all, "and the original text will appear."));
  g_assert_null (strstr (all, "&amp;"));

  /* front_matter "drop": the 12 chapters alone. */
  dropped = segment_ok ("{\"front_matter\": \"drop\"}", book);
  dropped_titles = chapter_titles (dropped);
  g_assert_cmpuint (dropped_titles->len, ==, G_N_ELEMENTS (alice_epub_titles));
  for (guint i = 0; i < dropped_titles->len; i++)
    g_assert_cmpstr (dropped_titles->pdata[i], ==, alice_epub_titles[i]);

  /* epub_chapters "headings" asks for what the default chose here. */
  by_headings = segment_ok ("{\"max_chars\": 300, \"epub_chapters\": \"headings\"}", book);
  heading_titles = chapter_titles (by_headings);
  {
    g_autofree char *a = join_titles (titles);
    g_autofree char *b = join_titles (heading_titles);
    g_autofree char *chunks = joined_chunks (by_headings);

    g_assert_cmpstr (a, ==, b);
    g_assert_cmpstr (chunks, ==, all);
  }
}

static void
test_segmenter_alice_epub_toc (void)
{
  if (!books_present ())
    return;

  g_autoptr (SutraItem) book = make_book ("alice-pg28885", "/data/alice-pg28885.epub",
                                          SUTRA_MEDIA_EPUB, read_book ("alice-pg28885.epub"));
  g_autoptr (GPtrArray) items = segment_ok ("{\"epub_chapters\": \"toc\"}", book);
  g_autoptr (GPtrArray) titles = chapter_titles (items);
  g_autoptr (GPtrArray) kept = segment_ok (
    "{\"epub_chapters\": \"toc\", \"strip_boilerplate\": false, \"front_matter\": \"drop\"}", book);
  g_autoptr (GPtrArray) kept_titles = chapter_titles (kept);
  g_autofree char *all = joined_chunks (items);
  g_autofree char *kept_all = joined_chunks (kept);

  g_test_summary ("epub_chapters \"toc\" follows the table of contents strictly: its entries "
                  "(nested levels included) with their titles, less the one pointing into the "
                  "stripped Gutenberg notice; with strip_boilerplate false, all of them and the "
                  "boilerplate too");
  /* The notice's entry points at stripped text: it has no chapter. */
  g_assert_cmpuint (titles->len, ==, G_N_ELEMENTS (alice_toc) - 1);
  for (guint i = 0; i < titles->len; i++)
    g_assert_cmpstr (titles->pdata[i], ==, alice_toc[i + 1]);
  assert_well_formed (items, "alice-pg28885");
  assert_no_gutenberg_lines (items);
  /* The nested entry names its parent. */
  for (guint i = 0; i < items->len; i++)
    if (sutra_item_get_meta_int (items->pdata[i], "chapter_index", -1) == 3)
      g_assert_cmpstr (sutra_item_get_meta_string (items->pdata[i], "part_title", NULL), ==,
                       "LIST OF THE PLATES");
  g_assert_nonnull (strstr (all, "ALICE was beginning to get very tired of sitting by her sister"));

  g_assert_cmpuint (kept_titles->len, ==, G_N_ELEMENTS (alice_toc));
  for (guint i = 0; i < kept_titles->len; i++)
    g_assert_cmpstr (kept_titles->pdata[i], ==, alice_toc[i]);
  g_assert_nonnull (strstr (kept_all, "End of Project Gutenberg's Alice's Adventures in "
                                      "Wonderland, by Lewis Carroll"));
  g_assert_nonnull (strstr (kept_all, "FULL PROJECT GUTENBERG LICENSE"));
}

/* classics.txt: Alice, Huckleberry Finn, Tom Sawyer, Frankenstein and
 * Grimm's tales, concatenated. */
static void
test_segmenter_classics (void)
{
  if (!books_present ())
    return;

  g_autoptr (SutraItem) book =
    make_book ("classics", "/data/classics.txt", "text/plain", read_book ("classics.txt"));
  g_autoptr (GPtrArray) items = segment_ok (NULL, book);
  g_autoptr (GPtrArray) titles = chapter_titles (items);
  static const char *const roman[] = {
    NULL,    "I",      "II",      "III",   "IV",   "V",     "VI",     "VII",   "VIII",
    "IX",    "X",      "XI",      "XII",   "XIII", "XIV",   "XV",     "XVI",   "XVII",
    "XVIII", "XIX",    "XX",      "XXI",   "XXII", "XXIII", "XXIV",   "XXV",   "XXVI",
    "XXVII", "XXVIII", "XXIX",    "XXX",   "XXXI", "XXXII", "XXXIII", "XXXIV", "XXXV",
    "XXXVI", "XXXVII", "XXXVIII", "XXXIX", "XL",   "XLI",   "XLII",
  };
  guint k = 0;

  g_test_summary ("classics.txt gives the chapters of each of its novels, whatever their "
                  "heading style");
  /* Alice: CHAPTER I. Title */
  for (guint i = 0; i < 12; i++)
    g_assert_cmpstr (titles->pdata[k++], ==, alice_titles[i]);
  /* Huckleberry Finn: CHAPTER I. ... CHAPTER XLII., CHAPTER THE LAST */
  for (guint i = 1; i <= 42; i++)
    {
      g_autofree char *expected = g_strdup_printf ("CHAPTER %s.", roman[i]);

      g_assert_cmpstr (titles->pdata[k++], ==, expected);
    }
  g_assert_cmpstr (titles->pdata[k++], ==, "CHAPTER THE LAST");
  /* Tom Sawyer: CHAPTER I ... CHAPTER XXXV (its XXVI misprinted XVI), CONCLUSION */
  for (guint i = 1; i <= 35; i++)
    {
      g_autofree char *expected = g_strdup_printf ("CHAPTER %s", i == 26 ? "XVI" : roman[i]);

      g_assert_cmpstr (titles->pdata[k++], ==, expected);
    }
  g_assert_cmpstr (titles->pdata[k++], ==, "CONCLUSION");
  /* Frankenstein: Letter 1 ... 4, Chapter 1 ... 24 */
  for (guint i = 1; i <= 4; i++)
    {
      g_autofree char *expected = g_strdup_printf ("Letter %u", i);

      g_assert_cmpstr (titles->pdata[k++], ==, expected);
    }
  for (guint i = 1; i <= 24; i++)
    {
      g_autofree char *expected = g_strdup_printf ("Chapter %u", i);

      g_assert_cmpstr (titles->pdata[k++], ==, expected);
    }
  g_assert_cmpuint (titles->len, ==, k);
  assert_well_formed (items, "classics");
  assert_chunks_fit (items, 400);
}

static void
test_segmenter_classics_caps (void)
{
  if (!books_present ())
    return;

  g_autoptr (SutraItem) book =
    make_book ("classics", "/data/classics.txt", "text/plain", read_book ("classics.txt"));
  g_autoptr (GPtrArray) items = segment_ok ("{\"caps_headings\": true}", book);
  g_autoptr (GPtrArray) titles = chapter_titles (items);
  g_autofree char *joined = join_titles (titles);

  g_test_summary ("With caps_headings, the story titles of Grimm's tales (all capitals after "
                  "blank lines) are chapters too");
  g_assert_nonnull (strstr (joined, "|THE VALIANT LITTLE TAILOR|HANSEL AND GRETEL|"));
  g_assert_nonnull (strstr (joined, "|SNOW-WHITE AND ROSE-RED"));
  g_assert_nonnull (strstr (joined, "|Chapter 24|"));
}

static gboolean
is_blank_line (const char *line)
{
  return line[strspn (line, " \t\r")] == '\0';
}

/* Where the footer starts in lines [start, end) before the *** END marker
 * (@end), or the end of the file: an old end line ("End of the Project
 * Gutenberg EBook of X") whose paragraph only blank lines follow, then the
 * end, or the licence (a line starting with "***" or naming Gutenberg).
 * After a start marker, without an end marker, the first old end line. */
static guint
old_footer_line (char **lines, guint start, guint end, gboolean has_start, gboolean has_end)
{
  for (guint i = start; i < end; i++)
    {
      const char *line = lines[i] + strspn (lines[i], " \t");
      guint j = i + 1;
      g_autofree char *lower = NULL;

      if (g_ascii_strncasecmp (line, "End of the Project Gutenberg", 28) != 0 &&
          g_ascii_strncasecmp (line, "End of Project Gutenberg", 24) != 0)
        continue;
      if (has_start && !has_end)
        return i;
      while (j < end && !is_blank_line (lines[j]))
        j++;
      while (j < end && is_blank_line (lines[j]))
        j++;
      if (j == end)
        return i;
      lower = g_ascii_strdown (lines[j], -1);
      if (g_str_has_prefix (lower + strspn (lower, " \t"), "***") ||
          strstr (lower, "gutenberg") != NULL)
        return i;
    }
  return end;
}

/* Nothing lost: the chunks, joined and folded, are the body of the book
 * (between the Gutenberg markers, before an old end line), less its
 * heading lines, as the file has it. */
static char *
expected_body (GBytes *bytes, GPtrArray *titles)
{
  gsize size;
  const char *data = g_bytes_get_data (bytes, &size);
  g_autofree char *text = g_strndup (data, size);
  g_auto (GStrv) lines = NULL;
  GString *body = g_string_new (NULL);
  guint start = 0, end, next_title = 0;
  char *cr;

  if (g_str_has_prefix (text, "\xef\xbb\xbf"))
    memmove (text, text + 3, strlen (text) - 2);
  while ((cr = strchr (text, '\r')) != NULL)
    *cr = ' ';
  lines = g_strsplit (text, "\n", -1);
  end = g_strv_length (lines);
  for (guint i = 0; i < end; i++)
    {
      if (g_str_has_prefix (lines[i], "*** START OF"))
        start = i + 1;
      else if (g_str_has_prefix (lines[i], "*** END OF"))
        end = i;
    }
  end = old_footer_line (lines, start, end, start > 0, end < g_strv_length (lines));
  for (guint i = start; i < end; i++)
    {
      g_autofree char *line = fold (lines[i]);

      /* The heading lines, in chapter order: "CHAPTER I. Title", or
       * "CHAPTER I" and then "Title" on a later line. */
      if (next_title < titles->len && line[0] != '\0')
        {
          const char *title = titles->pdata[next_title];

          if (strcmp (line, title) == 0)
            {
              next_title++;
              continue;
            }
          if (g_str_has_prefix (title, line))
            {
              guint j = i + 1;
              g_autofree char *rest = NULL;

              while (j < end && lines[j][strspn (lines[j], " \t\r")] == '\0')
                j++;
              rest = j < end ? fold (lines[j]) : g_strdup ("");
              if (g_str_has_suffix (title, rest) && rest[0] != '\0' &&
                  strlen (line) + strlen (rest) + 2 >= strlen (title))
                {
                  next_title++;
                  i = j;
                  continue;
                }
            }
        }
      g_string_append (body, lines[i]);
      g_string_append_c (body, '\n');
    }
  g_assert_cmpuint (next_title, ==, titles->len);
  {
    g_autofree char *raw = g_string_free (body, FALSE);

    return fold (raw);
  }
}

/* Letters and digits only, case folded: what no reader may lose. */
static char *
alnum_stream (const char *text)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isalnum (c))
        g_string_append_unichar (out, g_unichar_tolower (c));
    }
  return g_string_free (out, FALSE);
}

/* The text of an EPUB's spine documents, read independently: every text
 * node under <body>, in spine order, less Gutenberg's boilerplate: its
 * pgheader blocks (header, licence), its editions notice and the table of
 * links under it, and what lies outside the *** START / *** END markers
 * and after an old end line right above the END marker. */
static char *
epub_spine_text (GBytes *bytes)
{
  struct archive *archive = archive_read_new ();
  struct archive_entry *entry;
  g_autoptr (GHashTable) files = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GString *out = g_string_new (NULL);
  gsize size;
  const void *data = g_bytes_get_data (bytes, &size);
  const char *opf;
  g_autoptr (GRegex) itemref = g_regex_new ("<itemref idref=\"([^\"]+)\"", 0, 0, NULL);
  g_autoptr (GMatchInfo) match = NULL;

  archive_read_support_format_zip (archive);
  g_assert_cmpint (archive_read_open_memory (archive, data, size), ==, ARCHIVE_OK);
  while (archive_read_next_header (archive, &entry) == ARCHIVE_OK)
    {
      GString *content = g_string_new (NULL);
      char buffer[8192];
      la_ssize_t n;

      while ((n = archive_read_data (archive, buffer, sizeof buffer)) > 0)
        g_string_append_len (content, buffer, n);
      g_hash_table_insert (files, g_strdup (archive_entry_pathname (entry)),
                           g_string_free (content, FALSE));
    }
  archive_read_free (archive);

  opf = g_hash_table_lookup (files, "OEBPS/content.opf");
  g_assert_nonnull (opf);
  g_regex_match (itemref, opf, 0, &match);
  for (; g_match_info_matches (match); g_match_info_next (match, NULL))
    {
      g_autofree char *id = g_match_info_fetch (match, 1);
      g_autofree char *pattern = g_strdup_printf ("href=\"([^\"]+)\" id=\"%s\"", id);
      g_autoptr (GRegex) item = g_regex_new (pattern, 0, 0, NULL);
      g_autoptr (GMatchInfo) item_match = NULL;
      g_autofree char *href = NULL;
      g_autofree char *path = NULL;
      const char *xhtml;
      g_autoptr (GRegex) tags = g_regex_new ("<[^>]*>", G_REGEX_DOTALL, 0, NULL);
      g_autoptr (GRegex) breaks = g_regex_new ("<br\\s*/?>", 0, 0, NULL);
      g_autoptr (GRegex) blocks = g_regex_new (
        "<(div|section)\\b[^>]*\\bclass=\"[^\"]*\\b(pgheader|pg-boilerplate)\\b[^\"]*\"[^>]*>"
        ".*?</\\1>",
        G_REGEX_DOTALL, 0, NULL);
      g_autoptr (GRegex) notice = g_regex_new (
        "<(h[1-6]|p|div)\\b[^>]*>\\s*There are several editions of this ebook in the Project "
        "Gutenberg collection.*?</\\1>\\s*(<table\\b.*?</table>)?",
        G_REGEX_DOTALL, 0, NULL);
      g_autofree char *no_blocks = NULL;
      g_autofree char *no_notice = NULL;
      g_autofree char *lines = NULL;
      g_autofree char *stripped = NULL;
      const char *body;

      g_assert_true (g_regex_match (item, opf, 0, &item_match));
      href = g_match_info_fetch (item_match, 1);
      path = g_strconcat ("OEBPS/", href, NULL);
      xhtml = g_hash_table_lookup (files, path);
      g_assert_nonnull (xhtml);
      body = strstr (xhtml, "<body");
      g_assert_nonnull (body);
      no_blocks = g_regex_replace_literal (blocks, body, -1, 0, "", 0, NULL);
      no_notice = g_regex_replace_literal (notice, no_blocks, -1, 0, "", 0, NULL);
      lines = g_regex_replace_literal (breaks, no_notice, -1, 0, "\n", 0, NULL);
      stripped = g_regex_replace_literal (tags, lines, -1, 0, " ", 0, NULL);
      /* Character references: &#233; is a letter; named ones here are
       * punctuation (&amp;, &nbsp;). */
      for (const char *p = stripped; *p != '\0'; p++)
        {
          if (p[0] == '&' && p[1] == '#' && g_ascii_isdigit (p[2]))
            {
              char *semicolon = NULL;
              gunichar c = (gunichar) g_ascii_strtoull (p + 2, &semicolon, 10);

              if (semicolon != NULL && *semicolon == ';')
                {
                  g_string_append_unichar (out, c);
                  p = semicolon;
                  continue;
                }
            }
          if (p[0] == '&' && g_ascii_isalpha (p[1]))
            {
              const char *semicolon = strchr (p, ';');

              if (semicolon != NULL && semicolon - p < 10)
                {
                  g_string_append_c (out, ' ');
                  p = semicolon;
                  continue;
                }
            }
          g_string_append_c (out, *p);
        }
      g_string_append_c (out, '\n');
    }
  {
    g_auto (GStrv) text_lines = g_strsplit (out->str, "\n", -1);
    guint start = 0, end = g_strv_length (text_lines);
    gboolean has_end = FALSE;

    for (guint i = 0; i < end; i++)
      {
        const char *line = text_lines[i] + strspn (text_lines[i], " \t");

        if (g_str_has_prefix (line, "*** START OF"))
          start = i + 1;
        else if (g_str_has_prefix (line, "*** END OF"))
          {
            end = i;
            has_end = TRUE;
          }
      }
    end = old_footer_line (text_lines, start, end, start > 0, has_end);
    g_string_free (out, TRUE);
    out = g_string_new (NULL);
    for (guint i = start; i < end; i++)
      {
        g_string_append (out, text_lines[i]);
        g_string_append_c (out, '\n');
      }
  }
  return g_string_free (out, FALSE);
}

/* The chunks of @items, in order, are @expected (an alnum_stream) less
 * each chapter's heading, which must be there with @headings_required
 * (chapters found in the text) and may be (a TOC label the text repeats). */
static void
assert_body_less_headings (GPtrArray *items, const char *expected, gboolean headings_required)
{
  const char *p = expected;
  gint64 last = -1;
  gboolean heading_pending = FALSE;

  for (guint i = 0; i < items->len; i++)
    {
      SutraItem *item = items->pdata[i];
      gint64 chapter = sutra_item_get_meta_int (item, "chapter_index", -1);
      const char *title = sutra_item_get_meta_string (item, "chapter_title", "");
      g_autofree char *text = item_text (item);
      g_autofree char *key = NULL;
      g_autofree char *chunk = alnum_stream (text);

      if (chapter != last)
        {
          last = chapter;
          heading_pending = strcmp (title, "Front matter") != 0;
        }
      /* The heading follows the title page that leads a chapter. */
      if (heading_pending && !json_object_has_member (sutra_item_get_meta (item), "front_matter"))
        {
          heading_pending = FALSE;
          key = alnum_stream (title);
          if (g_str_has_prefix (p, key))
            p += strlen (key);
          else if (headings_required)
            g_assert_cmpstr (p, ==, key);
        }
      if (!g_str_has_prefix (p, chunk))
        {
          g_test_message ("chunk %s: %s", sutra_item_get_id (item), text);
          g_assert_cmpstr (p, ==, chunk);
        }
      p += strlen (chunk);
    }
  g_assert_cmpstr (p, ==, "");
}

static void
test_segmenter_nothing_lost (gconstpointer data)
{
  if (!books_present ())
    return;

  const char *name = data;
  g_autoptr (GBytes) bytes = read_book (name);
  gboolean is_epub = g_str_has_suffix (name, ".epub");
  g_autoptr (SutraItem) book =
    make_book ("book", name, is_epub ? SUTRA_MEDIA_EPUB : "text/plain", g_bytes_ref (bytes));

  g_test_summary ("Nothing lost: the chunks of each book, joined, are exactly its body text "
                  "(after boilerplate, without the heading lines)");
  if (!is_epub)
    {
      g_autoptr (GPtrArray) items = segment_ok ("{\"max_chars\": 150}", book);
      g_autoptr (GPtrArray) titles = chapter_titles (items);
      g_autofree char *chunks = joined_chunks (items);
      g_autofree char *expected = NULL;

      /* A front matter chapter has no heading line. */
      if (titles->len > 0 && strcmp (titles->pdata[0], "Front matter") == 0)
        g_ptr_array_remove_index (titles, 0);
      expected = expected_body (bytes, titles);
      g_assert_cmpuint (strlen (chunks), ==, strlen (expected));
      g_assert_cmpstr (chunks, ==, expected);
      assert_chunks_fit (items, 150);
    }
  else
    {
      /* One chapter per spine document skips no heading: its chunks hold
       * every letter of the spine's text less the boilerplate. */
      g_autoptr (GPtrArray) items =
        segment_ok ("{\"max_chars\": 150, \"front_matter\": \"chapter\", "
                    "\"epub_chapters\": \"spine\"}",
                    book);
      g_autoptr (GPtrArray) by_default =
        segment_ok ("{\"max_chars\": 150, \"front_matter\": \"chapter\"}", book);
      g_autoptr (GPtrArray) by_headings =
        segment_ok ("{\"max_chars\": 150, \"front_matter\": \"chapter\", "
                    "\"epub_chapters\": \"headings\"}",
                    book);
      g_autoptr (GPtrArray) by_toc =
        segment_ok ("{\"max_chars\": 150, \"front_matter\": \"chapter\", "
                    "\"epub_chapters\": \"toc\"}",
                    book);
      g_autofree char *spine = epub_spine_text (bytes);
      g_autofree char *chunks = joined_chunks (items);
      g_autofree char *expected = alnum_stream (spine);
      g_autofree char *actual = alnum_stream (chunks);

      g_assert_cmpuint (strlen (actual), ==, strlen (expected));
      g_assert_cmpstr (actual, ==, expected);
      assert_chunks_fit (items, 150);

      /* By headings, the same less the heading lines; by TOC, less the
       * headings that repeat its labels. */
      assert_body_less_headings (by_headings, expected, TRUE);
      assert_body_less_headings (by_toc, expected, FALSE);
      assert_body_less_headings (by_default, expected, FALSE);
      assert_chunks_fit (by_default, 150);
    }
}

static char *
replace_all (const char *text, const char *from, const char *to)
{
  g_auto (GStrv) parts = g_strsplit (text, from, -1);

  return g_strjoinv (to, parts);
}

static void
test_segmenter_max_chars (gconstpointer data)
{
  if (!books_present ())
    return;

  glong max_chars = GPOINTER_TO_INT (data);
  g_autoptr (GBytes) bytes = read_book ("alice-pg11.txt");
  g_autoptr (SutraItem) book = make_book ("alice", "alice.txt", "text/plain", g_bytes_ref (bytes));
  g_autoptr (SutraItem) whole = make_book ("alice", "alice.txt", "text/plain", g_bytes_ref (bytes));
  g_autofree char *params = g_strdup_printf ("{\"max_chars\": %ld}", max_chars);
  g_autoptr (GPtrArray) items = segment_ok (params, book);
  g_autoptr (GPtrArray) reference = segment_ok ("{\"max_chars\": 100000}", whole);
  g_autofree char *chunks = joined_chunks (items);
  g_autofree char *all = joined_chunks (reference);
  guint n_split = 0;
  gsize split_chars = 0;

  g_test_summary ("No chunk is longer than max_chars; cuts fall between words; chunks never "
                  "cross a paragraph or a chapter");
  assert_chunks_fit (items, max_chars);
  assert_well_formed (items, "alice");
  /* Joined with spaces, the chunks are the paragraphs: every cut is at a
   * space, never inside a word. At 20, some words are longer than that
   * ("it means--to--make--anything--prettier.") and are cut after a dash:
   * then no letter is lost or added at least. */
  if (max_chars >= 60)
    g_assert_cmpstr (chunks, ==, all);
  else
    {
      g_autofree char *cut = replace_all (chunks, " ", "");
      g_autofree char *all_cut = replace_all (all, " ", "");

      g_assert_cmpstr (cut, ==, all_cut);
    }
  /* Sentences are merged: the chunks that do not end their paragraph are
   * more than half full on average. */
  for (guint i = 0; i < items->len; i++)
    {
      SutraItem *item = items->pdata[i];
      g_autofree char *text = item_text (item);

      if (!json_object_get_boolean_member (sutra_item_get_meta (item), "paragraph_end"))
        {
          n_split++;
          split_chars += (gsize) g_utf8_strlen (text, -1);
        }
    }
  g_assert_cmpuint (split_chars * 2, >=, n_split * (gsize) max_chars);
  if (max_chars < 2000)
    g_assert_cmpuint (n_split, >, 0);
  /* With a large max_chars every chunk is a whole paragraph. */
  for (guint i = 0; i < reference->len; i++)
    {
      g_assert_true (json_object_get_boolean_member (sutra_item_get_meta (reference->pdata[i]),
                                                     "paragraph_end"));
    }
}

/* Layouts not in shared/data */

typedef struct
{
  const char *name;
  const char *media_type;
  const char *params;
  const char *text;
  const char *titles;      /* "|"-joined chapter titles */
  const char *first_chunk; /* nullable */
  const char *part_titles; /* nullable: "|"-joined, "-" for none */
} LayoutCase;

static const LayoutCase layouts[] = {
  { "centred-headings", "text/plain", NULL,
    "                         CHAPTER I\n\n"
    "                    THE BOY WHO WAITED\n\n"
    "It was a long wait. Nobody came.\n\n"
    "                         CHAPTER II\n\n"
    "                      THE LONG ROAD\n\n"
    "The road went on.\n",
    "CHAPTER I. THE BOY WHO WAITED|CHAPTER II. THE LONG ROAD", "It was a long wait. Nobody came.",
    NULL },
  { "book-one-numbering", "text/plain", NULL,
    "BOOK ONE\n\nIn the beginning there was a farm.\n\n"
    "BOOK TWO\n\nThen came the city.\n\n"
    "BOOK THREE\n\nAnd at last, the sea.\n",
    "BOOK ONE|BOOK TWO|BOOK THREE", "In the beginning there was a farm.", NULL },
  { "parts-over-chapters", "text/plain", NULL,
    "PART I\n\nCHAPTER 1\n\nOne.\n\nCHAPTER 2\n\nTwo.\n\n"
    "PART II\nCHAPTER 3\n\nThree.\n",
    "CHAPTER 1|CHAPTER 2|CHAPTER 3", "One.", "PART I|PART I|PART II" },
  { "part-roman-with-text", "text/plain", NULL,
    "PART II\n\nAn epigraph that opens the part.\n\nChapter 7\n\nSeven.\n", "PART II|Chapter 7",
    NULL, "-|PART II" },
  { "number-words", "text/plain", NULL,
    "Chapter One\n\nFirst text.\n\nChapter Two: The Second\n\nSecond text.\n\n"
    "CHAPTER TWENTY-ONE\n\nLater text.\n\nChapter the Last\n\nEnd text.\n",
    "Chapter One|Chapter Two: The Second|CHAPTER TWENTY-ONE|Chapter the Last", "First text.",
    NULL },
  { "title-on-next-line", "text/plain", NULL,
    "CHAPTER I.\nDown the Rabbit-Hole\n\nAlice was beginning to get very tired.\n\n"
    "CHAPTER II.\n\n\nThe Pool of Tears\n\n'Curiouser and curiouser!' cried Alice.\n",
    "CHAPTER I. Down the Rabbit-Hole|CHAPTER II. The Pool of Tears",
    "Alice was beginning to get very tired.", NULL },
  { "heading-like-in-running-text", "text/plain", NULL,
    "CHAPTER 1\n\nShe opened the book and turned to\nChapter 3 at once, as she always did.\n\n"
    "Chapter 3 was the best part of the book.\n\n"
    "Part of the problem was the rain.\n\n"
    "Book two of the series never came.\n\n"
    "CHAPTER 2\n\nThe end.\n",
    "CHAPTER 1|CHAPTER 2",
    "She opened the book and turned to Chapter 3 at once, as she always did.", NULL },
  { "first-paragraph-is-not-a-title", "text/plain", NULL,
    "CHAPTER I\n\n\"TOM!\"\n\nNo answer.\n\nCHAPTER II\n\nSaturday morning was come.\n",
    "CHAPTER I|CHAPTER II", "\"TOM!\"", NULL },
  { "table-of-contents", "text/plain", "{\"front_matter\": \"chapter\"}",
    "CONTENTS\n\nCHAPTER I. The Start\nCHAPTER II. The Middle\n\n"
    "CHAPTER I. The Start\n\nText one.\n\nCHAPTER II. The Middle\n\nText two.\n",
    "Front matter|CHAPTER I. The Start|CHAPTER II. The Middle", "CONTENTS", NULL },
  { "spaced-table-of-contents", "text/plain", "{\"front_matter\": \"chapter\"}",
    "CONTENTS\n\nCHAPTER I. The Start\n\nCHAPTER II. The Middle\n\n"
    "CHAPTER I. The Start\n\nText one.\n\nCHAPTER II. The Middle\n\nText two.\n",
    "Front matter|CHAPTER I. The Start|CHAPTER II. The Middle", "CONTENTS", NULL },
  { "bare-roman-numerals", "text/plain", NULL,
    "I.\n\nThe first.\n\nII.\n\nThe second.\n\nIII.\n\nThe third.\n", "I.|II.|III.", "The first.",
    NULL },
  { "stories-and-sections", "text/plain", NULL,
    "I. A SCANDAL IN BOHEMIA\n\n\nI.\n\n\nTo Sherlock Holmes she is always the woman.\n\n"
    "II.\n\nAt three o'clock precisely I was at Baker Street.\n\n\n"
    "II. THE RED-HEADED LEAGUE\n\n\nI.\n\nI had called upon my friend.\n",
    "I.|II.|I.", "To Sherlock Holmes she is always the woman.",
    "I. A SCANDAL IN BOHEMIA|I. A SCANDAL IN BOHEMIA|II. THE RED-HEADED LEAGUE" },
  { "part-with-title", "text/plain", NULL,
    "PART I.\n\nTHE OLD WORLD\n\nCHAPTER I.\n\nTHE FARM.\n\nCows and hay.\n\n"
    "CHAPTER II.\n\nTHE CITY.\n\nStreets.\n",
    "CHAPTER I. THE FARM.|CHAPTER II. THE CITY.", "Cows and hay.",
    "PART I. THE OLD WORLD|PART I. THE OLD WORLD" },
  { "book-with-year", "text/plain", NULL,
    "BOOK ONE: 1805\n\n\n\n\nCHAPTER I\n\n\"Well, Prince, so Genoa and Lucca are now\n"
    "just family estates of the Buonapartes.\"\n\nBOOK TWO: 1806\n\nCHAPTER I\n\nIn 1806.\n",
    "CHAPTER I|CHAPTER I",
    "\"Well, Prince, so Genoa and Lucca are now just family estates of the "
    "Buonapartes.\"",
    "BOOK ONE: 1805|BOOK TWO: 1806" },
  { "number-words-alone", "text/plain", NULL,
    "One\n\nThe first day.\n\nTwo\n\nThe second day.\n\nThree\n\nThe third day.\n", "One|Two|Three",
    "The first day.", NULL },
  { "title-page-leads", "text/plain", NULL,
    "A CHRISTMAS CAROL\n\nby Charles Dickens\n\n\n\nSTAVE ONE.\n\nMARLEY'S GHOST.\n\n"
    "Marley was dead: to begin with.\n",
    "STAVE ONE. MARLEY'S GHOST.", "A CHRISTMAS CAROL", NULL },
  { "stave-and-prologue", "text/plain", NULL,
    "PROLOGUE\n\nBefore it all.\n\nSTAVE ONE. MARLEY'S GHOST\n\nMarley was dead.\n\n"
    "EPILOGUE\n\nAfter it all.\n",
    "PROLOGUE|STAVE ONE. MARLEY'S GHOST|EPILOGUE", "Before it all.", NULL },
  { "custom-pattern", "text/plain", "{\"heading_pattern\": \"^~~ .+ ~~$\"}",
    "~~ The Start ~~\n\nText one.\nCHAPTER I\n\n~~ The End ~~\n\nText two.\n",
    "~~ The Start ~~|~~ The End ~~", "Text one. CHAPTER I", NULL },
  { "front-matter-chapter", "text/plain", "{\"front_matter\": \"chapter\"}",
    "A PREFATORY NOTE\n\nThis book was written over many years, and the author would like to "
    "thank everyone who helped along the way, especially the readers of the first drafts, "
    "whose patience knew no bounds and whose comments were always kind and always right. "
    "Without them the book would be shorter, and worse, and probably never finished at all; "
    "so it is to them that it is dedicated, with love and with thanks.\n\n"
    "CHAPTER 1\n\nOnce.\n",
    "Front matter|CHAPTER 1", "A PREFATORY NOTE", NULL },
  { "front-matter-drop", "text/plain", "{\"front_matter\": \"drop\"}",
    "A note before the story, long enough to be kept by auto, but dropped here "
    "because front_matter says so, whatever its length or its content might be in the end; "
    "and then some more words, to be sure that it is longer than a title page could be, "
    "which is four hundred characters at most, as the documentation says, and more.\n\n"
    "CHAPTER 1\n\nOnce.\n",
    "CHAPTER 1", "Once.", NULL },
  { "no-headings", "text/plain", NULL, "Just a few paragraphs.\n\nNo chapters at all.\n",
    "no-headings", "Just a few paragraphs.", NULL },
  { "crlf-bom", "text/plain", NULL,
    "\xef\xbb\xbf"
    "CHAPTER 1\r\n\r\nHello,\r\nworld.\r\n\r\nCHAPTER 2\r\n\r\nBye.\r\n",
    "CHAPTER 1|CHAPTER 2", "Hello, world.", NULL },
  { "gutenberg", "text/plain", NULL,
    "The Project Gutenberg eBook of A Short Book, by Jane Doe\n\n"
    "Title: A Short Book\n\nAuthor: Jane Doe\n\nLanguage: French\n\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK A SHORT BOOK ***\n\n"
    "CHAPTER I\n\nBonjour. Au revoir.\n\n"
    "*** END OF THE PROJECT GUTENBERG EBOOK A SHORT BOOK ***\n\n"
    "Section 1. General Terms of Use\n\nLicence text.\n",
    "CHAPTER I", "Bonjour. Au revoir.", NULL },
  { "gutenberg-kept", "text/plain", "{\"strip_boilerplate\": false, \"front_matter\": \"chapter\"}",
    "Title: A Short Book\n\n*** START OF THE PROJECT GUTENBERG EBOOK A SHORT BOOK ***\n\n"
    "CHAPTER I\n\nText.\n\n*** END OF THE PROJECT GUTENBERG EBOOK A SHORT BOOK ***\n\nLicence.\n",
    "Front matter|CHAPTER I", "Title: A Short Book", NULL },
  { "markdown", "text/markdown", NULL,
    "# My Book\n\n## One\n\nFirst *chapter*.\n\n### A section\n\nMore.\n\n"
    "```\n# not a heading\n```\n\n## Two ##\n\nSecond.\n",
    "One|Two", "First *chapter*.", "My Book|My Book" },
  { "markdown-level-1", "text/markdown", "{\"markdown_level\": 1}",
    "# My Book\n\n## One\n\nFirst.\n\n## Two\n\nSecond.\n", "My Book", "## One", NULL },
  { "markdown-without-hashes", "text/markdown", NULL,
    "Chapter 1\n\nThe *first*.\n\nChapter 2\n\nThe second.\n", "Chapter 1|Chapter 2",
    "The *first*.", NULL },
  { "markdown-setext-front-matter", "text/markdown", NULL,
    "---\ntitle: \"Setext Tales\"\nauthor: Ann Author\nlanguage: de\n---\n\n"
    "Erstes Kapitel\n==============\n\nEins.\n\nZweites Kapitel\n===============\n\nZwei.\n",
    "Erstes Kapitel|Zweites Kapitel", "Eins.", NULL },
};

static void
test_segmenter_layout (gconstpointer data)
{
  const LayoutCase *row = data;
  g_autoptr (SutraItem) book = make_text_book (row->name, row->media_type, row->text);
  g_autoptr (GPtrArray) items = segment_ok (row->params, book);
  g_autoptr (GPtrArray) titles = chapter_titles (items);
  g_autofree char *joined = join_titles (titles);

  g_test_summary ("Chapter headings in layouts not in shared/data: centred, BOOK ONE and "
                  "PART II numbering, number words, titles on a later line, heading-like lines "
                  "in running text, tables of contents, Markdown, CRLF and BOM");
  g_assert_cmpstr (joined, ==, row->titles);
  assert_well_formed (items, row->name);
  if (row->first_chunk != NULL)
    {
      g_autofree char *first = item_text (items->pdata[0]);

      g_assert_cmpstr (first, ==, row->first_chunk);
    }
  if (row->part_titles != NULL)
    {
      g_auto (GStrv) parts = g_strsplit (row->part_titles, "|", -1);
      gint64 last = -1;
      guint k = 0;

      for (guint i = 0; i < items->len; i++)
        {
          SutraItem *item = items->pdata[i];

          if (sutra_item_get_meta_int (item, "chapter_index", -1) == last)
            continue;
          last = sutra_item_get_meta_int (item, "chapter_index", -1);
          g_assert_nonnull (parts[k]);
          g_assert_cmpstr (sutra_item_get_meta_string (item, "part_title", "-"), ==, parts[k]);
          k++;
        }
      g_assert_null (parts[k]);
    }
}

/* Old Gutenberg texts end with "End of Project Gutenberg's X" or "End of
 * the Project Gutenberg EBook of X" instead of, or above, the *** END
 * marker. */
static const struct
{
  const char *name;
  const char *params;
  const char *text;
  const char *joined; /* every chunk, joined by spaces */
} old_footers[] = {
  { "above-end-marker", NULL,
    "The Project Gutenberg EBook of Tiny Tales, by Ann Author\n\nTitle: Tiny Tales\n\n"
    "*** START OF THIS PROJECT GUTENBERG EBOOK TINY TALES ***\n\n"
    "CHAPTER 1\n\nText one.\n\nCHAPTER 2\n\nText two.\n\n\n\n"
    "End of Project Gutenberg's Tiny Tales, by Ann Author\n\n"
    "*** END OF THIS PROJECT GUTENBERG EBOOK TINY TALES ***\n\n"
    "***** This file should be named 12345.txt or 12345.zip *****\n",
    "Text one. Text two." },
  { "no-markers-licence", NULL,
    "CHAPTER 1\n\nText one.\n\nCHAPTER 2\n\nText two.\n\n"
    "End of the Project Gutenberg EBook of Tiny Tales, by\nAnn Author\n\n"
    "***** This file should be named 12345.txt or 12345.zip *****\n"
    "This and all associated files of various formats will be found in:\n"
    "        http://www.gutenberg.org/1/2/3/4/12345/\n\n"
    "Updated editions will replace the previous one--the old editions\nwill be renamed.\n",
    "Text one. Text two." },
  { "no-markers-last-line", NULL,
    "CHAPTER 1\n\nText one.\n\nCHAPTER 2\n\nText two.\n\n"
    "End of The Project Gutenberg Etext of Tiny Tales\n\n\n",
    "Text one. Text two." },
  { "start-marker-only", NULL,
    "*** START OF THIS PROJECT GUTENBERG EBOOK TINY TALES ***\n\n"
    "CHAPTER 1\n\nText one.\n\nCHAPTER 2\n\nText two.\n\n"
    "End of the Project Gutenberg EBook of Tiny Tales\n\nSome licence.\n",
    "Text one. Text two." },
  /* A collection: one book's end line, then the next book. */
  { "followed-by-text", NULL,
    "CHAPTER 1\n\nText one.\n\nEnd of the Project Gutenberg EBook of Frankenstein, by \n"
    "Mary Wollstonecraft (Godwin) Shelley\n\n\n\nA certain king had a beautiful garden.\n",
    "Text one. End of the Project Gutenberg EBook of Frankenstein, by Mary Wollstonecraft "
    "(Godwin) Shelley A certain king had a beautiful garden." },
  { "kept", "{\"strip_boilerplate\": false}",
    "CHAPTER 1\n\nText one.\n\nCHAPTER 2\n\nText two.\n\n"
    "End of Project Gutenberg's Tiny Tales, by Ann Author\n\n"
    "*** END OF THIS PROJECT GUTENBERG EBOOK TINY TALES ***\n",
    "Text one. Text two. End of Project Gutenberg's Tiny Tales, by Ann Author *** END OF "
    "THIS PROJECT GUTENBERG EBOOK TINY TALES ***" },
};

static void
test_segmenter_old_footer (gconstpointer data)
{
  guint i = GPOINTER_TO_UINT (data);
  g_autoptr (SutraItem) book =
    make_text_book (old_footers[i].name, "text/plain", old_footers[i].text);
  g_autoptr (GPtrArray) items = segment_ok (old_footers[i].params, book);
  g_autofree char *all = joined_chunks (items);

  g_test_summary ("An old-style end line (End of Project Gutenberg's X, End of the Project "
                  "Gutenberg EBook of X) starts the footer above the END marker, at the end of "
                  "the file or above the licence; followed by more text, it is text");
  g_assert_cmpstr (all, ==, old_footers[i].joined);
}

static const char *
layout_text (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (layouts); i++)
    if (strcmp (layouts[i].name, name) == 0)
      return layouts[i].text;
  g_assert_not_reached ();
}

static void
test_segmenter_metadata (void)
{
  g_autoptr (SutraItem) pg = make_text_book ("gutenberg", "text/plain", layout_text ("gutenberg"));
  g_autoptr (SutraItem) md =
    make_text_book ("md", "text/markdown", layout_text ("markdown-setext-front-matter"));
  g_autoptr (SutraItem) tagged = make_text_book ("tagged", "text/plain", "Hello there.\n");
  g_autoptr (GPtrArray) pg_items = segment_ok (NULL, pg);
  g_autoptr (GPtrArray) md_items = segment_ok (NULL, md);
  g_autoptr (GPtrArray) forced = segment_ok ("{\"language\": \"pt-BR\"}", pg);
  g_autoptr (GPtrArray) tagged_items = NULL;
  g_autofree char *pg_all = joined_chunks (pg_items);

  g_test_summary ("Title, author and language come from the Gutenberg header, Markdown front "
                  "matter or item metadata; the language parameter overrides them");
  g_assert_cmpstr (sutra_item_get_meta_string (pg_items->pdata[0], "title", NULL), ==,
                   "A Short Book");
  g_assert_cmpstr (sutra_item_get_meta_string (pg_items->pdata[0], "author", NULL), ==, "Jane Doe");
  g_assert_cmpstr (sutra_item_get_meta_string (pg_items->pdata[0], "language", NULL), ==, "fr");
  g_assert_null (strstr (pg_all, "Licence"));
  g_assert_cmpstr (sutra_item_get_meta_string (forced->pdata[0], "language", NULL), ==, "pt-BR");

  g_assert_cmpstr (sutra_item_get_meta_string (md_items->pdata[0], "title", NULL), ==,
                   "Setext Tales");
  g_assert_cmpstr (sutra_item_get_meta_string (md_items->pdata[0], "author", NULL), ==,
                   "Ann Author");
  g_assert_cmpstr (sutra_item_get_meta_string (md_items->pdata[0], "language", NULL), ==, "de");

  {
    g_autoptr (SutraItem) carol =
      make_text_book ("carol", "text/plain", layout_text ("title-page-leads"));
    g_autoptr (GPtrArray) carol_items = segment_ok (NULL, carol);

    g_assert_cmpstr (sutra_item_get_meta_string (carol_items->pdata[0], "title", NULL), ==,
                     "A CHRISTMAS CAROL");
    g_assert_cmpstr (sutra_item_get_meta_string (carol_items->pdata[0], "author", NULL), ==,
                     "Charles Dickens");
  }
  json_object_set_string_member (sutra_item_ensure_meta (tagged), "language", "es");
  tagged_items = segment_ok (NULL, tagged);
  g_assert_cmpstr (sutra_item_get_meta_string (tagged_items->pdata[0], "language", NULL), ==, "es");
  g_assert_null (sutra_item_get_meta_string (tagged_items->pdata[0], "author", NULL));
}

/* Sentences and chunks */

static void
test_segmenter_sentences (void)
{
  g_autoptr (SutraItem) book =
    make_text_book ("sentences", "text/plain",
                    "Mr. Smithson arrived here today. Yes.\n\nShort one.\n");
  g_autoptr (GPtrArray) items = segment_ok ("{\"max_chars\": 20}", book);
  static const char *const expected[] = {
    "Mr. Smithson arrived",
    "here today. Yes.",
    "Short one.",
  };
  static const int paragraph[] = { 0, 0, 1 };
  static const gboolean paragraph_end[] = { FALSE, TRUE, TRUE };

  g_test_summary ("Sentences come from ICU's break iterator (\"Mr.\" ends none) and are merged "
                  "up to max_chars; paragraph ends are in the metadata");
  g_assert_cmpuint (items->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < items->len; i++)
    {
      g_autofree char *text = item_text (items->pdata[i]);
      JsonObject *meta = sutra_item_get_meta (items->pdata[i]);

      g_assert_cmpstr (text, ==, expected[i]);
      g_assert_cmpint (json_object_get_int_member (meta, "paragraph_index"), ==, paragraph[i]);
      g_assert_cmpint (json_object_get_boolean_member (meta, "paragraph_end"), ==,
                       paragraph_end[i]);
    }
}

static void
test_segmenter_merge (void)
{
  g_autoptr (SutraItem) book =
    make_text_book ("merge", "text/plain",
                    "One. Two. Three. Four. Five. Six. Seven. Eight. Nine. Ten.\n");
  g_autoptr (GPtrArray) items = segment_ok ("{\"max_chars\": 20}", book);
  static const char *const expected[] = {
    "One. Two. Three.",
    "Four. Five. Six.",
    "Seven. Eight. Nine.",
    "Ten.",
  };

  g_test_summary ("Sentences are merged greedily up to max_chars");
  g_assert_cmpuint (items->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < items->len; i++)
    {
      g_autofree char *text = item_text (items->pdata[i]);

      g_assert_cmpstr (text, ==, expected[i]);
    }
}

static void
test_segmenter_long_sentence (void)
{
  g_autoptr (SutraItem) book =
    make_text_book ("long", "text/plain",
                    "The rabbit ran across the field, past the hedge and the old oak tree, "
                    "through the garden where the roses grew; and then, without a pause, "
                    "down a hole that nobody had ever noticed before that day\n\n"
                    "Supercalifragilisticexpialidocious-and-then-some-more-letters here "
                    "Pneumonoultramicroscopicsilicovolcanoconiosis.\n");
  g_autoptr (GPtrArray) items = segment_ok ("{\"max_chars\": 40}", book);
  g_autofree char *first = item_text (items->pdata[0]);
  g_autofree char *second = item_text (items->pdata[1]);
  g_autofree char *all = joined_chunks (items);

  g_test_summary ("A sentence longer than max_chars is cut at clauses, then at spaces; a word "
                  "longer than max_chars is the only thing ever cut inside");
  assert_chunks_fit (items, 40);
  g_assert_cmpstr (first, ==, "The rabbit ran across the field,");
  g_assert_cmpstr (second, ==, "past the hedge and the old oak tree,");
  {
    static const char *const tail[] = {
      "Supercalifragilisticexpialidocious-and-",
      "then-some-more-letters here",
      "Pneumonoultramicroscopicsilicovolcanocon",
      "iosis.",
    };
    guint k = 0;

    /* Words longer than max_chars are cut after a hyphen, else anywhere:
     * the only cuts inside a word. */
    for (guint i = 0; i < items->len; i++)
      if (sutra_item_get_meta_int (items->pdata[i], "paragraph_index", -1) == 1)
        {
          g_autofree char *text = item_text (items->pdata[i]);

          g_assert_cmpuint (k, <, G_N_ELEMENTS (tail));
          g_assert_cmpstr (text, ==, tail[k++]);
        }
    g_assert_cmpuint (k, ==, G_N_ELEMENTS (tail));
  }
  g_assert_nonnull (strstr (all, "that nobody had ever noticed before that day"));
}

static void
test_segmenter_emit_chapters (void)
{
  if (!books_present ())
    return;

  g_autoptr (GBytes) bytes = read_book ("alice-pg11.txt");
  g_autoptr (SutraItem) book = make_book ("alice", "alice.txt", "text/plain", g_bytes_ref (bytes));
  g_autoptr (GPtrArray) chapters = segment_ok ("{\"emit\": \"chapters\"}", book);
  g_autoptr (GPtrArray) chunks = segment_ok (NULL, book);
  g_autofree char *chapter_text = joined_chunks (chapters);
  g_autofree char *chunk_text = joined_chunks (chunks);

  g_test_summary ("emit: chapters pushes one item per chapter (book/0003) with the whole "
                  "chapter's text, paragraphs separated by blank lines");
  g_assert_cmpuint (chapters->len, ==, 12);
  for (guint i = 0; i < chapters->len; i++)
    {
      SutraItem *item = chapters->pdata[i];
      g_autofree char *id = g_strdup_printf ("alice/%04u", i);
      g_autofree char *text = item_text (item);

      g_assert_cmpuint (sutra_item_get_depth (item), ==, 2);
      g_assert_cmpstr (sutra_item_get_id (item), ==, id);
      g_assert_cmpstr (sutra_item_get_meta_string (item, "chapter_title", NULL), ==,
                       alice_titles[i]);
      g_assert_nonnull (strstr (text, "\n\n"));
      g_assert_cmpint (sutra_item_get_meta_int (item, "paragraph_count", 0), >, 10);
    }
  g_assert_cmpstr (chapter_text, ==, chunk_text);
}

/* The item's metadata with the `cover` path reduced to its file name: the
 * directory is the work directory, which is each run's own when there is
 * no job; the name comes from the cover's content. Borrowed: the item
 * keeps it. */
static JsonObject *
meta_less_cover (SutraItem *item)
{
  JsonObject *meta = sutra_item_get_meta (item);
  const char *cover = json_object_get_string_member_with_default (meta, "cover", NULL);

  if (cover != NULL)
    {
      g_autofree char *name = g_path_get_basename (cover);

      meta = sutra_item_ensure_meta (item);
      json_object_set_string_member (meta, "cover", name);
    }
  return meta;
}

static void
test_segmenter_deterministic (void)
{
  if (!books_present ())
    return;

  g_autoptr (GBytes) bytes = read_book ("alice-pg28885.epub");
  g_autoptr (SutraItem) book = make_book ("a", "a.epub", SUTRA_MEDIA_EPUB, g_bytes_ref (bytes));
  g_autoptr (GPtrArray) first = segment_ok (NULL, book);
  g_autoptr (GPtrArray) second = segment_ok (NULL, book);

  g_test_summary ("The same book gives the same ids, payloads and metadata every time (the "
                  "cover's file the same name, in the work directory of each run)");
  g_assert_cmpuint (first->len, ==, second->len);
  for (guint i = 0; i < first->len; i++)
    {
      g_autofree char *a = item_text (first->pdata[i]);
      g_autofree char *b = item_text (second->pdata[i]);

      g_assert_cmpstr (sutra_item_get_id (first->pdata[i]), ==,
                       sutra_item_get_id (second->pdata[i]));
      g_assert_cmpstr (a, ==, b);
      g_assert_true (
        json_object_equal (meta_less_cover (first->pdata[i]), meta_less_cover (second->pdata[i])));
    }
}

static void
test_segmenter_repair_utf8 (void)
{
  static const char text[] = "CHAPTER 1\n\nCaf\xe9 au lait.\n";
  g_autoptr (SutraItem) book =
    make_book ("latin1", "/books/latin1.txt", "text/plain", g_bytes_new (text, sizeof text - 1));
  g_autoptr (GPtrArray) items = segment_ok ("{\"repair_utf8\": true}", book);
  g_autofree char *first = item_text (items->pdata[0]);

  g_test_summary ("repair_utf8 replaces invalid bytes with U+FFFD");
  g_assert_cmpstr (first, ==, "Caf\xef\xbf\xbd au lait.");
}

/* Bad input */

static void
write_zip_entry (struct archive *archive,
                 const char *name,
                 const void *data,
                 gsize size,
                 gsize repeat)
{
  struct archive_entry *entry = archive_entry_new ();

  archive_entry_set_pathname (entry, name);
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_perm (entry, 0644);
  archive_entry_set_size (entry, (la_int64_t) (size * repeat));
  g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
  for (gsize i = 0; i < repeat; i++)
    g_assert_cmpint (archive_write_data (archive, data, size), ==, (la_ssize_t) size);
  archive_entry_free (entry);
}

static la_ssize_t
zip_write_cb (struct archive *archive, void *user_data, const void *buffer, size_t length)
{
  g_byte_array_append (user_data, buffer, (guint) length);
  return (la_ssize_t) length;
}

/* The bytes of an image entry of a test EPUB, by its placeholder text:
 * @PNG@ (a real PNG, 8 × 8, red), @JPEG@ (a JPEG's first bytes: the
 * segmenter reads no further), @GIF@, @BIG@ (a PNG's signature then 100 kB
 * of zeros); NULL for text. */
static GBytes *
cover_image (const char *placeholder)
{
  static const char jpeg[] = "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01"
                             "\x00\x00\xff\xd9";
  static const char gif[] = "GIF89a\x01\x00\x01\x00\x00\x00\x00;";

  if (strcmp (placeholder, "@JPEG@") == 0)
    return g_bytes_new_static (jpeg, sizeof jpeg - 1);
  if (strcmp (placeholder, "@GIF@") == 0)
    return g_bytes_new_static (gif, sizeof gif - 1);
  if (strcmp (placeholder, "@PNG@") == 0)
    return sutra_test_png (8, 8, 200, 30, 30);
  if (strcmp (placeholder, "@BIG@") == 0)
    {
      guint8 *big = g_malloc0 (100000);

      memcpy (big, "\x89PNG\r\n\x1a\n", 8);
      return g_bytes_new_take (big, 100000);
    }
  return NULL;
}

/* A zip of NULL-terminated (name, text) pairs, one entry repeated @repeat
 * times when it is named "bomb", images by cover_image()'s placeholders. */
static GBytes *
make_zip (const char *const *entries, gsize bomb_bytes)
{
  struct archive *archive = archive_write_new ();
  GByteArray *bytes = g_byte_array_new ();

  archive_write_set_format_zip (archive);
  g_assert_cmpint (archive_write_open (archive, bytes, NULL, zip_write_cb, NULL), ==, ARCHIVE_OK);
  for (guint i = 0; entries[i] != NULL; i += 2)
    {
      g_autoptr (GBytes) image = cover_image (entries[i + 1]);

      if (strcmp (entries[i + 1], "bomb") == 0)
        {
          g_autofree char *block = g_malloc0 (1 << 20);

          write_zip_entry (archive, entries[i], block, 1 << 20, bomb_bytes >> 20);
        }
      else if (image != NULL)
        write_zip_entry (archive, entries[i], g_bytes_get_data (image, NULL),
                         g_bytes_get_size (image), 1);
      else
        write_zip_entry (archive, entries[i], entries[i + 1], strlen (entries[i + 1]), 1);
    }
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
  return g_byte_array_free_to_bytes (bytes);
}

#define CONTAINER                                                                            \
  "<?xml version=\"1.0\"?><container version=\"1.0\" "                                       \
  "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles>"                    \
  "<rootfile full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\"/>" \
  "</rootfiles></container>"

#define OPF_HEAD                                                                            \
  "<?xml version=\"1.0\"?><package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\">" \
  "<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>Tiny</dc:title>"       \
  "<dc:creator>A. Writer</dc:creator><dc:language>en</dc:language></metadata>"

#define OPF_TWO_CHAPTERS                                                                \
  OPF_HEAD                                                                              \
  "<manifest><item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" " \
  "properties=\"nav\"/><item id=\"c1\" href=\"text/c1.xhtml\" "                         \
  "media-type=\"application/xhtml+xml\"/><item id=\"c2\" href=\"text/c%202.xhtml\" "    \
  "media-type=\"application/xhtml+xml\"/></manifest>"                                   \
  "<spine><itemref idref=\"c1\"/><itemref idref=\"c2\"/></spine></package>"

#define NAV                                                                       \
  "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\" "          \
  "xmlns:epub=\"http://www.idpf.org/2007/ops\"><body><nav epub:type=\"toc\"><ol>" \
  "<li><a href=\"text/c1.xhtml\">Part One</a><ol>"                                \
  "<li><a href=\"text/c1.xhtml#s1\">The First Chapter</a></li>"                   \
  "<li><a href=\"text/c%202.xhtml\">The Second Chapter</a></li></ol></li>"        \
  "</ol></nav></body></html>"

#define XHTML(body)                                                     \
  "<?xml version=\"1.0\" encoding=\"utf-8\"?><!DOCTYPE html>"           \
  "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>t</title>" \
  "<style>p { color: red }</style></head><body>" body "</body></html>"

static const char *const tiny_epub[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_TWO_CHAPTERS,
  "OEBPS/nav.xhtml",
  NAV,
  "OEBPS/text/c1.xhtml",
  XHTML ("<h1 id=\"s1\">The First Chapter</h1><p>It&nbsp;was a <i>dark</i> night&mdash;"
         "very dark.</p><script>alert('no')</script><img src=\"x.png\" alt=\"no\"/>"
         "<p>Caf&#233; &amp; more.<br/>A new line.</p>"),
  "OEBPS/text/c 2.xhtml",
  XHTML ("<section><h2>The Second Chapter</h2><div><p>Second text.</p></div></section>"),
  NULL,
};

static void
test_segmenter_epub3 (void)
{
  g_autoptr (SutraItem) book =
    make_book ("tiny", "/books/tiny.epub", SUTRA_MEDIA_EPUB, make_zip (tiny_epub, 0));
  g_autoptr (GPtrArray) items = segment_ok (NULL, book);
  g_autoptr (GPtrArray) titles = chapter_titles (items);
  g_autofree char *joined = join_titles (titles);
  g_autofree char *first = item_text (items->pdata[0]);
  g_autofree char *second = item_text (items->pdata[1]);
  g_autofree char *third = item_text (items->pdata[2]);

  g_test_summary ("An EPUB 3 with a nav document: nested TOC entries, hrefs with %20, "
                  "entities, scripts, styles and images skipped, headings equal to the TOC "
                  "title left out of the text");
  g_assert_cmpstr (joined, ==, "The First Chapter|The Second Chapter");
  g_assert_cmpstr (sutra_item_get_meta_string (items->pdata[0], "part_title", NULL), ==,
                   "Part One");
  g_assert_cmpstr (first, ==, "It\xc2\xa0was a dark night\xe2\x80\x94very dark.");
  g_assert_cmpstr (second, ==, "Caf\xc3\xa9 & more. A new line.");
  g_assert_cmpstr (third, ==, "Second text.");
  g_assert_cmpuint (items->len, ==, 3);
  g_assert_cmpstr (sutra_item_get_meta_string (items->pdata[0], "title", NULL), ==, "Tiny");
  g_assert_cmpstr (sutra_item_get_meta_string (items->pdata[0], "author", NULL), ==, "A. Writer");
}

/* Covers: where an EPUB says its cover is, and covers that cannot be used */

#define COVER_OPF(meta, manifest, guide)                                                      \
  "<?xml version=\"1.0\"?><package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\">"   \
  "<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>Covered</dc:title>" meta \
  "</metadata><manifest><item id=\"c1\" href=\"text/c1.xhtml\" "                              \
  "media-type=\"application/xhtml+xml\"/>" manifest "</manifest>"                             \
  "<spine><itemref idref=\"c1\"/></spine>" guide "</package>"

#define COVER_EPUB(opf, ...)                                                                      \
  {                                                                                               \
    "mimetype", "application/epub+zip", "META-INF/container.xml", CONTAINER, "OEBPS/content.opf", \
      opf, "OEBPS/text/c1.xhtml",                                                                 \
      XHTML ("<h1>One</h1><p>The only chapter of a book with a cover.</p>"), __VA_ARGS__ NULL     \
  }

#define COVER_ITEM(href, type) \
  "<item id=\"ci\" href=\"" href "\" media-type=\"" type "\" properties=\"cover-image\"/>"

static const char *const cover_epub3[] =
  COVER_EPUB (COVER_OPF ("", COVER_ITEM ("images/cover.png", "image/png"), ""),
              "OEBPS/images/cover.png",
              "@PNG@", );
static const char *const cover_epub2[] =
  COVER_EPUB (COVER_OPF ("<meta name=\"cover\" content=\"img1\"/>",
                         "<item id=\"img1\" href=\"pic.jpg\" media-type=\"image/jpeg\"/>",
                         ""),
              "OEBPS/pic.jpg",
              "@JPEG@", );
static const char *const cover_guide_page[] = COVER_EPUB (
  COVER_OPF ("",
             "<item id=\"cp\" href=\"text/title.xhtml\" media-type=\"application/xhtml+xml\"/>"
             "<item id=\"fp\" href=\"images/front.png\" media-type=\"image/png\"/>",
             "<guide><reference type=\"cover\" href=\"text/title.xhtml\"/></guide>"),
  "OEBPS/images/front.png",
  "@PNG@",
  "OEBPS/text/title.xhtml",
  XHTML ("<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">"
         "<image xlink:href=\"../images/front.png\"/></svg>"), );
static const char *const cover_named[] = COVER_EPUB (
  COVER_OPF ("", "<item id=\"art\" href=\"images/Cover-Art.png\" media-type=\"image/png\"/>", ""),
  "OEBPS/images/Cover-Art.png",
  "@PNG@", );
static const char *const cover_none[] =
  COVER_EPUB (COVER_OPF ("",
                         "<item id=\"pic\" href=\"images/map.png\" media-type=\"image/png\"/>",
                         ""),
              "OEBPS/images/map.png",
              "@PNG@", );
static const char *const cover_gif[] =
  COVER_EPUB (COVER_OPF ("", COVER_ITEM ("images/cover.gif", "image/gif"), ""),
              "OEBPS/images/cover.gif",
              "@GIF@", );
static const char *const cover_gif_then_jpeg[] = COVER_EPUB (
  COVER_OPF (
    "<meta name=\"cover\" content=\"img1\"/>",
    COVER_ITEM ("images/cover.gif",
                "image/gif") "<item id=\"img1\" href=\"pic.jpg\" media-type=\"image/jpeg\"/>",
    ""),
  "OEBPS/images/cover.gif",
  "@GIF@",
  "OEBPS/pic.jpg",
  "@JPEG@", );
static const char *const cover_mislabelled[] =
  COVER_EPUB (COVER_OPF ("", COVER_ITEM ("images/cover.jpg", "image/jpeg"), ""),
              "OEBPS/images/cover.jpg",
              "@PNG@", );
static const char *const cover_outside[] =
  COVER_EPUB (COVER_OPF ("", COVER_ITEM ("../../cover.png", "image/png"), ""),
              "cover.png",
              "@PNG@", );
static const char *const cover_missing[] =
  COVER_EPUB (COVER_OPF ("", COVER_ITEM ("images/gone.png", "image/png"), ""), );
static const char *const cover_too_big[] =
  COVER_EPUB (COVER_OPF ("", COVER_ITEM ("images/cover.png", "image/png"), ""),
              "OEBPS/images/cover.png",
              "@BIG@", );

static const struct
{
  const char *name;
  const char *const *entries;
  const char *params;
  const char *image;     /* the placeholder of the cover found, or NULL */
  const char *extension; /* its file's */
  const char *note;      /* in cover_note, or NULL: none */
} cover_cases[] = {
  { "epub3-cover-image", cover_epub3, NULL, "@PNG@", "png", NULL },
  { "epub2-meta", cover_epub2, NULL, "@JPEG@", "jpg", NULL },
  { "guide-cover-page", cover_guide_page, NULL, "@PNG@", "png", NULL },
  { "named-like-cover", cover_named, NULL, "@PNG@", "png", NULL },
  { "no-cover", cover_none, NULL, NULL, NULL, NULL },
  { "gif", cover_gif, NULL, NULL, NULL,
    "“OEBPS/images/cover.gif” is not a JPEG or PNG image (gif)" },
  { "gif-then-jpeg", cover_gif_then_jpeg, NULL, "@JPEG@", "jpg", NULL },
  { "png-typed-jpeg", cover_mislabelled, NULL, "@PNG@", "png", NULL },
  { "href-outside", cover_outside, NULL, NULL, NULL,
    "“../../cover.png”, which climbs out of the archive" },
  { "missing", cover_missing, NULL, NULL, NULL, "“OEBPS/images/gone.png” is not in the archive" },
  { "too-big", cover_too_big, "{\"max_expanded_bytes\": 65536}", NULL, NULL,
    "past what max_expanded_bytes leaves for it" },
};

static void
test_segmenter_cover (gconstpointer data)
{
  guint index = GPOINTER_TO_UINT (data);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraItem) book = make_book ("covered", "/books/covered.epub", SUTRA_MEDIA_EPUB,
                                          make_zip (cover_cases[index].entries, 0));
  /* The harness's work directory, where the cover is written, goes with
   * the harness: it lives until the end of the test. */
  g_autoptr (SutraHarness) harness =
    sutra_harness_new (registry, "segmenter", cover_cases[index].params, &error);
  g_autoptr (GPtrArray) items = NULL;
  const char *cover, *note;

  g_test_summary ("An EPUB's cover (EPUB 3 cover-image, EPUB 2 meta, the guide's cover page, "
                  "an image named like a cover) is written to the work directory under a "
                  "name from its content and named by the `cover` metadata; a cover that "
                  "is not a JPEG or PNG, outside the archive, missing or too large is left "
                  "out with a `cover_note`, and the book is segmented all the same");
  g_assert_no_error (error);
  items = sutra_harness_process (harness, &book, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (items->len, >=, 1);
  cover = sutra_item_get_meta_string (items->pdata[0], "cover", NULL);
  note = sutra_item_get_meta_string (items->pdata[0], "cover_note", NULL);
  if (cover_cases[index].image != NULL)
    {
      g_autoptr (GBytes) image = cover_image (cover_cases[index].image);
      g_autofree char *digest = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, image);
      g_autofree char *name = g_strdup_printf ("cover-%s.%s", digest, cover_cases[index].extension);
      g_autofree char *base = NULL;
      g_autofree char *contents = NULL;
      gsize length = 0;

      g_assert_nonnull (cover);
      g_assert_null (note);
      g_assert_true (g_path_is_absolute (cover));
      base = g_path_get_basename (cover);
      g_assert_cmpstr (base, ==, name);
      g_file_get_contents (cover, &contents, &length, &error);
      g_assert_no_error (error);
      g_assert_cmpmem (contents, length, g_bytes_get_data (image, NULL), g_bytes_get_size (image));
    }
  else
    {
      g_assert_null (cover);
      if (cover_cases[index].note != NULL)
        sutra_assert_contains (note, cover_cases[index].note);
      else
        g_assert_null (note);
    }
  g_assert_cmpstr (sutra_item_get_meta_string (items->pdata[0], "title", NULL), ==, "Covered");
}

/* Gutenberg's EPUB names its cover with <meta name="cover">. */
static void
test_segmenter_alice_epub_cover (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraItem) book = make_book ("alice-pg28885", "/books/alice-pg28885.epub",
                                          SUTRA_MEDIA_EPUB, read_book ("alice-pg28885.epub"));
  g_autoptr (SutraHarness) harness = sutra_harness_new (registry, "segmenter", NULL, &error);
  g_autoptr (GPtrArray) items = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;
  const char *cover;

  g_test_summary ("alice-pg28885.epub's cover (EPUB 2 meta) is a JPEG every chunk names");
  g_assert_no_error (error);
  items = sutra_harness_process (harness, &book, 1, &error);
  g_assert_no_error (error);
  cover = sutra_item_get_meta_string (items->pdata[0], "cover", NULL);
  g_assert_true (g_str_has_suffix (cover, ".jpg"));
  g_assert_cmpstr (sutra_item_get_meta_string (items->pdata[items->len - 1], "cover", NULL), ==,
                   cover);
  g_file_get_contents (cover, &contents, &length, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (length, >, 1000);
  g_assert_cmpmem (contents, 3, "\xff\xd8\xff", 3);
}

/* EPUBs whose TOC is good or degenerate, and Gutenberg boilerplate in
 * XHTML */

#define OPF_SPINE(manifest, spine)                                            \
  OPF_HEAD "<manifest><item id=\"ncx\" href=\"toc.ncx\" "                     \
           "media-type=\"application/x-dtbncx+xml\"/>" manifest "</manifest>" \
           "<spine toc=\"ncx\">" spine "</spine></package>"

#define OPF_ITEM(id) \
  "<item id=\"" id "\" href=\"" id ".xhtml\" media-type=\"application/xhtml+xml\"/>"

#define NCX(points)                                                             \
  "<?xml version=\"1.0\"?><ncx xmlns=\"http://www.daisy.org/z3986/2005/ncx/\" " \
  "version=\"2005-1\"><navMap>" points "</navMap></ncx>"

#define NAV_POINT(label, src, children)                                                      \
  "<navPoint><navLabel><text>" label "</text></navLabel><content src=\"" src "\"/>" children \
  "</navPoint>"

#define PARAGRAPHS                                                                 \
  "<p>The wind came down from the hills and the house stood in its way, as it "    \
  "had for a hundred years.</p><p>Nobody in the village remembered who built it, " \
  "and nobody asked.</p>"

/* Two parts of two chapters, in a nested NCX whose labels are not the
 * headings of the text ("1. Arrival" over "CHAPTER I"), with an entry for
 * a page of the printed book. */
static const char *const epub_good_toc[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_SPINE (OPF_ITEM ("c1") OPF_ITEM ("c2") OPF_ITEM ("c3") OPF_ITEM ("c4"),
             "<itemref idref=\"c1\"/><itemref idref=\"c2\"/><itemref idref=\"c3\"/>"
             "<itemref idref=\"c4\"/>"),
  "OEBPS/toc.ncx",
  NCX (NAV_POINT ("Part One",
                  "c1.xhtml",
                  NAV_POINT ("1. Arrival", "c1.xhtml#ch1", "")
                    NAV_POINT ("2. The House", "c2.xhtml", "")
                      NAV_POINT ("[Pg 3]", "c2.xhtml#Page_3", ""))
         NAV_POINT ("Part Two",
                    "c3.xhtml",
                    NAV_POINT ("3. The Storm", "c3.xhtml#ch3", "")
                      NAV_POINT ("4. Departure", "c4.xhtml", ""))),
  "OEBPS/c1.xhtml",
  XHTML ("<p>PART ONE</p><h2 id=\"ch1\">CHAPTER I</h2>" PARAGRAPHS),
  "OEBPS/c2.xhtml",
  XHTML ("<h2>CHAPTER II</h2>" PARAGRAPHS "<p>A page of the book ends<a id=\"Page_3\" "
         "class=\"pagenum\">[3]</a> here.</p>"),
  "OEBPS/c3.xhtml",
  XHTML ("<p>PART TWO</p><h2 id=\"ch3\">CHAPTER III</h2>" PARAGRAPHS),
  "OEBPS/c4.xhtml",
  XHTML ("<h2>CHAPTER IV</h2>" PARAGRAPHS),
  NULL,
};

/* One TOC entry for the whole book, whose chapters are <h2> titles
 * without a keyword or a number. */
static const char *const epub_one_entry[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_SPINE (OPF_ITEM ("c1"), "<itemref idref=\"c1\"/>"),
  "OEBPS/toc.ncx",
  NCX (NAV_POINT ("Start", "c1.xhtml", "")),
  "OEBPS/c1.xhtml",
  XHTML ("<h1>The Book</h1><h2>The Beginning</h2>" PARAGRAPHS
         "<h2><span class=\"pagenum\">[5]</span>The Middle</h2>" PARAGRAPHS
         "<h2>The End of It</h2>" PARAGRAPHS),
  NULL,
};

/* Gutenberg's header and footer as plain XHTML (no pgheader class): the
 * markers and an old end line, as in a plain text. The body mentions
 * Project Gutenberg, and a block of class pgheader does not: both stay. */
static const char *const epub_gutenberg_markers[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_SPINE (OPF_ITEM ("c1"), "<itemref idref=\"c1\"/>"),
  "OEBPS/toc.ncx",
  NCX (NAV_POINT ("Tiny", "c1.xhtml", "")),
  "OEBPS/c1.xhtml",
  XHTML ("<pre>The Project Gutenberg EBook of Tiny, by A. Writer\n\nTitle: Tiny\n\n"
         "*** START OF THIS PROJECT GUTENBERG EBOOK TINY ***</pre>"
         "<p>Produced by A. Volunteer</p>"
         "<h2>CHAPTER I</h2><div class=\"pgheader\">A running head</div>"
         "<p>She found the book on Project Gutenberg, she said.</p>"
         "<h2>CHAPTER II</h2><p>Two.</p><h2>CHAPTER III</h2><p>Three.</p>"
         "<p>End of the Project Gutenberg EBook of Tiny, by A. Writer</p>"
         "<p>*** END OF THIS PROJECT GUTENBERG EBOOK TINY ***</p>"
         "<p>The licence follows.</p>"),
  NULL,
};

/* Gutenberg's EPUBs since 2021: sections of class pg-boilerplate, and the
 * editions notice over its table of links, which a TOC entry names. */
static const char *const epub_gutenberg_sections[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_SPINE (OPF_ITEM ("c1") OPF_ITEM ("c2"), "<itemref idref=\"c1\"/><itemref idref=\"c2\"/>"),
  "OEBPS/toc.ncx",
  NCX (NAV_POINT ("There are several editions of this ebook in the Project Gutenberg "
                  "collection.",
                  "c1.xhtml#editions",
                  "") NAV_POINT ("THE BOOK", "c1.xhtml#title", "")
         NAV_POINT ("Chapter One", "c2.xhtml#one", "")),
  "OEBPS/c1.xhtml",
  XHTML ("<section class=\"pg-boilerplate pgheader\" id=\"pg-header\"><h2>The Project "
         "Gutenberg eBook of The Book</h2><p>This ebook is for the use of anyone anywhere.</p>"
         "<div>*** START OF THE PROJECT GUTENBERG EBOOK THE BOOK ***</div></section>"
         "<h4 id=\"editions\">There are several editions of this ebook in the Project "
         "Gutenberg collection.</h4><table><tr><td><a "
         "href=\"https://www.gutenberg.org/ebooks/1\">1</a></td><td>(plain)</td></tr>"
         "</table><h1 id=\"title\">THE BOOK</h1><p>A tale.</p>"),
  "OEBPS/c2.xhtml",
  XHTML ("<h2 id=\"one\">Chapter One</h2><p>Once upon a time.</p>"
         "<section class=\"pg-boilerplate pgheader\" id=\"pg-footer\"><p>*** END OF THE "
         "PROJECT GUTENBERG EBOOK THE BOOK ***</p><p>Updated editions will replace the "
         "previous one. Project Gutenberg is a registered trademark.</p></section>"),
  NULL,
};

/* EPUB 3 navs nesting chapters in parts: parts with a title page of
 * their own, parts sharing a document with their first chapter, and
 * parts that are headings without a link (<span>). */
#define OPF_NAV_SPINE(manifest, spine)                                                           \
  OPF_HEAD "<manifest><item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" " \
           "properties=\"nav\"/>" manifest "</manifest><spine>" spine "</spine></package>"

#define NAV_DOC(list)                                                                  \
  "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\" "               \
  "xmlns:epub=\"http://www.idpf.org/2007/ops\"><body><nav epub:type=\"toc\"><ol>" list \
  "</ol></nav></body></html>"

#define PARTS_OPF                                                                        \
  OPF_NAV_SPINE (OPF_ITEM ("p1") OPF_ITEM ("c1") OPF_ITEM ("c2") OPF_ITEM ("c3"),        \
                 "<itemref idref=\"p1\"/><itemref idref=\"c1\"/><itemref idref=\"c2\"/>" \
                 "<itemref idref=\"c3\"/>")

static const char *const epub_nav_parts[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  PARTS_OPF,
  "OEBPS/nav.xhtml",
  NAV_DOC ("<li><a href=\"p1.xhtml\">Part One</a><ol><li><a href=\"c1.xhtml\">1. Arrival</a></li>"
           "<li><a href=\"c2.xhtml#start\">2. The House</a></li></ol></li>"
           "<li><a href=\"c3.xhtml\">Part Two</a><ol>"
           "<li><a href=\"c3.xhtml#c3\">3. The Storm</a></li></ol></li>"),
  "OEBPS/p1.xhtml",
  XHTML ("<h1>Part One</h1>"),
  "OEBPS/c1.xhtml",
  XHTML ("<h2>1. Arrival</h2>" PARAGRAPHS),
  "OEBPS/c2.xhtml",
  XHTML ("<h2 id=\"start\">2. The House</h2>" PARAGRAPHS),
  "OEBPS/c3.xhtml",
  XHTML ("<h1>Part Two</h1><h2 id=\"c3\">3. The Storm</h2>" PARAGRAPHS),
  NULL,
};

static const char *const epub_nav_span_parts[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  PARTS_OPF,
  "OEBPS/nav.xhtml",
  NAV_DOC ("<li><span>Part One</span><ol><li><a href=\"c1.xhtml\">1. Arrival</a></li>"
           "<li><a href=\"c2.xhtml\">2. The House</a></li></ol></li>"
           "<li><span>Part Two</span><ol><li><a href=\"c3.xhtml\">3. The Storm</a></li></ol></li>"),
  "OEBPS/p1.xhtml",
  XHTML ("<p>A dedication.</p>"),
  "OEBPS/c1.xhtml",
  XHTML ("<h2>1. Arrival</h2>" PARAGRAPHS),
  "OEBPS/c2.xhtml",
  XHTML ("<h2>2. The House</h2>" PARAGRAPHS),
  "OEBPS/c3.xhtml",
  XHTML ("<h2>3. The Storm</h2>" PARAGRAPHS),
  NULL,
};

typedef struct
{
  const char *name;
  const char *const *zip;
  const char *params;
  const char *titles;      /* "|"-joined chapter titles */
  const char *part_titles; /* nullable: "|"-joined, "-" for none */
  const char *joined;      /* nullable: every chunk, joined by spaces */
} EpubCase;

static const EpubCase epub_cases[] = {
  { "good-toc", epub_good_toc, NULL, "1. Arrival|2. The House|3. The Storm|4. Departure",
    "Part One|Part One|Part Two|Part Two", NULL },
  { "good-toc-strict", epub_good_toc, "{\"epub_chapters\": \"toc\"}",
    "1. Arrival|2. The House|[Pg 3]|3. The Storm|4. Departure",
    "Part One|Part One|Part One|Part Two|Part Two", NULL },
  { "good-toc-headings", epub_good_toc, "{\"epub_chapters\": \"headings\"}",
    "CHAPTER I|CHAPTER II|CHAPTER III|CHAPTER IV", "PART ONE|PART ONE|PART TWO|PART TWO", NULL },
  { "nav-parts", epub_nav_parts, NULL, "1. Arrival|2. The House|3. The Storm",
    "Part One|Part One|Part Two", NULL },
  { "nav-span-parts", epub_nav_span_parts, NULL, "1. Arrival|2. The House|3. The Storm",
    "Part One|Part One|Part Two", NULL },
  { "one-entry", epub_one_entry, NULL, "The Beginning|The Middle|The End of It",
    "The Book|The Book|The Book", NULL },
  { "one-entry-toc", epub_one_entry, "{\"epub_chapters\": \"toc\"}", "Start", "-", NULL },
  /* As in a plain text, the credits after the start marker are the body's
   * (here a title page leading the first chapter). */
  { "gutenberg-markers", epub_gutenberg_markers, NULL, "CHAPTER I|CHAPTER II|CHAPTER III", NULL,
    "Produced by A. Volunteer A running head She found the book on Project Gutenberg, she "
    "said. Two. Three." },
  { "gutenberg-markers-kept", epub_gutenberg_markers,
    "{\"strip_boilerplate\": false, \"front_matter\": \"drop\"}",
    "CHAPTER I|CHAPTER II|CHAPTER III", NULL,
    "A running head She found the book on Project Gutenberg, she said. Two. Three. "
    "End of the Project Gutenberg EBook of Tiny, by A. Writer "
    "*** END OF THIS PROJECT GUTENBERG EBOOK TINY *** The licence follows." },
  { "gutenberg-sections", epub_gutenberg_sections, NULL, "THE BOOK|Chapter One", NULL,
    "A tale. Once upon a time." },
  { "gutenberg-sections-kept", epub_gutenberg_sections,
    "{\"strip_boilerplate\": false, \"front_matter\": \"drop\", \"epub_chapters\": \"toc\"}",
    "There are several editions of this ebook in the Project Gutenberg collection.|THE "
    "BOOK|Chapter One",
    NULL,
    "1 (plain) A tale. Once upon a time. *** END OF THE PROJECT GUTENBERG EBOOK THE BOOK *** "
    "Updated editions will replace the previous one. Project Gutenberg is a registered "
    "trademark." },
};

static void
test_segmenter_epub_chapters (gconstpointer data)
{
  const EpubCase *row = data;
  g_autofree char *path = g_strdup_printf ("/books/%s.epub", row->name);
  g_autoptr (SutraItem) book =
    make_book (row->name, path, SUTRA_MEDIA_EPUB, make_zip (row->zip, 0));
  g_autoptr (GPtrArray) items = segment_ok (row->params, book);
  g_autoptr (GPtrArray) titles = chapter_titles (items);
  g_autofree char *joined = join_titles (titles);
  g_autofree char *all = joined_chunks (items);

  g_test_summary ("EPUB chapters: a good TOC, nested levels included, is followed by default; "
                  "a TOC leaving most of the book in one entry gives way to the headings of "
                  "the text (the plain-text rules, else h1..h3); Gutenberg's header and "
                  "licence are stripped from the XHTML, and kept with strip_boilerplate false");
  g_assert_cmpstr (joined, ==, row->titles);
  assert_well_formed (items, row->name);
  if (row->part_titles != NULL)
    {
      g_auto (GStrv) parts = g_strsplit (row->part_titles, "|", -1);
      gint64 last = -1;
      guint k = 0;

      for (guint i = 0; i < items->len; i++)
        {
          SutraItem *item = items->pdata[i];

          if (sutra_item_get_meta_int (item, "chapter_index", -1) == last)
            continue;
          last = sutra_item_get_meta_int (item, "chapter_index", -1);
          g_assert_nonnull (parts[k]);
          g_assert_cmpstr (sutra_item_get_meta_string (item, "part_title", "-"), ==, parts[k]);
          k++;
        }
      g_assert_null (parts[k]);
    }
  if (row->joined != NULL)
    g_assert_cmpstr (all, ==, row->joined);
}

typedef struct
{
  const char *name;
  const char *media_type;
  const char *params;
  const char *const *zip; /* nullable: the input is this zip */
  const char *bytes;      /* else these bytes */
  gssize size;            /* -1: up to the NUL */
  gsize bomb_bytes;
  SutraPluginError code;
  const char *cause; /* a part of the message */
} BadCase;

static const char *const zip_not_epub[] = { "hello.txt", "Hello.", NULL };

static const char *const epub_missing_spine_file[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_TWO_CHAPTERS,
  "OEBPS/nav.xhtml",
  NAV,
  "OEBPS/text/c1.xhtml",
  XHTML ("<p>One.</p>"),
  NULL,
};

static const char *const epub_malformed_xhtml[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_TWO_CHAPTERS,
  "OEBPS/nav.xhtml",
  NAV,
  "OEBPS/text/c1.xhtml",
  XHTML ("<p>One.</p>"),
  "OEBPS/text/c 2.xhtml",
  XHTML ("<p>Two <b>bold</p></body></html>"),
  NULL,
};

static const char *const epub_bomb[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_TWO_CHAPTERS,
  "OEBPS/bomb.xhtml",
  "bomb",
  NULL,
};

static const char *const epub_only_boilerplate[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_SPINE (OPF_ITEM ("c1"), "<itemref idref=\"c1\"/>"),
  "OEBPS/toc.ncx",
  NCX (NAV_POINT ("Start", "c1.xhtml", "")),
  "OEBPS/c1.xhtml",
  XHTML ("<div class=\"pgmonospaced pgheader\">The Project Gutenberg EBook of Nothing<br/>"
         "*** START OF THIS PROJECT GUTENBERG EBOOK NOTHING ***</div>"),
  NULL,
};

static const BadCase bad_inputs[] = {
  { "empty", "text/plain", NULL, NULL, "", 0, 0, SUTRA_PLUGIN_ERROR_INVALID_INPUT, "empty" },
  { "white-space", "text/plain", NULL, NULL, " \n\r\n\t\n", 6, 0, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
    "empty" },
  { "binary", "text/plain", NULL, NULL, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, 0,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "binary data, not text: a NUL byte at byte offset 8" },
  { "binary-no-nul", "text/plain", NULL, NULL, "\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11",
    12, 0, SUTRA_PLUGIN_ERROR_INVALID_INPUT, "binary data" },
  { "invalid-utf8", "text/plain", NULL, NULL, "Hello w\xf6rld, and more.", -1, 0,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "invalid UTF-8 at byte offset 7" },
  { "invalid-utf8-markdown", "text/markdown", NULL, NULL, "# A\n\nB \xc3\x28", 9, 0,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "invalid UTF-8 at byte offset 7" },
  { "zip-not-epub", SUTRA_MEDIA_EPUB, NULL, zip_not_epub, NULL, 0, 0,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT,
    "not an EPUB: the zip archive has no META-INF/container.xml" },
  { "zip-as-application-zip", "application/zip", NULL, zip_not_epub, NULL, 0, 0,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "not an EPUB" },
  { "epub-not-a-zip", SUTRA_MEDIA_EPUB, NULL, NULL, "Just text.", 10, 0,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "not an EPUB" },
  { "epub-truncated", SUTRA_MEDIA_EPUB, NULL, NULL, "PK\003\004\024\0\0\0\010\0", 10, 0,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "not an EPUB" },
  { "epub-missing-spine-file", SUTRA_MEDIA_EPUB, NULL, epub_missing_spine_file, NULL, 0, 0,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT,
    "spine item “c2” names “OEBPS/text/c 2.xhtml”, which the archive does not contain" },
  { "epub-malformed-xhtml", SUTRA_MEDIA_EPUB, NULL, epub_malformed_xhtml, NULL, 0, 0,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "malformed XML in “OEBPS/text/c 2.xhtml” at line 1" },
  { "zip-bomb-small-limit", SUTRA_MEDIA_EPUB, "{\"max_expanded_bytes\": 1048576}", epub_bomb, NULL,
    0, 8 << 20, SUTRA_PLUGIN_ERROR_INVALID_INPUT, "zip bomb" },
  { "zip-bomb", SUTRA_MEDIA_EPUB, NULL, epub_bomb, NULL, 0, 300 << 20,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "past the limit of 268435456 bytes" },
  { "unsupported-type", "audio/x-raw-f32", NULL, NULL, "abcd", 4, 0, SUTRA_PLUGIN_ERROR_UNSUPPORTED,
    "media type “audio/x-raw-f32”" },
  { "epub-only-boilerplate", SUTRA_MEDIA_EPUB, NULL, epub_only_boilerplate, NULL, 0, 0,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "after removing the Project Gutenberg header and licence" },
  { "only-boilerplate", "text/plain", NULL, NULL,
    "Title: X\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n"
    "*** END OF THE PROJECT GUTENBERG EBOOK X ***\nLicence.\n",
    -1, 0, SUTRA_PLUGIN_ERROR_INVALID_INPUT, "no text left" },
};

static void
test_segmenter_bad_input (gconstpointer data)
{
  const BadCase *row = data;
  g_autofree char *path = g_strdup_printf ("/books/%s.bin", row->name);
  GBytes *bytes = row->zip != NULL ? make_zip (row->zip, row->bomb_bytes)
                                   : g_bytes_new (row->bytes, row->size >= 0 ? (gsize) row->size
                                                                             : strlen (row->bytes));
  g_autoptr (SutraItem) book = make_book (row->name, path, row->media_type, bytes);
  g_autoptr (SutraItem) anonymous =
    sutra_item_new_root (row->name, 0, row->media_type, g_bytes_ref (bytes));
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) anonymous_error = NULL;
  g_autoptr (GPtrArray) items = NULL;
  g_autoptr (GPtrArray) anonymous_items = NULL;

  g_test_summary ("Empty, binary and invalid UTF-8 files, zips that are not EPUBs, a spine "
                  "naming a missing file, malformed XHTML and a zip bomb: each a clear error "
                  "naming the file and the cause");
  items = segment (row->params, book, &error);
  g_assert_null (items);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, (int) row->code);
  if (g_test_verbose ())
    g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_assert_nonnull (strstr (error->message, row->cause));
  /* Without a path the item's id names the file. */
  anonymous_items = segment (row->params, anonymous, &anonymous_error);
  g_assert_null (anonymous_items);
  g_assert_true (g_str_has_prefix (anonymous_error->message, row->name));
}

/* Hostile input: EPUBs that try to read local files or URLs, to expand
 * into gigabytes, to escape the archive, to nest without end, and texts
 * with huge lines and NUL bytes. Each must give a clear error naming the
 * book, or correct output; none may put what it points at in the
 * output. */

#define SECRET "SUTRA-SECRET-7d1e0c"

/* "@FILE@": the URI of a file holding SECRET; "@DTD@": that of a DTD
 * declaring the entity "secret" as SECRET (and the parameter entity
 * "%secret_decl"); "@LONG@": 20,000 letters; "@REFS@": 20,000 references
 * to the entity "a"; "@DEEP@" and "@UNDEEP@": 100,000 nested <div>s, opened
 * and closed; "@NUL@": a NUL byte. An entry whose text starts with "->" is
 * a symbolic link to the rest. */
typedef struct
{
  const char *name;
  const char *const *zip;
  const char *params;
  const char *cause;  /* nullable: the error's message holds it; NULL: read */
  const char *joined; /* nullable: when read, every chunk joined by spaces */
  const char *author; /* nullable: when read, the author's metadata */
} HostileCase;

#define OPF_DOCTYPE(doctype, creator, manifest, spine)                                             \
  "<?xml version=\"1.0\"?>" doctype "<package xmlns=\"http://www.idpf.org/2007/opf\" "             \
  "version=\"3.0\"><metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>Tiny"         \
  "</dc:title><dc:creator>" creator "</dc:creator><dc:language>en</dc:language></metadata>"        \
  "<manifest><item id=\"ncx\" href=\"toc.ncx\" media-type=\"application/x-dtbncx+xml\"/>" manifest \
  "</manifest><spine toc=\"ncx\">" spine "</spine></package>"

#define OPF_ONE(doctype, creator) \
  OPF_DOCTYPE (doctype, creator, OPF_ITEM ("c1"), "<itemref idref=\"c1\"/>")

#define XHTML_DOCTYPE(doctype, body)                                                          \
  "<?xml version=\"1.0\" encoding=\"utf-8\"?>" doctype "<html "                               \
  "xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>t</title></head><body>" body "</body>" \
  "</html>"

#define EXTERNAL(name) "<!ENTITY " name " SYSTEM \"@FILE@\">"

#define HOSTILE_EPUB(opf, ncx, chapter)                                                           \
  {                                                                                               \
    "mimetype", "application/epub+zip", "META-INF/container.xml", CONTAINER, "OEBPS/content.opf", \
      opf, "OEBPS/toc.ncx", ncx, "OEBPS/c1.xhtml", chapter, NULL,                                 \
  }

#define PLAIN_OPF OPF_ONE ("", "A. Writer")
#define PLAIN_NCX NCX (NAV_POINT ("One", "c1.xhtml", ""))
#define PLAIN_CHAPTER XHTML ("<p>Before.</p><p>After.</p>")

static const char *const xxe_opf[] =
  HOSTILE_EPUB (OPF_ONE ("<!DOCTYPE package [" EXTERNAL ("x") "]>", "&x;"),
                PLAIN_NCX,
                PLAIN_CHAPTER);
static const char *const xxe_opf_attribute[] =
  HOSTILE_EPUB (OPF_DOCTYPE ("<!DOCTYPE package [" EXTERNAL ("x") "]>",
                             "A. Writer",
                             "<item id=\"c1\" href=\"&x;\" media-type=\"application/xhtml+xml\"/>",
                             "<itemref idref=\"c1\"/>"),
                PLAIN_NCX,
                PLAIN_CHAPTER);
static const char *const xxe_chapter[] =
  HOSTILE_EPUB (PLAIN_OPF,
                PLAIN_NCX,
                XHTML_DOCTYPE ("<!DOCTYPE html [" EXTERNAL ("x") "]>", "<p>Before &x; after.</p>"));
static const char *const xxe_ncx[] = HOSTILE_EPUB (
  PLAIN_OPF,
  "<?xml version=\"1.0\"?><!DOCTYPE ncx [" EXTERNAL (
    "x") "]><ncx "
         "xmlns=\"http://www.daisy.org/z3986/2005/ncx/\" version=\"2005-1\"><navMap>" NAV_POINT (
           "&x;",
           "c1.xhtml",
           "") "</navMap></ncx>",
  PLAIN_CHAPTER);
static const char *const xxe_nav[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_TWO_CHAPTERS,
  "OEBPS/nav.xhtml",
  "<?xml version=\"1.0\"?><!DOCTYPE html [" EXTERNAL (
    "x") "]><html "
         "xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:epub=\"http://www.idpf.org/2007/ops\"><body>"
         "<nav epub:type=\"toc\"><ol><li><a href=\"text/c1.xhtml\">&x;</a></li></ol></nav></body>"
         "</html>",
  "OEBPS/text/c1.xhtml",
  PLAIN_CHAPTER,
  "OEBPS/text/c 2.xhtml",
  PLAIN_CHAPTER,
  NULL,
};
static const char *const xxe_container[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  "<?xml version=\"1.0\"?><!DOCTYPE container [" EXTERNAL (
    "x") "]><container version=\"1.0\" "
         "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles><rootfile "
         "full-path=\"OEBPS/content.opf\" "
         "media-type=\"application/oebps-package+xml\">&x;</rootfile>"
         "</rootfiles></container>",
  "OEBPS/content.opf",
  PLAIN_OPF,
  "OEBPS/toc.ncx",
  PLAIN_NCX,
  "OEBPS/c1.xhtml",
  PLAIN_CHAPTER,
  NULL,
};
static const char *const xxe_http[] =
  HOSTILE_EPUB (PLAIN_OPF,
                PLAIN_NCX,
                XHTML_DOCTYPE ("<!DOCTYPE html [<!ENTITY x SYSTEM \"http://127.0.0.1:9/" SECRET
                               "\">]>",
                               "<p>Before &x; after.</p>"));
static const char *const xxe_parameter[] =
  HOSTILE_EPUB (PLAIN_OPF,
                PLAIN_NCX,
                XHTML_DOCTYPE ("<!DOCTYPE html [<!ENTITY % p SYSTEM \"@DTD@\"> %p;]>",
                               "<p>Before &secret; after.</p>"));
/* The "out of band" form: a parameter entity builds the declaration of
 * an entity whose URL carries the file. */
static const char *const xxe_parameter_oob[] = HOSTILE_EPUB (
  PLAIN_OPF,
  PLAIN_NCX,
  XHTML_DOCTYPE ("<!DOCTYPE html [<!ENTITY % file SYSTEM \"@FILE@\"><!ENTITY % eval \"<!ENTITY "
                 "&#x25; exfil SYSTEM 'http://127.0.0.1:9/?%file;'>\"> %eval; %exfil;]>",
                 "<p>Before after.</p>"));
/* An external DTD is never loaded: its entity stays undeclared. */
static const char *const xxe_external_dtd[] =
  HOSTILE_EPUB (PLAIN_OPF,
                PLAIN_NCX,
                XHTML_DOCTYPE ("<!DOCTYPE html SYSTEM \"@DTD@\">",
                               "<p>Before &secret; after.</p>"));
/* EPUB 2's usual XHTML 1.1 DOCTYPE: read, offline, its entities from
 * HTML's table. */
static const char *const xhtml11_doctype[] =
  HOSTILE_EPUB (PLAIN_OPF,
                PLAIN_NCX,
                XHTML_DOCTYPE ("<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.1//EN\" "
                               "\"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd\">",
                               "<p>Caf&eacute;&nbsp;au lait &amp; more.</p>"));
static const char *const xinclude[] =
  HOSTILE_EPUB (PLAIN_OPF,
                PLAIN_NCX,
                XHTML_DOCTYPE ("",
                               "<p xmlns:xi=\"http://www.w3.org/2001/XInclude\">Before. "
                               "<xi:include href=\"@FILE@\" parse=\"text\"/> After.</p>"));
static const char *const billion_laughs[] = HOSTILE_EPUB (
  PLAIN_OPF,
  PLAIN_NCX,
  XHTML_DOCTYPE ("<!DOCTYPE html [<!ENTITY lol \"lol\">"
                 "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
                 "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
                 "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
                 "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
                 "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
                 "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
                 "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
                 "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
                 "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">"
                 "]>",
                 "<p>&lol9;</p>"));
static const char *const quadratic_blowup[] =
  HOSTILE_EPUB (PLAIN_OPF,
                PLAIN_NCX,
                XHTML_DOCTYPE ("<!DOCTYPE html [<!ENTITY a \"@LONG@\">]>", "<p>@REFS@</p>"));
static const char *const quadratic_attribute[] =
  HOSTILE_EPUB (PLAIN_OPF,
                PLAIN_NCX,
                XHTML_DOCTYPE ("<!DOCTYPE html [<!ENTITY a \"@LONG@\">]>",
                               "<p class=\"@REFS@\">Text.</p>"));
/* Entities that stand for a character, as some XHTML declares them: in
 * text, in a title and in the attribute that names the chapter's file. */
static const char *const small_entities[] = HOSTILE_EPUB (
  OPF_DOCTYPE ("<!DOCTYPE package [<!ENTITY ch \"c1\"><!ENTITY who \"A.&#160;W.\">]>",
               "&who;",
               "<item id=\"c1\" href=\"&ch;.xhtml\" media-type=\"application/xhtml+xml\"/>",
               "<itemref idref=\"c1\"/>"),
  PLAIN_NCX,
  XHTML_DOCTYPE ("<!DOCTYPE html [<!ENTITY nb \"&#160;\"><!ENTITY dash \"&#x2014;\">]>",
                 "<p>It&nb;was&dash;dark <b>and&nb;cold</b>.</p>"));
static const char *const depth_bomb[] =
  HOSTILE_EPUB (PLAIN_OPF, PLAIN_NCX, XHTML ("<p>Before.</p>@DEEP@deep@UNDEEP@"));
static const char *const nul_in_chapter[] =
  HOSTILE_EPUB (PLAIN_OPF, PLAIN_NCX, XHTML ("<p>Before.@NUL@After.</p>"));
static const char *const nul_in_package[] =
  HOSTILE_EPUB (OPF_ONE ("", "A.@NUL@Writer"), PLAIN_NCX, PLAIN_CHAPTER);
/* "../" in entry names and in the manifest: nothing outside the archive
 * is read, and nothing is written anywhere. */
static const char *const zip_slip[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_DOCTYPE ("",
               "A. Writer",
               "<item id=\"c1\" href=\"../../sutra-zip-slip.xhtml\" "
               "media-type=\"application/xhtml+xml\"/>",
               "<itemref idref=\"c1\"/>"),
  "../../sutra-zip-slip.xhtml",
  PLAIN_CHAPTER,
  "OEBPS/../../sutra-zip-slip.xhtml",
  PLAIN_CHAPTER,
  NULL,
};
static const char *const zip_slip_unused[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  PLAIN_OPF,
  "OEBPS/toc.ncx",
  PLAIN_NCX,
  "OEBPS/c1.xhtml",
  PLAIN_CHAPTER,
  "../../sutra-zip-slip.xhtml",
  XHTML ("<p>" SECRET "</p>"),
  "/tmp/sutra-zip-slip.xhtml",
  XHTML ("<p>Absolute.</p>"),
  NULL,
};
static const char *const symlink_chapter[] = HOSTILE_EPUB (PLAIN_OPF, PLAIN_NCX, "->@PATH@");
/* The spine names one chapter a thousand times, and two in a cycle: each
 * is read once. */
static const char *const spine_repeats[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_DOCTYPE (
    "",
    "A. Writer",
    OPF_ITEM ("c1")
      OPF_ITEM ("c2") "<item id=\"again\" href=\"c1.xhtml\" media-type=\"application/xhtml+xml\"/>",
    "@SPINE@<itemref idref=\"c2\"/><itemref idref=\"c1\"/><itemref idref=\"again\"/>"
    "<itemref idref=\"c2\"/>"),
  "OEBPS/toc.ncx",
  NCX (NAV_POINT ("One", "c1.xhtml", "") NAV_POINT ("Two", "c2.xhtml", "")),
  "OEBPS/c1.xhtml",
  XHTML ("<p>First chapter.</p>"),
  "OEBPS/c2.xhtml",
  XHTML ("<p>Second chapter.</p>"),
  NULL,
};

/* A TOC of 2,000 entries pointing into one paragraph, and a paragraph
 * followed by 20,000 empty blocks: read in time linear in their size. */
#define OPF_NAV_ONE                                                                        \
  OPF_DOCTYPE ("", "A. Writer",                                                            \
               "<item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" " \
               "properties=\"nav\"/>" OPF_ITEM ("c1"),                                     \
               "<itemref idref=\"c1\"/>")

static const char *const toc_into_one_paragraph[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  CONTAINER,
  "OEBPS/content.opf",
  OPF_NAV_ONE,
  "OEBPS/nav.xhtml",
  "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\" "
  "xmlns:epub=\"http://www.idpf.org/2007/ops\"><body><nav epub:type=\"toc\"><ol>@NAV_ANCHORS@"
  "</ol></nav></body></html>",
  "OEBPS/c1.xhtml",
  XHTML ("<p>Before.</p><p>@ANCHORED@</p><p>After.</p>"),
  NULL,
};
static const char *const many_empty_blocks[] =
  HOSTILE_EPUB (PLAIN_OPF, PLAIN_NCX, XHTML ("<p>Before.</p><p>@XS@</p>@EMPTY@<p>After.</p>"));

#define REFUSED ": sutra refuses such entities"

static const HostileCase hostile_cases[] = {
  { "xxe-opf", xxe_opf, NULL,
    "“OEBPS/content.opf” line 1: the DOCTYPE declares the external entity “x” (SYSTEM “file://",
    NULL },
  { "xxe-opf-attribute", xxe_opf_attribute, NULL,
    "“OEBPS/content.opf” line 1: the DOCTYPE declares", NULL },
  { "xxe-chapter", xxe_chapter, NULL,
    "“OEBPS/c1.xhtml” line 1: the DOCTYPE declares the external entity “x”", NULL },
  { "xxe-ncx", xxe_ncx, NULL,
    "“OEBPS/toc.ncx” line 1: the DOCTYPE declares the external entity “x”", NULL },
  { "xxe-nav", xxe_nav, NULL,
    "“OEBPS/nav.xhtml” line 1: the DOCTYPE declares the external entity “x”", NULL },
  { "xxe-container", xxe_container, NULL,
    "“META-INF/container.xml” line 1: the DOCTYPE declares the external entity “x”", NULL },
  { "xxe-http", xxe_http, NULL, "declares the external entity “x” (SYSTEM “http://127.0.0.1:9/",
    NULL },
  { "xxe-parameter", xxe_parameter, NULL, "declares the parameter entity “%p”" REFUSED, NULL },
  { "xxe-parameter-oob", xxe_parameter_oob, NULL, "declares the parameter entity “%file”", NULL },
  { "external-dtd", xxe_external_dtd, NULL, NULL, "Before after." },
  { "xhtml11-doctype", xhtml11_doctype, NULL, NULL,
    "Caf\xc3\xa9\xc2\xa0"
    "au lait & more." },
  { "xinclude", xinclude, NULL, NULL, "Before. After." },
  { "billion-laughs", billion_laughs, NULL,
    "declares the entity “lol1”, whose text is longer than 8 bytes or holds markup or references "
    "to other entities" REFUSED,
    NULL },
  { "quadratic-blowup", quadratic_blowup, NULL, "declares the entity “a”, whose text is longer",
    NULL },
  { "quadratic-attribute", quadratic_attribute, NULL, "declares the entity “a”", NULL },
  { "small-entities", small_entities, NULL, NULL,
    "It\xc2\xa0was\xe2\x80\x94"
    "dark and\xc2\xa0"
    "cold.",
    "A.\xc2\xa0W." },
  { "depth-bomb", depth_bomb, NULL, "elements nested deeper than 256 levels", NULL },
  { "nul-in-chapter", nul_in_chapter, NULL, "malformed XML in “OEBPS/c1.xhtml” at line 1", NULL },
  { "nul-in-package", nul_in_package, NULL, "malformed XML in “OEBPS/content.opf” at line 1",
    NULL },
  { "zip-slip", zip_slip, NULL,
    "spine itemref “c1” in “OEBPS/content.opf” names “../../sutra-zip-slip.xhtml”, which climbs "
    "out of the archive",
    NULL },
  { "zip-slip-unused", zip_slip_unused, NULL, NULL, "Before. After." },
  { "symlink", symlink_chapter, NULL,
    "spine item “c1” names “OEBPS/c1.xhtml”, which is a symbolic link in the archive", NULL },
  { "toc-into-one-paragraph", toc_into_one_paragraph, "{\"epub_chapters\": \"spine\"}", NULL,
    "Before. @XS@ After." },
  { "many-empty-blocks", many_empty_blocks, NULL, NULL, "Before. @XS@ After." },
  { "spine-repeats", spine_repeats, "{\"epub_chapters\": \"spine\"}", NULL,
    "First chapter. Second chapter." },
};

static void
write_zip_link (struct archive *archive, const char *name, const char *target)
{
  struct archive_entry *entry = archive_entry_new ();

  archive_entry_set_pathname (entry, name);
  archive_entry_set_filetype (entry, AE_IFLNK);
  archive_entry_set_perm (entry, 0777);
  archive_entry_set_symlink (entry, target);
  archive_entry_set_size (entry, 0);
  g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
  archive_entry_free (entry);
}

static char *
repeat_string (const char *unit, guint n)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    g_string_append (out, unit);
  return g_string_free (out, FALSE);
}

/* The template with its placeholders replaced: @NUL@ makes it hold a NUL,
 * so its length is returned too. */
static GBytes *
expand_template (const char *text, GHashTable *values)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p != '\0';)
    {
      const char *end = p[0] == '@' ? strchr (p + 1, '@') : NULL;
      g_autofree char *key = end != NULL ? g_strndup (p, (gsize) (end - p + 1)) : NULL;
      const char *value = key != NULL ? g_hash_table_lookup (values, key) : NULL;

      if (key != NULL && strcmp (key, "@NUL@") == 0)
        {
          g_string_append_c (out, '\0');
          p = end + 1;
        }
      else if (value != NULL)
        {
          g_string_append (out, value);
          p = end + 1;
        }
      else
        g_string_append_c (out, *p++);
    }
  return g_string_free_to_bytes (out);
}

static GBytes *
make_hostile_zip (const char *const *entries, GHashTable *values)
{
  struct archive *archive = archive_write_new ();
  GByteArray *bytes = g_byte_array_new ();

  archive_write_set_format_zip (archive);
  g_assert_cmpint (archive_write_open (archive, bytes, NULL, zip_write_cb, NULL), ==, ARCHIVE_OK);
  for (guint i = 0; entries[i] != NULL; i += 2)
    {
      g_autoptr (GBytes) data = expand_template (entries[i + 1], values);
      gsize size;
      const char *text = g_bytes_get_data (data, &size);

      if (g_str_has_prefix (text, "->"))
        write_zip_link (archive, entries[i], text + 2);
      else
        write_zip_entry (archive, entries[i], text, size, 1);
    }
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
  return g_byte_array_free_to_bytes (bytes);
}

/* Whether @needle is anywhere in the items: text, ids or metadata. */
static gboolean
items_hold (GPtrArray *items, const char *needle)
{
  for (guint i = 0; i < items->len; i++)
    {
      SutraItem *item = items->pdata[i];
      g_autofree char *text = item_text (item);
      JsonObject *meta = sutra_item_get_meta (item);
      g_autofree char *meta_json = NULL;

      if (meta != NULL)
        {
          g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), meta);

          meta_json = json_to_string (node, FALSE);
        }
      if (strstr (text, needle) != NULL || strstr (sutra_item_get_id (item), needle) != NULL ||
          (meta_json != NULL && strstr (meta_json, needle) != NULL))
        return TRUE;
    }
  return FALSE;
}

static void
test_segmenter_hostile (gconstpointer data)
{
  const HostileCase *row = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sutra-hostile-XXXXXX", &error);
  g_autofree char *secret_path = g_build_filename (dir, "secret.txt", NULL);
  g_autofree char *dtd_path = g_build_filename (dir, "secret.dtd", NULL);
  g_autofree char *secret_uri = g_filename_to_uri (secret_path, NULL, NULL);
  g_autofree char *dtd_uri = g_filename_to_uri (dtd_path, NULL, NULL);
  g_autofree char *book_path = g_strdup_printf ("/books/%s.epub", row->name);
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *slipped = g_build_filename (cwd, "..", "..", "sutra-zip-slip.xhtml", NULL);
  g_autoptr (GHashTable) values = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_autoptr (SutraItem) book = NULL;
  g_autoptr (GPtrArray) items = NULL;

  g_test_summary ("Hostile EPUBs: external entities by every route (package, container, NCX, "
                  "nav, chapters, attributes, parameter entities, external DTDs, http), "
                  "XInclude, entity bombs, a depth bomb, NUL bytes, \"../\" and symbolic links "
                  "in the archive, a spine repeating its documents: a clear error naming the "
                  "document, or correct output, and never the content of a file they point at");
  g_assert_no_error (error);
  g_file_set_contents (secret_path, SECRET "\n", -1, &error);
  g_assert_no_error (error);
  g_file_set_contents (dtd_path,
                       "<!ENTITY secret \"" SECRET "\">\n"
                       "<!ENTITY % secret_decl \"<!ENTITY leaked '" SECRET "'>\">\n",
                       -1, &error);
  g_assert_no_error (error);
  g_hash_table_insert (values, "@FILE@", g_strdup (secret_uri));
  g_hash_table_insert (values, "@DTD@", g_strdup (dtd_uri));
  g_hash_table_insert (values, "@PATH@", g_strdup (secret_path));
  g_hash_table_insert (values, "@LONG@", repeat_string ("a", 20000));
  g_hash_table_insert (values, "@REFS@", repeat_string ("&a;", 20000));
  g_hash_table_insert (values, "@DEEP@", repeat_string ("<div>", 100000));
  g_hash_table_insert (values, "@UNDEEP@", repeat_string ("</div>", 100000));
  g_hash_table_insert (values, "@SPINE@", repeat_string ("<itemref idref=\"c1\"/>", 1000));
  g_hash_table_insert (values, "@EMPTY@", repeat_string ("<p/>", 20000));
  {
    GString *anchored = g_string_new (NULL), *nav = g_string_new (NULL), *xs = g_string_new (NULL);

    for (guint i = 0; i < 2000; i++)
      {
        g_string_append_printf (anchored, "<a id=\"a%u\"/>x ", i);
        g_string_append_printf (nav, "<li><a href=\"c1.xhtml#a%u\">Entry %u</a></li>", i, i);
        g_string_append (xs, i > 0 ? " x" : "x");
      }
    g_hash_table_insert (values, "@ANCHORED@", g_string_free (anchored, FALSE));
    g_hash_table_insert (values, "@NAV_ANCHORS@", g_string_free (nav, FALSE));
    g_hash_table_insert (values, "@XS@", g_string_free (xs, FALSE));
  }

  book = make_book (row->name, book_path, SUTRA_MEDIA_EPUB, make_hostile_zip (row->zip, values));
  items = segment (row->params, book, &error);
  /* Before anything else: whatever the outcome, the file's content is
   * nowhere. */
  if (items != NULL)
    g_assert_false (items_hold (items, SECRET));
  if (error != NULL)
    g_assert_null (strstr (error->message, SECRET "\n"));
  if (row->cause != NULL)
    {
      g_assert_null (items);
      g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
      if (g_test_verbose ())
        g_test_message ("%s", error->message);
      g_assert_true (g_str_has_prefix (error->message, book_path));
      g_assert_nonnull (strstr (error->message, row->cause));
    }
  else
    {
      g_autofree char *joined = NULL;
      g_autoptr (GBytes) expected = expand_template (row->joined, values);

      g_assert_no_error (error);
      g_assert_nonnull (items);
      assert_well_formed (items, row->name);
      g_assert_false (items_hold (items, "lollol"));
      joined = joined_chunks (items);
      g_assert_cmpstr (joined, ==, g_bytes_get_data (expected, NULL));
      if (row->author != NULL)
        g_assert_cmpstr (sutra_item_get_meta_string (items->pdata[0], "author", NULL), ==,
                         row->author);
    }
  g_assert_false (g_file_test (slipped, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test ("/tmp/sutra-zip-slip.xhtml", G_FILE_TEST_EXISTS));
  g_remove (secret_path);
  g_remove (dtd_path);
  g_rmdir (dir);
}

/* An entry whose zip headers (local and central) declare fewer bytes than
 * it holds: libarchive's check, or the count of bytes read against
 * max_expanded_bytes, refuses it; it is never read past either. */
static void
patch_declared_size (GByteArray *zip, const char *name, guint32 size)
{
  gsize name_length = strlen (name);
  guint n_patched = 0;

  for (gsize i = 0; i + 46 + name_length <= zip->len; i++)
    {
      guint8 *p = zip->data + i;
      gsize field = 0, name_at = 0;

      if (memcmp (p, "PK\003\004", 4) == 0)
        field = 22, name_at = 30;
      else if (memcmp (p, "PK\001\002", 4) == 0)
        field = 24, name_at = 46;
      else
        continue;
      if (memcmp (p + name_at, name, name_length) != 0)
        continue;
      p[field] = size & 0xff;
      p[field + 1] = (size >> 8) & 0xff;
      p[field + 2] = (size >> 16) & 0xff;
      p[field + 3] = (size >> 24) & 0xff;
      n_patched++;
    }
  g_assert_cmpuint (n_patched, ==, 2);
}

static const struct
{
  const char *name;
  const char *params;
  const char *cause;
} size_lies[] = {
  { "default", NULL, "entry “OEBPS/c1.xhtml” of the archive is damaged" },
  { "small-limit", "{\"max_expanded_bytes\": 1048576}",
    "the archive expands past the limit of 1048576 bytes (max_expanded_bytes) at entry "
    "“OEBPS/c1.xhtml”" },
};

static void
test_segmenter_entry_larger_than_declared (gconstpointer data)
{
  guint row = GPOINTER_TO_UINT (data);
  g_autofree char *paragraphs = repeat_string (PARAGRAPHS, 10000);
  g_autofree char *chapter =
    g_strconcat ("<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><body>",
                 paragraphs, "</body></html>", NULL);
  const char *entries[] = {
    "mimetype",
    "application/epub+zip",
    "META-INF/container.xml",
    CONTAINER,
    "OEBPS/content.opf",
    PLAIN_OPF,
    "OEBPS/toc.ncx",
    PLAIN_NCX,
    "OEBPS/c1.xhtml",
    chapter,
    NULL,
  };
  g_autoptr (GBytes) zip = make_zip (entries, 0);
  GByteArray *patched = g_byte_array_new ();
  g_autoptr (SutraItem) book = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) items = NULL;

  g_test_summary ("A zip entry holding more than its headers declare is refused, by "
                  "libarchive's size check or by max_expanded_bytes, naming the entry");
  g_byte_array_append (patched, g_bytes_get_data (zip, NULL), (guint) g_bytes_get_size (zip));
  patch_declared_size (patched, "OEBPS/c1.xhtml", 100);
  book =
    make_book ("lie", "/books/lie.epub", SUTRA_MEDIA_EPUB, g_byte_array_free_to_bytes (patched));
  items = segment (size_lies[row].params, book, &error);
  g_assert_null (items);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  if (g_test_verbose ())
    g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, "/books/lie.epub: "));
  g_assert_nonnull (strstr (error->message, size_lies[row].cause));
}

/* Plain text and Markdown at their worst: one line of 50 MB, with or
 * without spaces, and NUL bytes past the start. */
static const struct
{
  const char *name;
  const char *media_type;
  const char *unit; /* repeated to @mib MiB, one line */
  guint mib;
} long_lines[] = {
  { "words", "text/plain", "word ", 50 },           { "no-spaces", "text/plain", "x", 50 },
  { "markdown-words", "text/markdown", "mot ", 8 }, { "sentences", "text/plain", "It was. ", 8 },
  { "wide", "text/plain", "\xe6\x96\x87", 8 },
};

static void
test_segmenter_long_line (gconstpointer data)
{
  const struct
  {
    const char *name;
    const char *media_type;
    const char *unit;
    guint mib;
  } *row = data;
  gsize unit_length = strlen (row->unit);
  guint n = (guint) (((gsize) row->mib << 20) / unit_length);
  g_autofree char *line = repeat_string (row->unit, n);
  g_autofree char *expected = fold (line);
  g_autoptr (SutraItem) book =
    make_book (row->name, "/books/line.txt", row->media_type,
               g_bytes_new_take (g_steal_pointer (&line), (gsize) n * unit_length));
  g_autoptr (GPtrArray) items = segment_ok (NULL, book);
  g_autofree char *joined = NULL;

  g_test_summary ("A book of one huge line (50 MiB of words or of one letter, 8 MiB of "
                  "Markdown, short sentences or CJK characters) is cut into chunks of at most "
                  "max_chars, all of its text kept");
  assert_chunks_fit (items, 400);
  assert_well_formed (items, row->name);
  joined = joined_chunks (items);
  /* A line without spaces is cut between characters: the chunks joined
   * by spaces hold it with a space at each cut. */
  if (strchr (row->unit, ' ') == NULL)
    {
      GString *glued = g_string_new (NULL);

      for (const char *p = joined; *p != '\0'; p++)
        if (*p != ' ')
          g_string_append_c (glued, *p);
      g_free (joined);
      joined = g_string_free (glued, FALSE);
    }
  g_assert_cmpuint (strlen (joined), ==, strlen (expected));
  g_assert_true (strcmp (joined, expected) == 0);
}

static const struct
{
  const char *name;
  const char *media_type;
  gsize offset;
} nul_bytes[] = {
  { "text-late", "text/plain", 1000000 },
  { "markdown", "text/markdown", 70000 },
  { "text-last", "text/plain", 99999 },
};

static void
test_segmenter_nul_bytes (gconstpointer data)
{
  guint row = GPOINTER_TO_UINT (data);
  gsize size = MAX (nul_bytes[row].offset + 1, 100000);
  g_autofree char *text = g_malloc (size);
  g_autofree char *cause =
    g_strdup_printf ("a NUL byte at byte offset %" G_GSIZE_FORMAT, nul_bytes[row].offset);
  g_autoptr (SutraItem) book = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) items = NULL;

  g_test_summary ("A NUL byte anywhere in a plain text or Markdown book refuses it, naming "
                  "its byte offset");
  for (gsize i = 0; i < size; i++)
    text[i] = i % 70 == 69 ? '\n' : "Some text. "[i % 11];
  text[nul_bytes[row].offset] = '\0';
  book = make_book (nul_bytes[row].name, "/books/nul.txt", nul_bytes[row].media_type,
                    g_bytes_new (text, size));
  items = segment (NULL, book, &error);
  g_assert_null (items);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_true (g_str_has_prefix (error->message, "/books/nul.txt: "));
  g_assert_nonnull (strstr (error->message, cause));
}

/* Plain texts of 50,000 headings: a table of contents that never ends,
 * and as many one-line chapters. */
static const struct
{
  const char *name;
  gboolean numbered; /* "CHAPTER n" and a line of text, else "CHAPTER I" alone */
  const char *tail;
  guint n_chapters;
  guint n_items;
} many_headings[] = {
  { "toc-lines", FALSE, "The end.\n", 2, 50000 },
  { "numbered", TRUE, "", 50000, 50000 },
};

static void
test_segmenter_many_headings (gconstpointer data)
{
  guint row = GPOINTER_TO_UINT (data);
  GString *text = g_string_new (NULL);
  g_autoptr (SutraItem) book = NULL;
  g_autoptr (GPtrArray) items = NULL;
  g_autoptr (GPtrArray) titles = NULL;

  g_test_summary ("50,000 heading lines: a table of contents that never ends is text "
                  "before its one chapter, and 50,000 numbered chapters are chapters");
  for (guint i = 1; i <= 50000; i++)
    if (many_headings[row].numbered)
      g_string_append_printf (text, "CHAPTER %u\n\nSome text.\n\n", i);
    else
      g_string_append (text, "CHAPTER I\n\n");
  g_string_append (text, many_headings[row].tail);
  book = make_book (many_headings[row].name, "/books/many.txt", "text/plain",
                    g_string_free_to_bytes (text));
  items = segment_ok (NULL, book);
  titles = chapter_titles (items);
  assert_well_formed (items, many_headings[row].name);
  g_assert_cmpuint (titles->len, ==, many_headings[row].n_chapters);
  g_assert_cmpuint (items->len, ==, many_headings[row].n_items);
  g_assert_cmpstr (titles->pdata[titles->len - 1], ==, row == 0 ? "CHAPTER I" : "CHAPTER 50000");
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autoptr (GDir) books = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  registry = sutra_registry_new ();
  sutra_registry_load_default (registry, NULL, &error);
  g_assert_no_error (error);

  g_test_add_func ("/plugins/segmenter/descriptor", test_segmenter_descriptor);
  for (guint i = 0; i < G_N_ELEMENTS (bad_params); i++)
    {
      g_autofree char *test_path =
        g_strdup_printf ("/plugins/segmenter/bad-params/%s", bad_params[i].name);

      g_test_add_data_func (test_path, GUINT_TO_POINTER (i), test_segmenter_bad_params);
    }
  g_test_add_func ("/plugins/segmenter/empty-batch", test_segmenter_empty_batch);
  g_test_add_func ("/plugins/segmenter/cancelled", test_segmenter_cancelled);
  dir = books_dir ();
  books = g_dir_open (dir, 0, NULL);
  if (books == NULL)
    {
      /* A checkout without ../shared beside it: the book tests skip, the
       * others still run. */
      g_test_add_func ("/plugins/segmenter/books", test_segmenter_books_missing);
    }
  else
    {
      g_test_add_func ("/plugins/segmenter/books/alice-txt", test_segmenter_alice_txt);
      g_test_add_func ("/plugins/segmenter/books/alice-epub", test_segmenter_alice_epub);
      g_test_add_func ("/plugins/segmenter/books/alice-epub-toc", test_segmenter_alice_epub_toc);
      g_test_add_func ("/plugins/segmenter/books/alice-epub-cover",
                       test_segmenter_alice_epub_cover);
      g_test_add_func ("/plugins/segmenter/books/classics", test_segmenter_classics);
      g_test_add_func ("/plugins/segmenter/books/classics-caps-headings",
                       test_segmenter_classics_caps);
      while ((name = g_dir_read_name (books)) != NULL)
        if (g_str_has_suffix (name, ".txt") || g_str_has_suffix (name, ".epub"))
          g_ptr_array_add (names, g_strdup (name));
    }
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < names->len; i++)
    {
      const char *book = names->pdata[i];
      g_autofree char *test_path = g_strdup_printf ("/plugins/segmenter/nothing-lost/%s", book);

      g_test_add_data_func (test_path, book, test_segmenter_nothing_lost);
    }

  for (guint i = 0; i < 5; i++)
    {
      static const int sizes[] = { 20, 60, 200, 400, 2000 };
      g_autofree char *test_path = g_strdup_printf ("/plugins/segmenter/max-chars/%d", sizes[i]);

      g_test_add_data_func (test_path, GINT_TO_POINTER (sizes[i]), test_segmenter_max_chars);
    }
  for (guint i = 0; i < G_N_ELEMENTS (layouts); i++)
    {
      g_autofree char *test_path =
        g_strdup_printf ("/plugins/segmenter/layout/%s", layouts[i].name);

      g_test_add_data_func (test_path, &layouts[i], test_segmenter_layout);
    }
  for (guint i = 0; i < G_N_ELEMENTS (old_footers); i++)
    {
      g_autofree char *test_path =
        g_strdup_printf ("/plugins/segmenter/old-footer/%s", old_footers[i].name);

      g_test_add_data_func (test_path, GUINT_TO_POINTER (i), test_segmenter_old_footer);
    }
  g_test_add_func ("/plugins/segmenter/metadata", test_segmenter_metadata);
  g_test_add_func ("/plugins/segmenter/sentences", test_segmenter_sentences);
  g_test_add_func ("/plugins/segmenter/merge", test_segmenter_merge);
  g_test_add_func ("/plugins/segmenter/long-sentence", test_segmenter_long_sentence);
  g_test_add_func ("/plugins/segmenter/emit-chapters", test_segmenter_emit_chapters);
  g_test_add_func ("/plugins/segmenter/deterministic", test_segmenter_deterministic);
  g_test_add_func ("/plugins/segmenter/repair-utf8", test_segmenter_repair_utf8);
  g_test_add_func ("/plugins/segmenter/epub3", test_segmenter_epub3);
  for (guint i = 0; i < G_N_ELEMENTS (cover_cases); i++)
    {
      g_autofree char *test_path =
        g_strdup_printf ("/plugins/segmenter/cover/%s", cover_cases[i].name);

      g_test_add_data_func (test_path, GUINT_TO_POINTER (i), test_segmenter_cover);
    }
  for (guint i = 0; i < G_N_ELEMENTS (epub_cases); i++)
    {
      g_autofree char *test_path =
        g_strdup_printf ("/plugins/segmenter/epub-chapters/%s", epub_cases[i].name);

      g_test_add_data_func (test_path, &epub_cases[i], test_segmenter_epub_chapters);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad_inputs); i++)
    {
      g_autofree char *test_path =
        g_strdup_printf ("/plugins/segmenter/bad-input/%s", bad_inputs[i].name);

      g_test_add_data_func (test_path, &bad_inputs[i], test_segmenter_bad_input);
    }

  for (guint i = 0; i < G_N_ELEMENTS (hostile_cases); i++)
    {
      g_autofree char *test_path =
        g_strdup_printf ("/plugins/segmenter/hostile/%s", hostile_cases[i].name);

      g_test_add_data_func (test_path, &hostile_cases[i], test_segmenter_hostile);
    }

  for (guint i = 0; i < G_N_ELEMENTS (size_lies); i++)
    {
      g_autofree char *test_path =
        g_strdup_printf ("/plugins/segmenter/entry-larger-than-declared/%s", size_lies[i].name);

      g_test_add_data_func (test_path, GUINT_TO_POINTER (i),
                            test_segmenter_entry_larger_than_declared);
    }

  for (guint i = 0; i < G_N_ELEMENTS (long_lines); i++)
    {
      g_autofree char *test_path =
        g_strdup_printf ("/plugins/segmenter/long-line/%s", long_lines[i].name);

      g_test_add_data_func (test_path, &long_lines[i], test_segmenter_long_line);
    }
  for (guint i = 0; i < G_N_ELEMENTS (nul_bytes); i++)
    {
      g_autofree char *test_path =
        g_strdup_printf ("/plugins/segmenter/nul-bytes/%s", nul_bytes[i].name);

      g_test_add_data_func (test_path, GUINT_TO_POINTER (i), test_segmenter_nul_bytes);
    }

  for (guint i = 0; i < G_N_ELEMENTS (many_headings); i++)
    {
      g_autofree char *test_path =
        g_strdup_printf ("/plugins/segmenter/many-headings/%s", many_headings[i].name);

      g_test_add_data_func (test_path, GUINT_TO_POINTER (i), test_segmenter_many_headings);
    }

  status = g_test_run ();
  sutra_registry_free (registry);
  return status;
}
