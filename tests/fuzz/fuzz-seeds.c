/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Writes the generated seed corpora of tests/fuzz (docs/fuzzing.md). */

#include "fuzz-epub.h"
#include "fuzz-record.h"
#include "fuzz.h"

#include "sutra-frame.h"
#include "sutra-journal.h"
#include "sutra-record.h"

#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/*
 * Usage: fuzz-seeds CORPUS-DIR [BOOKS-DIR]
 *
 * Writes, under CORPUS-DIR/<harness>/, the seeds that are made rather than
 * written by hand: record bodies encoded by sutra_record_encode(), worker
 * frame streams (sutra-frame.h), journals
 * written through the journal's API, EPUBs (fuzz-epub.c), and small books
 * for the text paths. With BOOKS-DIR (../shared/data/books), excerpts of
 * the real books too. The output is deterministic, except for the journal
 * (it records times): run it again only to change the seeds.
 */

/* The segmenter harnesses' parameter bytes for seeds: the defaults
 * (fuzz_segmenter_params() with zeros but max_chars 400). */
static const guint8 default_params[FUZZ_SEGMENTER_PARAM_BYTES] = { 95, 0, 0 };
/* Chapters, German, the headings rule "(?i)chapter ...", caps headings. */
static const guint8 other_params[FUZZ_SEGMENTER_PARAM_BYTES] = { 20, 0x4c, 0x88 };

static const char gutenberg_book[] =
  "The Project Gutenberg eBook of A Small Book\n\n"
  "This ebook is for the use of anyone anywhere in the United States.\n\n"
  "Title: A Small Book\n\nAuthor: Nobody\n\nLanguage: English\n\n"
  "*** START OF THE PROJECT GUTENBERG EBOOK A SMALL BOOK ***\n\n\n\n"
  "A SMALL BOOK\n\nby Nobody\n\n\nContents\n\n CHAPTER I. The Start\n CHAPTER II. The End\n\n\n\n"
  "CHAPTER I. The Start\n\n"
  "It began on a Monday. Mr. Smith said: \"Not again!\" and left; nobody followed him.\n"
  "The second line of the paragraph goes on, and on, and on, longer than one chunk "
  "should be, with clauses, commas, semicolons; and dashes -- until it stops.\n\n"
  "A second paragraph.\n\n\n\n"
  "CHAPTER II. The End\n\nAnd then it ended. Dr. Jones agreed (mostly).\n\n"
  "*** END OF THE PROJECT GUTENBERG EBOOK A SMALL BOOK ***\n\n"
  "Updated editions will replace the previous one.\n";

static const char parts_book[] =
  "BOOK ONE\n\nTHE FIRST\n\n\nPART I\n\n\nI\n\nRoman numerals alone head these chapters.\n\n"
  "II\n\nAnother one. With sentences! And questions? Yes.\n\n\nPART II\n\n\n"
  "Chapter 3\n\nArabic numbers now.\n\nCHAPTER FOUR\n\nWords for numbers.\n\n"
  "STAVE V. THE END OF IT\n\nOdd headings too.\n\n\n\nTHE GIFT OF THE MAGI\n\n"
  "An all-capitals story title after two blank lines.\n";

static const char unicode_book[] = "Глава 1\n\nЭто первая глава. Она короткая.\n\n"
                                   "第二章\n\n今日は晴れです。明日は雨でしょう。\n\n"
                                   "บทที่ 3\n\nภาษาไทยไม่มีช่องว่างระหว่างคำ\n\n"
                                   "Chapitre 4\n\n« Bonjour », dit-il. L'été s'achève…\n";

static const char markdown_book[] =
  "---\ntitle: A Markdown Book\nauthor: Nobody\n---\n\n"
  "# A Markdown Book\n\nA preface, with *emphasis* and a [link](https://example.org).\n\n"
  "## Chapter One\n\nFirst paragraph. Second sentence.\n\n"
  "```\n# not a heading inside a fence\n```\n\n"
  "- a list item\n- another\n\n> a quote\n\n"
  "Chapter Two\n-----------\n\nA setext heading.\n\n"
  "## Chapter Three ##\n\n    # indented code, not a heading\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";

static void
write_seed (const char *corpus,
            const char *harness,
            const char *name,
            const void *prefix,
            gsize prefix_size,
            const void *data,
            gsize size)
{
  g_autofree char *dir = g_build_filename (corpus, harness, NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  g_autoptr (GError) error = NULL;

  g_mkdir_with_parents (dir, 0755);
  g_byte_array_append (bytes, prefix, prefix_size);
  g_byte_array_append (bytes, data, size);
  if (!g_file_set_contents (path, (const char *) bytes->data, bytes->len, &error))
    g_printerr ("fuzz-seeds: %s\n", error->message);
  else
    g_print ("%s (%u bytes)\n", path, bytes->len);
}

static void
write_text_seeds (const char *corpus, const char *books)
{
  const struct
  {
    const char *harness;
    const char *name;
    const char *text;
    const guint8 *params;
  } seeds[] = {
    { "segmenter-text", "gutenberg.txt", gutenberg_book, default_params },
    { "segmenter-text", "gutenberg-chapters.txt", gutenberg_book, other_params },
    { "segmenter-text", "parts.txt", parts_book, default_params },
    { "segmenter-text", "parts-caps.txt", parts_book, other_params },
    { "segmenter-text", "unicode.txt", unicode_book, default_params },
    { "segmenter-markdown", "book.md", markdown_book, default_params },
    { "segmenter-markdown", "book-level-2.md", markdown_book, other_params },
    { "segmenter-markdown", "gutenberg.md", gutenberg_book, default_params },
  };

  for (guint i = 0; i < G_N_ELEMENTS (seeds); i++)
    write_seed (corpus, seeds[i].harness, seeds[i].name, seeds[i].params,
                FUZZ_SEGMENTER_PARAM_BYTES, seeds[i].text, strlen (seeds[i].text));
  if (books != NULL)
    {
      g_autofree char *path = g_build_filename (books, "alice-pg11.txt", NULL);
      g_autofree char *text = NULL;
      gsize length;

      /* The real header and first chapter, and the real footer. */
      if (g_file_get_contents (path, &text, &length, NULL) && length > 16384)
        {
          g_autoptr (GString) excerpt = g_string_new_len (text, 8192);

          g_string_append_len (excerpt, text + length - 4096, 4096);
          write_seed (corpus, "segmenter-text", "alice-excerpt.txt", default_params,
                      FUZZ_SEGMENTER_PARAM_BYTES, excerpt->str, excerpt->len);
        }
    }
}

static void
write_epub_seeds (const char *corpus)
{
  static const char *const part_harnesses[] = {
    "segmenter-epub-container", "segmenter-epub-opf",   "segmenter-epub-ncx",
    "segmenter-epub-nav",       "segmenter-epub-xhtml",
  };
  static const char *const flavour_names[] = { "epub3-nav-ncx", "epub2-ncx", "epub3-nav" };

  for (FuzzEpubFlavour f = FUZZ_EPUB_BOTH; f <= FUZZ_EPUB_3; f++)
    {
      g_autoptr (GByteArray) epub = g_byte_array_new ();
      g_autofree char *name = g_strconcat (flavour_names[f], ".epub", NULL);
      g_autofree char *other = g_strconcat (flavour_names[f], "-chapters.epub", NULL);

      if (fuzz_epub_write (f, FUZZ_EPUB_NONE, NULL, 0, TRUE, epub))
        {
          write_seed (corpus, "segmenter-epub", name, default_params, FUZZ_SEGMENTER_PARAM_BYTES,
                      epub->data, epub->len);
          write_seed (corpus, "segmenter-epub", other, other_params, FUZZ_SEGMENTER_PARAM_BYTES,
                      epub->data, epub->len);
        }
    }
  for (FuzzEpubPart p = FUZZ_EPUB_CONTAINER; p < FUZZ_EPUB_N_PARTS; p++)
    for (FuzzEpubFlavour f = FUZZ_EPUB_BOTH; f <= FUZZ_EPUB_3; f++)
      {
        const char *text = fuzz_epub_get_document (f, p);
        g_autofree char *name = g_strdup_printf ("%s.xml", flavour_names[f]);

        /* Only the package document differs between flavours. */
        if (p != FUZZ_EPUB_OPF && f != FUZZ_EPUB_BOTH)
          continue;
        write_seed (corpus, part_harnesses[p], p == FUZZ_EPUB_OPF ? name : "book.xml",
                    default_params, FUZZ_SEGMENTER_PARAM_BYTES, text, strlen (text));
      }
}

static SutraItem *
new_item (const char *id, guint64 p0, guint64 p1, const char *media_type, const char *text)
{
  const guint64 path[] = { p0, p1 };

  return sutra_item_new_with_path (id, path, 2, media_type, g_bytes_new (text, strlen (text)));
}

static void
write_record (const char *corpus, const char *name, GPtrArray *items, GPtrArray *inputs)
{
  g_autoptr (GBytes) body = sutra_record_encode (items, inputs);
  gsize size;
  const guint8 *data = g_bytes_get_data (body, &size);

  write_seed (corpus, "record", name, NULL, 0, data, size);
}

/* Appends one frame (header and body) to @stream. */
static void
append_frame (GByteArray *stream, SutraFrameType type, GBytes *body)
{
  guint8 header[SUTRA_FRAME_HEADER_SIZE] = { (guint8) type, 0, 0, 0 };
  gsize size = body != NULL ? g_bytes_get_size (body) : 0;
  guint32 le = GUINT32_TO_LE ((guint32) size);

  memcpy (header + 4, &le, sizeof le);
  g_byte_array_append (stream, header, sizeof header);
  if (size > 0)
    g_byte_array_append (stream, g_bytes_get_data (body, NULL), (guint) size);
}

static void
write_frame_stream (const char *corpus, const char *name, guint8 piece, GByteArray *stream)
{
  write_seed (corpus, "frame", name, &piece, 1, stream->data, stream->len);
  g_byte_array_set_size (stream, 0);
}

/* What worker processes send: a map's pushes and its verdict, a source's
 * stream of pushes with a total, a misuse, a failure, a sync's state; fed
 * whole and in small pieces. */
static void
write_frame_seeds (const char *corpus)
{
  g_autoptr (GPtrArray) inputs = fuzz_record_get_inputs ();
  g_autoptr (GPtrArray) passed = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GByteArray) stream = g_byte_array_new ();
  g_autoptr (GBytes) push = NULL;
  g_autoptr (GBytes) total = sutra_frame_encode_total (12345);
  g_autoptr (GBytes) misuse = sutra_frame_encode_misuse ("sutra_output_push", "item != NULL", 2);
  g_autoptr (GBytes) failure =
    sutra_frame_encode_failure ("sutra-plugin-error-quark", 1, "failing on purpose at “b:3”");
  g_autoptr (GBytes) state = sutra_frame_encode_sync_done ("4096");
  g_autoptr (GBytes) no_state = sutra_frame_encode_sync_done (NULL);

  for (guint i = 0; i < inputs->len; i++)
    g_ptr_array_add (passed, sutra_item_ref (inputs->pdata[i]));
  push = sutra_record_encode (passed, inputs);

  append_frame (stream, SUTRA_FRAME_PUSH, push);
  append_frame (stream, SUTRA_FRAME_DONE, NULL);
  write_frame_stream (corpus, "map-call.bin", 0, stream);
  append_frame (stream, SUTRA_FRAME_TOTAL, total);
  append_frame (stream, SUTRA_FRAME_PUSH, push);
  append_frame (stream, SUTRA_FRAME_PUSH, push);
  append_frame (stream, SUTRA_FRAME_DONE, NULL);
  write_frame_stream (corpus, "source-call-in-pieces.bin", 3, stream);
  append_frame (stream, SUTRA_FRAME_PUSH, push);
  append_frame (stream, SUTRA_FRAME_MISUSE, misuse);
  append_frame (stream, SUTRA_FRAME_DONE, NULL);
  write_frame_stream (corpus, "misuse.bin", 0, stream);
  append_frame (stream, SUTRA_FRAME_FAILED, failure);
  write_frame_stream (corpus, "failed.bin", 1, stream);
  append_frame (stream, SUTRA_FRAME_DONE, state);
  append_frame (stream, SUTRA_FRAME_DONE, no_state);
  write_frame_stream (corpus, "sync.bin", 0, stream);
}

static void
write_record_seeds (const char *corpus)
{
  g_autoptr (GPtrArray) inputs = fuzz_record_get_inputs ();
  g_autoptr (GPtrArray) passed = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) derived =
    g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) split = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) empty = g_ptr_array_new ();
  guint8 digest[SUTRA_DIGEST_SIZE];
  g_autoptr (SutraLineage) lineage = NULL;

  memset (digest, 0x17, sizeof digest);
  lineage = sutra_lineage_new (digest);
  /* A map that passes its inputs on (one entry for a run), but drops one. */
  for (guint i = 0; i < inputs->len; i++)
    if (i != 2)
      g_ptr_array_add (passed, sutra_item_ref (inputs->pdata[i]));
  write_record (corpus, "passed-on.bin", passed, inputs);
  /* A map that keeps payloads or metadata and changes the rest. */
  for (guint i = 0; i < inputs->len; i++)
    {
      SutraItem *input = inputs->pdata[i];
      SutraItem *item = sutra_item_new_derived (input, i % 2 ? "text/x-upper" : NULL,
                                                i % 2 ? NULL : g_bytes_new ("NEW", 3));

      sutra_item_set_lineage (item, lineage);
      g_ptr_array_add (derived, item);
    }
  write_record (corpus, "derived.bin", derived, inputs);
  /* A split's children and the end-of-group marker after them. */
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *id = g_strdup_printf ("book/%04u", i);
      SutraItem *item = new_item (id, 7, i, SUTRA_MEDIA_TEXT_PLAIN, "child text");

      json_object_set_string_member (sutra_item_ensure_meta (item), "chapter_title", "Ü \"q\"");
      sutra_item_set_lineage (item, lineage);
      g_ptr_array_add (split, item);
    }
  g_ptr_array_add (split, sutra_item_new_group_end (split->pdata[0], 1, 3));
  write_record (corpus, "split-with-marker.bin", split, NULL);
  write_record (corpus, "empty.bin", empty, NULL);
}

static void
run_sql (const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  char *message = NULL;

  if (sqlite3_open (path, &db) != SQLITE_OK ||
      sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    g_printerr ("fuzz-seeds: %s: %s\n", path, message ? message : sqlite3_errmsg (db));
  sqlite3_free (message);
  sqlite3_close (db);
}

static void
copy_seed (const char *corpus, const char *name, const char *path)
{
  g_autofree char *contents = NULL;
  gsize length;

  if (g_file_get_contents (path, &contents, &length, NULL))
    write_seed (corpus, "journal", name, NULL, 0, contents, length);
}

/* A journal as a run leaves it, shrunk to 512-byte pages (a few kB) so
 * that the fuzzer mutates mostly structure: once in rollback mode, once in
 * WAL mode (another header, another path through SQLite). */
static void
write_journal_seeds (const char *corpus)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sutra-fuzz-seeds-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "journal.db", NULL);
  SutraJournal *journal = sutra_journal_open (path, &error);
  SutraStoreLocation location = { "pack-0001", 0, 100 };
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  guint8 key[32];

  if (journal == NULL)
    {
      g_printerr ("fuzz-seeds: %s\n", error->message);
      return;
    }
  sutra_journal_set_meta (journal, "job", "{\"pipeline\":\"segment\"}", NULL);
  for (guint i = 0; i < 3; i++)
    {
      memset (key, 0x10 + i, sizeof key);
      location.offset = i * 100;
      sutra_journal_add_batch (journal, i == 0 ? "read" : "segment", key, &location, 1, 5, i == 2,
                               i == 1);
      g_ptr_array_add (keys, g_bytes_new (key, sizeof key));
    }
  sutra_journal_add_failure (journal, "segment", key, "book/0002", "a failure, with “quotes”");
  sutra_journal_set_input_digest (journal, "/books/alice.txt", "1:2:3", key);
  sutra_journal_add_sink_checkpoint (journal, "write", keys, "{\"offset\":1234}", FALSE);
  sutra_journal_set_stage (journal, "segment", "running", "abc", 2, 10, 1, 1, 3, 1.25);
  if (sutra_journal_commit (journal, NULL, &error) < 0)
    g_printerr ("fuzz-seeds: %s\n", error->message);
  sutra_journal_close (journal);
  run_sql (path, "PRAGMA journal_mode=DELETE; PRAGMA page_size=512; VACUUM;");
  copy_seed (corpus, "rollback.db", path);
  run_sql (path, "PRAGMA journal_mode=WAL;");
  copy_seed (corpus, "wal.db", path);
  run_sql (path, "PRAGMA journal_mode=DELETE; UPDATE meta SET value = '7' WHERE name = "
                 "'journal_format';");
  copy_seed (corpus, "other-format.db", path);
  for (const char *const *s = (const char *const[]){ "", "-wal", "-shm", NULL }; *s; s++)
    {
      g_autofree char *name = g_strconcat (path, *s, NULL);

      g_unlink (name);
    }
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  if (argc < 2 || argc > 3)
    {
      g_printerr ("usage: %s CORPUS-DIR [BOOKS-DIR]\n", argv[0]);
      return 2;
    }
  write_text_seeds (argv[1], argc > 2 ? argv[2] : NULL);
  write_epub_seeds (argv[1]);
  write_record_seeds (argv[1]);
  write_frame_seeds (argv[1]);
  write_journal_seeds (argv[1]);
  return 0;
}
