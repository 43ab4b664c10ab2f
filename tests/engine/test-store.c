/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-store.c: entries put and got back, damage caught. */

#include "sutra-store.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* Where a test's store lives: a fresh directory under the isolated tmp. */
static char *
make_store_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("store-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
key_of (guint8 seed, guint8 key[SUTRA_DIGEST_SIZE])
{
  for (guint i = 0; i < SUTRA_DIGEST_SIZE; i++)
    key[i] = (guint8) (seed * 31 + i);
}

static GBytes *
text_bytes (const char *text)
{
  return g_bytes_new (text, strlen (text));
}

/* The pack file an entry lies in, or its own file for a large one. */
static char *
entry_path (const char *dir, const SutraStoreLocation *location, const guint8 *key)
{
  char hex[65];

  if (location->pack[0] != '\0')
    return g_build_filename (dir, "packs", location->pack, NULL);
  sutra_digest_to_hex (key, hex);
  return g_strdup_printf ("%s/objects/%.2s/%s.entry", dir, hex, hex);
}

/* Overwrites one byte of a file in place. */
static void
poke (const char *path, guint64 offset, guint8 value)
{
  int fd = open (path, O_WRONLY);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pwrite (fd, &value, 1, (off_t) offset), ==, 1);
  close (fd);
}

static void
test_store_round_trip (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) small = text_bytes ("the body of a small entry");
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr (GBytes) back = NULL;
  g_autoptr (GBytes) back_empty = NULL;
  SutraStoreLocation location, empty_location;
  guint8 key[SUTRA_DIGEST_SIZE], empty_key[SUTRA_DIGEST_SIZE];
  SutraStore *store;

  g_test_summary ("An entry put is got back byte for byte, in the same store and after it is "
                  "closed and opened again; an empty body too");
  key_of (1, key);
  key_of (2, empty_key);
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_put (store, key, small, &location, &error));
  g_assert_no_error (error);
  g_assert_true (sutra_store_put (store, empty_key, empty, &empty_location, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (location.pack, !=, "");
  g_assert_cmpstr (location.pack, ==, empty_location.pack);
  g_assert_cmpuint (empty_location.offset, >=, location.offset + location.length);
  g_assert_true (sutra_store_sync (store, &error));
  g_assert_no_error (error);

  back = sutra_store_get (store, key, &location, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, small));
  g_clear_pointer (&back, g_bytes_unref);
  sutra_store_close (store);

  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  back = sutra_store_get (store, key, &location, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, small));
  back_empty = sutra_store_get (store, empty_key, &empty_location, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (back_empty), ==, 0);
  sutra_store_close (store);
}

static void
test_store_large_entry (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  gsize size = SUTRA_STORE_LARGE_ENTRY + 17;
  guint8 *data = g_malloc (size);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GBytes) back = NULL;
  g_autofree char *path = NULL;
  g_autofree char *prefix_dir = NULL;
  SutraStoreLocation location, found;
  guint8 key[SUTRA_DIGEST_SIZE];
  SutraStore *store;
  const char *name;
  GDir *listing;

  g_test_summary ("An entry of SUTRA_STORE_LARGE_ENTRY bytes or more gets a file of its own, "
                  "renamed into place whole (no temporary left) and found by its key at once");
  for (gsize i = 0; i < size; i++)
    data[i] = (guint8) (i * 7);
  body = g_bytes_new_take (data, size);
  key_of (3, key);
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_put (store, key, body, &location, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (location.pack, ==, "");
  path = entry_path (dir, &location, key);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  prefix_dir = g_path_get_dirname (path);
  listing = g_dir_open (prefix_dir, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (listing)) != NULL)
    g_assert_true (g_str_has_suffix (name, ".entry"));
  g_dir_close (listing);

  g_assert_true (sutra_store_sync (store, &error));
  g_assert_no_error (error);
  g_assert_true (sutra_store_lookup (store, key, &found));
  g_assert_cmpstr (found.pack, ==, "");
  g_assert_cmpuint (found.length, ==, location.length);
  back = sutra_store_get (store, key, &found, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, body));
  sutra_store_close (store);
}

static void
test_store_sealed_visibility (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = text_bytes ("shared between jobs");
  g_autoptr (GBytes) back = NULL;
  SutraStoreLocation location, found;
  guint8 key[SUTRA_DIGEST_SIZE], other[SUTRA_DIGEST_SIZE];
  SutraStore *writer, *reader;

  g_test_summary ("Another store on the same directory sees an entry only once its pack is "
                  "sealed (an index written atomically), and finds it by key alone");
  key_of (4, key);
  key_of (5, other);
  writer = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_put (writer, key, body, &location, &error));
  g_assert_no_error (error);
  g_assert_true (sutra_store_sync (writer, &error));
  g_assert_no_error (error);

  reader = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_false (sutra_store_lookup (reader, key, &found));
  sutra_store_close (reader);

  sutra_store_close (writer);
  reader = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_lookup (reader, key, &found));
  g_assert_cmpstr (found.pack, ==, location.pack);
  g_assert_cmpuint (found.offset, ==, location.offset);
  g_assert_cmpuint (found.length, ==, location.length);
  back = sutra_store_get (reader, key, &found, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, body));
  g_assert_false (sutra_store_lookup (reader, other, &found));
  sutra_store_close (reader);
}

/* Each way an entry can be damaged, and what reading it says. */
typedef enum
{
  DAMAGE_BODY,      /* a byte of the body flipped */
  DAMAGE_HEADER,    /* the frame's magic overwritten */
  DAMAGE_TRUNCATED, /* the pack cut short (a kill mid-append) */
  DAMAGE_WRONG_KEY, /* asked for under another key */
  DAMAGE_MISSING,   /* the pack deleted */
} Damage;

static const struct
{
  const char *name;
  Damage damage;
  SutraStoreError code;
  const char *message; /* what the error must say */
} damage_cases[] = {
  { "body", DAMAGE_BODY, SUTRA_STORE_ERROR_CORRUPT, "fails its checksum" },
  { "header", DAMAGE_HEADER, SUTRA_STORE_ERROR_CORRUPT, "damaged header" },
  { "truncated", DAMAGE_TRUNCATED, SUTRA_STORE_ERROR_CORRUPT, "truncated" },
  { "wrong-key", DAMAGE_WRONG_KEY, SUTRA_STORE_ERROR_CORRUPT, "damaged header" },
  { "missing", DAMAGE_MISSING, SUTRA_STORE_ERROR_MISSING, "missing" },
};

static void
test_store_detects_damage (gconstpointer data)
{
  const typeof (damage_cases[0]) *row = data;
  g_autofree char *dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = text_bytes ("an entry that will be damaged on disk");
  g_autoptr (GBytes) back = NULL;
  g_autofree char *path = NULL;
  SutraStoreLocation location;
  guint8 key[SUTRA_DIGEST_SIZE], asked[SUTRA_DIGEST_SIZE];
  SutraStore *store;

  g_test_summary ("A damaged entry reads as an error naming where it lies, never as data");
  key_of (6, key);
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_put (store, key, body, &location, &error));
  g_assert_no_error (error);
  g_assert_true (sutra_store_sync (store, &error));
  g_assert_no_error (error);
  sutra_store_close (store);
  path = entry_path (dir, &location, key);
  memcpy (asked, key, sizeof asked);

  switch (row->damage)
    {
    case DAMAGE_BODY:
      poke (path, location.offset + location.length - 1, 'X');
      break;
    case DAMAGE_HEADER:
      poke (path, location.offset, 'Z');
      break;
    case DAMAGE_TRUNCATED:
      g_assert_cmpint (truncate (path, (off_t) (location.offset + location.length - 5)), ==, 0);
      break;
    case DAMAGE_WRONG_KEY:
      key_of (7, asked);
      break;
    case DAMAGE_MISSING:
      g_assert_cmpint (g_unlink (path), ==, 0);
      break;
    }

  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  back = sutra_store_get (store, asked, &location, &error);
  g_assert_null (back);
  g_assert_error (error, SUTRA_STORE_ERROR, (gint) row->code);
  g_assert_nonnull (strstr (error->message, row->message));
  if (row->damage != DAMAGE_MISSING)
    g_assert_nonnull (strstr (error->message, location.pack));
  sutra_store_close (store);
}

static void
test_store_refuses_other_format (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autofree char *format = g_build_filename (dir, "FORMAT", NULL);
  g_autoptr (GError) error = NULL;
  SutraStore *store;

  g_test_summary ("A store of another format is refused, naming both formats and the fix");
  g_assert_true (g_file_set_contents (format, "sutra-store 1\n", -1, &error));
  g_assert_no_error (error);
  store = sutra_store_open (dir, &error);
  g_assert_null (store);
  g_assert_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "sutra-store 1"));
  g_assert_nonnull (strstr (error->message, "sutra-store 2"));
  g_assert_nonnull (strstr (error->message, "--cache"));
}

static void
test_store_gc (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) kept_body = text_bytes ("still referenced");
  g_autoptr (GBytes) dropped_body = text_bytes ("referenced by nobody");
  g_autoptr (GBytes) back = NULL;
  g_autoptr (GHashTable) referenced =
    g_hash_table_new_full (g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, NULL);
  g_autofree char *dropped_path = NULL;
  SutraStoreLocation kept, dropped;
  guint8 kept_key[SUTRA_DIGEST_SIZE], dropped_key[SUTRA_DIGEST_SIZE];
  guint n_removed = 0;
  SutraStore *store;

  g_test_summary ("gc deletes the packs holding no referenced entry and keeps the others");
  key_of (8, kept_key);
  key_of (9, dropped_key);
  /* Two stores in turn: two packs, one entry each. */
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_put (store, kept_key, kept_body, &kept, &error));
  g_assert_no_error (error);
  sutra_store_close (store);
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_put (store, dropped_key, dropped_body, &dropped, &error));
  g_assert_no_error (error);
  sutra_store_close (store);
  g_assert_cmpstr (kept.pack, !=, dropped.pack);
  dropped_path = entry_path (dir, &dropped, dropped_key);

  g_hash_table_add (referenced, g_bytes_new (kept_key, SUTRA_DIGEST_SIZE));
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_exclude_jobs (store, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (sutra_store_gc (store, referenced, &n_removed, &error), >, 0);
  g_assert_no_error (error);
  g_assert_cmpuint (n_removed, ==, 2); /* the pack and its index */
  g_assert_false (g_file_test (dropped_path, G_FILE_TEST_EXISTS));
  back = sutra_store_get (store, kept_key, &kept, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, kept_body));
  sutra_store_close (store);
}

static void
test_store_gc_excluded_by_job (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autofree char *job_dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) jobs = NULL;
  g_autofree char *absolute = g_canonicalize_filename (job_dir, NULL);
  SutraStore *job_store, *gc_store;

  g_test_summary ("While a job holds the store, gc is refused as busy; the job is listed");
  job_store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_register_job (job_store, job_dir, &error));
  g_assert_no_error (error);

  gc_store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_false (sutra_store_exclude_jobs (gc_store, &error));
  g_assert_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_BUSY);
  g_clear_error (&error);
  jobs = sutra_store_list_jobs (gc_store);
  g_assert_cmpuint (jobs->len, ==, 1);
  g_assert_cmpstr (jobs->pdata[0], ==, absolute);

  sutra_store_close (job_store);
  g_assert_true (sutra_store_exclude_jobs (gc_store, &error));
  g_assert_no_error (error);
  sutra_store_close (gc_store);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/engine/store/round-trip", test_store_round_trip);
  g_test_add_func ("/engine/store/large-entry", test_store_large_entry);
  g_test_add_func ("/engine/store/sealed-visibility", test_store_sealed_visibility);
  for (guint i = 0; i < G_N_ELEMENTS (damage_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/store/detects-damage/%s", damage_cases[i].name);

      g_test_add_data_func (path, &damage_cases[i], test_store_detects_damage);
    }
  g_test_add_func ("/engine/store/refuses-other-format", test_store_refuses_other_format);
  g_test_add_func ("/engine/store/gc", test_store_gc);
  g_test_add_func ("/engine/store/gc-excluded-by-job", test_store_gc_excluded_by_job);
  return g_test_run ();
}
