/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-store.c: entries put and got back, damage caught. */

#include "sutra-store.h"
#include "sutra-test-util.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
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
test_store_pieces (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  SutraStoreLocation locations[3];
  SutraStore *store;

  g_test_summary ("An entry put in pieces, some of them payload files, is got back as the "
                  "pieces joined, in a pack and as a large entry of its own, after the store "
                  "is closed and opened again; no pieces is an empty body");
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  for (guint round = 0; round < 2; round++)
    for (guint large = 0; large < 3; large++)
      {
        g_autoptr (GPtrArray) pieces =
          g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_store_piece_free);
        g_autoptr (GByteArray) joined = g_byte_array_new ();
        g_autoptr (GBytes) expected = NULL;
        g_autoptr (GBytes) back = NULL;
        guint8 key[SUTRA_DIGEST_SIZE];
        /* Pieces 2 and 4 are files (2 is what makes an entry large). */
        gsize sizes[] = { 17, 0, large == 1 ? SUTRA_STORE_LARGE_ENTRY : 100000, 5, 0, 3 };

        key_of ((guint8) (40 + large), key);
        for (guint p = 0; large < 2 && p < G_N_ELEMENTS (sizes); p++)
          {
            guint8 *data = g_malloc (MAX (sizes[p], 1));

            for (gsize k = 0; k < sizes[p]; k++)
              data[k] = (guint8) (k * 13 + p);
            g_byte_array_append (joined, data, (guint) sizes[p]);
            if (p == 2 || p == 4)
              {
                int fd = sutra_test_unlinked_file (data, sizes[p]);

                g_free (data);
                g_ptr_array_add (pieces,
                                 sutra_store_piece_new_file (sutra_payload_file_new (fd, NULL)));
              }
            else
              g_ptr_array_add (pieces,
                               sutra_store_piece_new_bytes (g_bytes_new_take (data, sizes[p])));
          }
        expected = g_byte_array_free_to_bytes (g_steal_pointer (&joined));
        if (round == 0)
          {
            g_assert_true (sutra_store_put_pieces (store, key, pieces, &locations[large], &error));
            g_assert_no_error (error);
            g_assert_cmpuint (locations[large].pack[0] == '\0', ==, large == 1);
            g_assert_true (sutra_store_sync (store, &error));
          }
        back = sutra_store_get (store, key, &locations[large], &error);
        g_assert_no_error (error);
        g_assert_true (g_bytes_equal (back, expected));
        if (round == 0 && large == 2)
          {
            sutra_store_close (store);
            store = sutra_store_open (dir, &error);
            g_assert_no_error (error);
          }
      }
  sutra_store_close (store);
}

static void
test_store_get_body (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  gsize large_size = SUTRA_STORE_LARGE_ENTRY + 12345;
  g_autofree guint8 *data = g_malloc (large_size);
  g_autoptr (GBytes) large = NULL;
  g_autoptr (GBytes) small = text_bytes ("a small entry, packed");
  g_autoptr (GBytes) back = NULL;
  g_autofree char *path = NULL;
  SutraStoreLocation large_at, small_at;
  guint8 large_key[SUTRA_DIGEST_SIZE], small_key[SUTRA_DIGEST_SIZE];
  guint64 body_offset;
  SutraStore *store;
  int fd;

  g_test_summary ("A large entry's body is mapped and checked, with a descriptor of its file "
                  "and where the body starts in it; a packed entry is read, with no "
                  "descriptor; a damaged large entry fails its checksum");
  for (gsize k = 0; k < large_size; k++)
    data[k] = (guint8) (k * 31 + 7);
  large = g_bytes_new (data, large_size);
  key_of (60, large_key);
  key_of (61, small_key);
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_put (store, large_key, large, &large_at, &error));
  g_assert_true (sutra_store_put (store, small_key, small, &small_at, &error));
  g_assert_true (sutra_store_sync (store, &error));

  back = sutra_store_get_body (store, large_key, &large_at, &fd, &body_offset, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, large));
  g_assert_cmpint (fd, >=, 0);
  {
    guint8 first[16];

    /* The descriptor reads the body at the offset given. */
    g_assert_cmpint (pread (fd, first, sizeof first, (off_t) body_offset), ==, sizeof first);
    g_assert_cmpmem (first, sizeof first, data, sizeof first);
  }
  close (fd);
  g_clear_pointer (&back, g_bytes_unref);

  back = sutra_store_get_body (store, small_key, &small_at, &fd, &body_offset, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, small));
  g_assert_cmpint (fd, ==, -1);
  g_clear_pointer (&back, g_bytes_unref);

  path = entry_path (dir, &large_at, large_key);
  poke (path, large_at.length - 100, (guint8) ~data[large_size - 100]);
  back = sutra_store_get_body (store, large_key, &large_at, &fd, &body_offset, &error);
  g_assert_null (back);
  g_assert_cmpint (fd, ==, -1);
  g_assert_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "checksum"));
  sutra_store_close (store);
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

/* The packs in @dir's packs/ whose names start with @prefix and end with
 * @suffix, sorted. */
static GPtrArray *
list_packs (const char *dir, const char *prefix, const char *suffix)
{
  g_autofree char *packs = g_build_filename (dir, "packs", NULL);
  g_autoptr (GDir) listing = g_dir_open (packs, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (listing);
  while ((name = g_dir_read_name (listing)) != NULL)
    if (g_str_has_prefix (name, prefix) && g_str_has_suffix (name, suffix))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  return names;
}

static char *
body_text (guint i)
{
  return g_strdup_printf ("entry %u of a writer that was killed", i);
}

/* Forks a writer that claims @name in the store at @dir, puts @n_entries
 * entries (keys key_of (100 + i)), makes them durable and is killed
 * (SIGKILL) without ever sealing its pack, as a shard whose node or job
 * was lost. */
static void
run_killed_writer (const char *dir, const char *name, guint n_entries)
{
  int status;
  pid_t pid;

  /* What stdout holds would be written twice, the child's copy too. */
  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      g_autoptr (GError) error = NULL;
      SutraStore *store = sutra_store_open (dir, &error);
      guint n_recovered = 1;

      g_assert_no_error (error);
      g_assert_true (sutra_store_claim_writer (store, name, &n_recovered, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (n_recovered, ==, 0);
      for (guint i = 0; i < n_entries; i++)
        {
          g_autofree char *text = body_text (i);
          g_autoptr (GBytes) body = text_bytes (text);
          guint8 key[SUTRA_DIGEST_SIZE];
          SutraStoreLocation location;

          key_of (100 + i, key);
          g_assert_true (sutra_store_put (store, key, body, &location, &error));
          g_assert_no_error (error);
        }
      g_assert_true (sutra_store_sync (store, &error));
      g_assert_no_error (error);
      kill (getpid (), SIGKILL);
      _exit (1); /* not reached */
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);
}

/* Whether the entry run_killed_writer() put as its @i-th is in @store,
 * whole. */
static gboolean
has_entry (SutraStore *store, guint i)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = body_text (i);
  g_autoptr (GBytes) expected = text_bytes (text);
  g_autoptr (GBytes) back = NULL;
  guint8 key[SUTRA_DIGEST_SIZE];
  SutraStoreLocation location;

  key_of (100 + i, key);
  if (!sutra_store_lookup (store, key, &location))
    return FALSE;
  back = sutra_store_get (store, key, &location, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, expected));
  return TRUE;
}

static void
test_store_claim_writer_recovers (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) unsealed = NULL;
  g_autoptr (GPtrArray) indexes = NULL;
  g_autofree char *idx_name = NULL;
  SutraStore *store;
  guint n_recovered;

  g_test_summary ("A writer killed before it sealed its pack leaves entries no other process "
                  "sees; the next writer claiming its name seals them, and every process sees "
                  "them; writers of other names leave them alone");
  run_killed_writer (dir, "shard-1-of-2", 3);
  unsealed = list_packs (dir, "shard-1-of-2.", ".pack");
  g_assert_cmpuint (unsealed->len, ==, 1);
  indexes = list_packs (dir, "", ".idx");
  g_assert_cmpuint (indexes->len, ==, 0);

  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_false (has_entry (store, 0));
  sutra_store_close (store);

  /* Other names: another shard, and one whose name the dead one's starts
   * with. */
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_claim_writer (store, "shard-1-of-20", &n_recovered, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_recovered, ==, 0);
  g_assert_false (has_entry (store, 0));
  sutra_store_close (store);
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_claim_writer (store, "shard-0-of-2", &n_recovered, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_recovered, ==, 0);
  sutra_store_close (store);
  g_ptr_array_unref (indexes);
  indexes = list_packs (dir, "", ".idx");
  g_assert_cmpuint (indexes->len, ==, 0);

  /* The dead writer's name: its entries come back, here at once. */
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_claim_writer (store, "shard-1-of-2", &n_recovered, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_recovered, ==, 3);
  for (guint i = 0; i < 3; i++)
    g_assert_true (has_entry (store, i));
  sutra_store_close (store);
  idx_name = g_strdup_printf ("%.*s.idx", (int) strlen (unsealed->pdata[0]) - 5,
                              (char *) unsealed->pdata[0]);
  g_ptr_array_unref (indexes);
  indexes = list_packs (dir, "", ".idx");
  g_assert_cmpuint (indexes->len, ==, 1);
  g_assert_cmpstr (indexes->pdata[0], ==, idx_name);

  /* Sealed for good: any process sees them, and nothing is left to
   * recover. */
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    g_assert_true (has_entry (store, i));
  g_assert_true (sutra_store_claim_writer (store, "shard-1-of-2", &n_recovered, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_recovered, ==, 0);
  sutra_store_close (store);
}

static void
test_store_claim_writer_torn_pack (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) unsealed = NULL;
  g_autoptr (GPtrArray) left = NULL;
  g_autofree char *pack = NULL;
  g_autofree char *empty =
    g_build_filename (dir, "packs", "shard-1-of-2.00000000dead0000-0000.pack", NULL);
  g_autofree char *junk =
    g_build_filename (dir, "packs", "shard-1-of-2.00000000beef0000-0000.pack", NULL);
  GStatBuf st;
  SutraStore *store;
  guint n_recovered;

  g_test_summary ("Recovery keeps the whole frames of a dead writer's pack up to the first torn "
                  "one, and removes its packs that hold no whole frame");
  run_killed_writer (dir, "shard-1-of-2", 3);
  unsealed = list_packs (dir, "shard-1-of-2.", ".pack");
  g_assert_cmpuint (unsealed->len, ==, 1);
  pack = g_build_filename (dir, "packs", unsealed->pdata[0], NULL);
  /* Killed in the middle of its third frame. */
  g_assert_cmpint (g_stat (pack, &st), ==, 0);
  g_assert_cmpint (truncate (pack, st.st_size - 5), ==, 0);
  /* Killed before its first frame reached the disk, or during it. */
  g_assert_true (g_file_set_contents (empty, "", 0, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (junk, "SUTR\2", 5, &error));
  g_assert_no_error (error);

  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_claim_writer (store, "shard-1-of-2", &n_recovered, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_recovered, ==, 2);
  g_assert_true (has_entry (store, 0));
  g_assert_true (has_entry (store, 1));
  g_assert_false (has_entry (store, 2));
  sutra_store_close (store);
  g_assert_false (g_file_test (empty, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (junk, G_FILE_TEST_EXISTS));
  left = list_packs (dir, "", ".pack");
  g_assert_cmpuint (left->len, ==, 1);
  g_assert_cmpstr (left->pdata[0], ==, unsealed->pdata[0]);

  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (has_entry (store, 1));
  g_assert_false (has_entry (store, 2));
  sutra_store_close (store);
}

static void
test_store_seal (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) first_body = text_bytes ("sealed on demand");
  g_autoptr (GBytes) second_body = text_bytes ("in the next pack");
  g_autoptr (GPtrArray) indexes = NULL;
  g_autoptr (GBytes) back = NULL;
  SutraStoreLocation first, second, found;
  guint8 first_key[SUTRA_DIGEST_SIZE], second_key[SUTRA_DIGEST_SIZE];
  SutraStore *writer, *reader;

  g_test_summary ("sutra_store_seal() writes the pack's index while the store stays open: "
                  "another process sees its entries at once, and the next put starts a new "
                  "pack, named after the claimed writer");
  key_of (10, first_key);
  key_of (11, second_key);
  writer = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_claim_writer (writer, "shard-0-of-3", NULL, &error));
  g_assert_no_error (error);
  /* Nothing written yet: nothing to seal. */
  g_assert_true (sutra_store_seal (writer, &error));
  g_assert_no_error (error);
  indexes = list_packs (dir, "", ".idx");
  g_assert_cmpuint (indexes->len, ==, 0);

  g_assert_true (sutra_store_put (writer, first_key, first_body, &first, &error));
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (first.pack, "shard-0-of-3."));
  reader = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_false (sutra_store_lookup (reader, first_key, &found));
  sutra_store_close (reader);

  g_assert_true (sutra_store_seal (writer, &error));
  g_assert_no_error (error);
  g_ptr_array_unref (indexes);
  indexes = list_packs (dir, "shard-0-of-3.", ".idx");
  g_assert_cmpuint (indexes->len, ==, 1);
  reader = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_store_lookup (reader, first_key, &found));
  back = sutra_store_get (reader, first_key, &found, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, first_body));
  sutra_store_close (reader);

  g_assert_true (sutra_store_put (writer, second_key, second_body, &second, &error));
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (second.pack, "shard-0-of-3."));
  g_assert_cmpstr (second.pack, !=, first.pack);
  /* The writer still reads what it sealed. */
  g_clear_pointer (&back, g_bytes_unref);
  back = sutra_store_get (writer, first_key, &first, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, first_body));
  sutra_store_close (writer);
  g_ptr_array_unref (indexes);
  indexes = list_packs (dir, "shard-0-of-3.", ".idx");
  g_assert_cmpuint (indexes->len, ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/engine/store/round-trip", test_store_round_trip);
  g_test_add_func ("/engine/store/pieces", test_store_pieces);
  g_test_add_func ("/engine/store/get-body", test_store_get_body);
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
  g_test_add_func ("/engine/store/claim-writer/recovers", test_store_claim_writer_recovers);
  g_test_add_func ("/engine/store/claim-writer/torn-pack", test_store_claim_writer_torn_pack);
  g_test_add_func ("/engine/store/seal", test_store_seal);
  return g_test_run ();
}
