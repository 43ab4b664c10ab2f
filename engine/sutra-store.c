/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The content-addressed store: framed, checksummed entries in pack files. */

#include "sutra-store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <glib/gstdio.h>
#include <xxhash.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* The quark name has dashes, which clang-format would space as minus signs. */
/* clang-format off */
G_DEFINE_QUARK (sutra-store-error-quark, sutra_store_error)
/* clang-format on */

/*
 * store/
 *   FORMAT               "sutra-store 1"
 *   packs/W-N.pack       entries appended by writer W (one process), N-th pack
 *   packs/W-N.idx        written when the pack is sealed: key, offset, length
 *   objects/ab/KEY.entry one large entry
 *   jobs/HASH            the path of a job using this store (for gc)
 *
 * An entry is a frame: "SUTR", u32 version, the 32-byte key, u64 body length,
 * the body's 128-bit XXH3 checksum, then the body. A reader checks all of
 * it, so a torn write (kill -9 mid-append, a truncated pack) reads as
 * corrupt and is recomputed, never used. The checksum guards against damage,
 * not against an adversary (the key, a SHA-256, names the entry): XXH3 reads
 * tens of GB/s where SHA-256 made hashing a third of checkpointing's cost.
 */

#define FORMAT_NAME "sutra-store 2"
#define FORMAT_TEXT FORMAT_NAME "\n"
#define FRAME_MAGIC "SUTR"
#define FRAME_VERSION 2
#define FRAME_CHECKSUM_SIZE 16
#define FRAME_HEADER (4 + 4 + 32 + 8 + FRAME_CHECKSUM_SIZE)
#define PACK_LIMIT (256u << 20)

typedef struct
{
  guint8 key[SUTRA_DIGEST_SIZE];
  guint64 offset;
  guint64 length;
} IndexEntry;

struct _SutraStore
{
  char *dir;
  char *writer; /* this process's writer id */
  GMutex lock;
  int pack_fd; /* the pack being written, or -1 */
  char pack_name[64];
  guint pack_number;
  guint64 pack_size;
  gboolean pack_dirty;
  gboolean objects_dirty;
  gboolean has_objects;      /* objects/ exists: large entries may be there */
  gint64 objects_checked_us; /* when has_objects was last found FALSE */
  GArray *pack_entries;      /* IndexEntry of the current pack */
  GHashTable *sealed;        /* key (GBytes) -> SutraStoreLocation *, other packs */
  GHashTable *read_fds;      /* pack name -> fd */
  int users_fd;              /* "users", flock()ed by jobs (shared) and gc (exclusive) */
};

static gboolean
io_error (GError **error, const char *path, const char *operation)
{
  int saved = errno;

  g_set_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_IO, "cannot %s “%s”: %s%s", operation,
               path, g_strerror (saved),
               saved == ENOSPC || saved == EFBIG || saved == EDQUOT
                 ? " (free some space, then resume the job: nothing done so far is lost)"
                 : "");
  return FALSE;
}

/* One part of a frame's body: bytes in memory, or (file non-NULL) a
 * payload file, read a block at a time. */
typedef struct
{
  const guint8 *data;
  gsize length;
  SutraPayloadFile *file;
} Part;

/* Writes @n iovecs at *@offset, going on after a short write. */
static gboolean
write_vectors (int fd, struct iovec *next, guint left, guint64 *offset)
{
  while (left > 0)
    {
      ssize_t n = pwritev (fd, next, (int) MIN (left, IOV_MAX), (off_t) *offset);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return FALSE;
        }
      *offset += (guint64) n;
      for (; left > 0 && (gsize) n >= next->iov_len; next++, left--)
        n -= (ssize_t) next->iov_len;
      if (left > 0)
        {
          next->iov_base = (guint8 *) next->iov_base + n;
          next->iov_len -= (gsize) n;
        }
    }
  return TRUE;
}

/* Copies a payload file to *@offset: in the kernel where it can
 * (copy_file_range), else a block at a time through a buffer; never the
 * whole file in memory. */
static gboolean
copy_file (int fd, SutraPayloadFile *file, guint64 *offset)
{
  guint64 size = sutra_payload_file_get_size (file), done = 0;
  g_autofree guint8 *buffer = NULL;

  while (done < size)
    {
      off_t in = (off_t) (sutra_payload_file_get_offset (file) + done), out = (off_t) *offset;
      ssize_t n = copy_file_range (sutra_payload_file_get_fd (file), &in, fd, &out,
                                   (size_t) MIN (size - done, (guint64) 1 << 30), 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break; /* not across these file systems, or the file shrank: read it */
      done += (guint64) n;
      *offset += (guint64) n;
    }
  while (done < size)
    {
      gsize block = (gsize) MIN (size - done, (guint64) SUTRA_PAYLOAD_FILE_BLOCK);
      gssize n;
      struct iovec vector;

      if (buffer == NULL)
        buffer = g_malloc (SUTRA_PAYLOAD_FILE_BLOCK);
      n = sutra_payload_file_read (file, done, buffer, block, NULL);
      if (n != (gssize) block)
        {
          errno = EIO;
          return FALSE;
        }
      vector.iov_base = buffer;
      vector.iov_len = block;
      if (!write_vectors (fd, &vector, 1, offset))
        return FALSE;
      done += block;
    }
  return TRUE;
}

/* Writes a frame's header and then @parts at @offset: one system call for
 * the header and the parts in memory, almost always (one per batch is what
 * a store of small records costs), and a copy for each payload file. */
static gboolean
write_frame (int fd, const guint8 *header, const Part *parts, guint n_parts, guint64 offset)
{
  g_autofree struct iovec *vectors = g_new (struct iovec, n_parts + 1);
  guint n = 0;

  vectors[n].iov_base = (void *) header;
  vectors[n++].iov_len = FRAME_HEADER;
  for (guint i = 0; i < n_parts; i++)
    {
      if (parts[i].file == NULL)
        {
          vectors[n].iov_base = (void *) parts[i].data;
          vectors[n++].iov_len = parts[i].length;
          continue;
        }
      if (!write_vectors (fd, vectors, n, &offset) || !copy_file (fd, parts[i].file, &offset))
        return FALSE;
      n = 0;
    }
  return write_vectors (fd, vectors, n, &offset);
}

static gboolean
read_all (int fd, void *data, gsize length, guint64 offset)
{
  guint8 *p = data;

  while (length > 0)
    {
      ssize_t n = pread (fd, p, length, (off_t) offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      length -= n;
      offset += n;
    }
  return TRUE;
}

static void
load_index (SutraStore *store, const char *pack_name, const char *idx_path)
{
  g_autofree char *contents = NULL;
  gsize length;

  if (!g_file_get_contents (idx_path, &contents, &length, NULL))
    return;
  for (gsize off = 0; off + sizeof (IndexEntry) <= length; off += sizeof (IndexEntry))
    {
      IndexEntry entry;
      SutraStoreLocation *location = g_new0 (SutraStoreLocation, 1);

      memcpy (&entry, contents + off, sizeof entry);
      g_strlcpy (location->pack, pack_name, sizeof location->pack);
      location->offset = GUINT64_FROM_LE (entry.offset);
      location->length = GUINT64_FROM_LE (entry.length);
      g_hash_table_replace (store->sealed, g_bytes_new (entry.key, SUTRA_DIGEST_SIZE), location);
    }
}

/* What the sealed packs hold, from their indexes. */
static void
load_indexes (SutraStore *store)
{
  g_autofree char *packs = g_build_filename (store->dir, "packs", NULL);
  g_autoptr (GDir) listing = g_dir_open (packs, 0, NULL);
  const char *name;

  g_hash_table_remove_all (store->sealed);
  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    if (g_str_has_suffix (name, ".idx"))
      {
        g_autofree char *idx_path = g_build_filename (packs, name, NULL);
        g_autofree char *pack_name = g_strndup (name, strlen (name) - 4);
        g_autofree char *pack_file = g_strconcat (pack_name, ".pack", NULL);

        load_index (store, pack_file, idx_path);
      }
}

SutraStore *
sutra_store_open (const char *dir, GError **error)
{
  g_autofree char *format_path = g_build_filename (dir, "FORMAT", NULL);
  g_autofree char *packs = g_build_filename (dir, "packs", NULL);
  g_autofree char *objects = g_build_filename (dir, "objects", NULL);
  g_autofree char *jobs = g_build_filename (dir, "jobs", NULL);
  g_autofree char *format = NULL;
  SutraStore *store;

  if (g_mkdir_with_parents (packs, 0777) != 0 || g_mkdir_with_parents (objects, 0777) != 0 ||
      g_mkdir_with_parents (jobs, 0777) != 0)
    {
      io_error (error, dir, "make the store directory");
      return NULL;
    }
  if (g_file_get_contents (format_path, &format, NULL, NULL))
    {
      if (strcmp (format, FORMAT_TEXT) != 0)
        {
          g_strchomp (format);
          g_set_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_FORMAT,
                       "“%s” is a store of format “%s”; this sutra reads “%s”: use another "
                       "--cache directory",
                       dir, format, FORMAT_NAME);
          return NULL;
        }
    }
  else if (!g_file_set_contents (format_path, FORMAT_TEXT, -1, error))
    return NULL;

  store = g_new0 (SutraStore, 1);
  store->dir = g_strdup (dir);
  store->pack_fd = -1;
  store->users_fd = -1;
  /* Random, so that writers sharing a store never pick the same pack. */
  store->writer = g_strdup_printf ("%08x%08x", g_random_int (), g_random_int ());
  store->pack_entries = g_array_new (FALSE, FALSE, sizeof (IndexEntry));
  store->sealed = g_hash_table_new_full (sutra_digest_bytes_hash, g_bytes_equal,
                                         (GDestroyNotify) g_bytes_unref, g_free);
  store->read_fds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_mutex_init (&store->lock);

  load_indexes (store);
  return store;
}

static char *
object_path (SutraStore *store, const guint8 key[SUTRA_DIGEST_SIZE])
{
  char hex[65];
  char prefix[3];

  sutra_digest_to_hex (key, hex);
  memcpy (prefix, hex, 2);
  prefix[2] = '\0';
  return g_strdup_printf ("%s/objects/%s/%s.entry", store->dir, prefix, hex);
}

/* The index of the pack @pack_name (W-N.pack) in @packs_dir: W-N.idx. */
static char *
index_path_for (const char *packs_dir, const char *pack_name)
{
  return g_strdup_printf ("%s/%.*s.idx", packs_dir, (int) (strlen (pack_name) - 5), pack_name);
}

/* Writes the pack's index beside it, atomically: from then on other
 * processes sharing the store see its entries. */
static gboolean
seal_pack (SutraStore *store, GError **error)
{
  g_autofree char *idx_path = NULL;
  g_autofree char *pack_path = NULL;
  g_autofree char *packs = NULL;
  gboolean ok = TRUE;

  if (store->pack_fd < 0)
    return TRUE;
  pack_path = g_strdup_printf ("%s/packs/%s", store->dir, store->pack_name);
  if (fsync (store->pack_fd) != 0)
    ok = io_error (error, pack_path, "sync");
  close (store->pack_fd);
  store->pack_fd = -1;
  if (ok && store->pack_entries->len > 0)
    {
      packs = g_build_filename (store->dir, "packs", NULL);
      idx_path = index_path_for (packs, store->pack_name);
      for (guint i = 0; i < store->pack_entries->len; i++)
        {
          IndexEntry *entry = &g_array_index (store->pack_entries, IndexEntry, i);

          entry->offset = GUINT64_TO_LE (entry->offset);
          entry->length = GUINT64_TO_LE (entry->length);
        }
      ok = g_file_set_contents_full (idx_path, store->pack_entries->data,
                                     store->pack_entries->len * sizeof (IndexEntry),
                                     G_FILE_SET_CONTENTS_CONSISTENT, 0666, error);
    }
  g_array_set_size (store->pack_entries, 0);
  store->pack_dirty = FALSE;
  return ok;
}

static gboolean
open_pack (SutraStore *store, GError **error)
{
  g_autofree char *path = NULL;

  g_snprintf (store->pack_name, sizeof store->pack_name, "%s-%04u.pack", store->writer,
              store->pack_number++);
  path = g_strdup_printf ("%s/packs/%s", store->dir, store->pack_name);
  store->pack_fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (store->pack_fd < 0)
    return io_error (error, path, "create");
  store->pack_size = 0;
  return TRUE;
}

/* The body's checksum, in XXH3's canonical (big-endian) form. */
static void
checksum (const void *data, gsize length, guint8 out[FRAME_CHECKSUM_SIZE])
{
  XXH128_canonical_t canonical;

  XXH128_canonicalFromHash (&canonical, XXH3_128bits (data, length));
  memcpy (out, canonical.digest, FRAME_CHECKSUM_SIZE);
}

/* The header of a frame whose body is @parts, one after the other. FALSE
 * when a payload file cannot be read (errno set). */
static gboolean
make_header (guint8 header[FRAME_HEADER],
             const guint8 key[SUTRA_DIGEST_SIZE],
             const Part *parts,
             guint n_parts,
             guint64 length)
{
  guint32 version = GUINT32_TO_LE (FRAME_VERSION);
  guint64 le_length = GUINT64_TO_LE (length);
  g_autofree guint8 *buffer = NULL;
  XXH3_state_t *state;
  XXH128_canonical_t canonical;

  memcpy (header, FRAME_MAGIC, 4);
  memcpy (header + 4, &version, 4);
  memcpy (header + 8, key, SUTRA_DIGEST_SIZE);
  memcpy (header + 40, &le_length, 8);
  if (n_parts == 1 && parts[0].file == NULL)
    {
      checksum (parts[0].data, parts[0].length, header + 48);
      return TRUE;
    }
  /* The same hash as over the body in one piece. */
  state = XXH3_createState ();
  XXH3_128bits_reset (state);
  for (guint i = 0; i < n_parts; i++)
    {
      guint64 size, done;

      if (parts[i].file == NULL)
        {
          XXH3_128bits_update (state, parts[i].data, parts[i].length);
          continue;
        }
      size = sutra_payload_file_get_size (parts[i].file);
      if (buffer == NULL && size > 0)
        buffer = g_malloc (SUTRA_PAYLOAD_FILE_BLOCK);
      for (done = 0; done < size;)
        {
          gsize block = (gsize) MIN (size - done, (guint64) SUTRA_PAYLOAD_FILE_BLOCK);

          if (sutra_payload_file_read (parts[i].file, done, buffer, block, NULL) != (gssize) block)
            {
              XXH3_freeState (state);
              errno = EIO;
              return FALSE;
            }
          XXH3_128bits_update (state, buffer, block);
          done += block;
        }
    }
  XXH128_canonicalFromHash (&canonical, XXH3_128bits_digest (state));
  XXH3_freeState (state);
  memcpy (header + 48, canonical.digest, FRAME_CHECKSUM_SIZE);
  return TRUE;
}

/* A frame header's magic and version, and the body's length it gives;
 * FALSE when it is not one of ours. */
static gboolean
parse_frame_header (const guint8 header[FRAME_HEADER], guint64 *length)
{
  guint32 version;

  memcpy (&version, header + 4, 4);
  memcpy (length, header + 40, 8);
  *length = GUINT64_FROM_LE (*length);
  return memcmp (header, FRAME_MAGIC, 4) == 0 && GUINT32_FROM_LE (version) == FRAME_VERSION;
}

/* Indexes the frames of the unsealed pack @name that a dead writer left:
 * every whole frame whose checks pass, up to the first that does not (the
 * one it was appending when it died). Returns the number of entries, or -1
 * with @error. A pack with none is removed. */
static int
recover_pack (SutraStore *store, const char *name, GError **error)
{
  g_autofree char *packs = g_build_filename (store->dir, "packs", NULL);
  g_autofree char *path = g_build_filename (packs, name, NULL);
  g_autofree char *idx_path = index_path_for (packs, name);
  g_autoptr (GArray) entries = g_array_new (FALSE, FALSE, sizeof (IndexEntry));
  guint8 header[FRAME_HEADER];
  guint64 offset = 0;
  GStatBuf st;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0 || fstat (fd, &st) != 0)
    {
      io_error (error, path, "open");
      if (fd >= 0)
        close (fd);
      return -1;
    }
  while (read_all (fd, header, FRAME_HEADER, offset))
    {
      guint64 length;
      g_autofree guint8 *body = NULL;
      guint8 digest[FRAME_CHECKSUM_SIZE];
      IndexEntry entry;

      if (!parse_frame_header (header, &length) ||
          length > (guint64) st.st_size - offset - FRAME_HEADER)
        break;
      body = g_malloc (MAX (length, 1));
      if (!read_all (fd, body, length, offset + FRAME_HEADER))
        break;
      checksum (body, length, digest);
      if (memcmp (digest, header + 48, FRAME_CHECKSUM_SIZE) != 0)
        break;
      memcpy (entry.key, header + 8, SUTRA_DIGEST_SIZE);
      entry.offset = GUINT64_TO_LE (offset);
      entry.length = GUINT64_TO_LE (FRAME_HEADER + length);
      g_array_append_val (entries, entry);
      offset += FRAME_HEADER + length;
    }
  close (fd);
  if (entries->len == 0)
    {
      (void) g_unlink (path);
      return 0;
    }
  if (!g_file_set_contents_full (idx_path, entries->data, entries->len * sizeof (IndexEntry),
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0666, error))
    return -1;
  load_index (store, name, idx_path);
  return (int) entries->len;
}

static gboolean
is_writer_name (const char *name)
{
  return name[0] != '\0' && strlen (name) <= 40 &&
         strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") ==
           strlen (name);
}

gboolean
sutra_store_claim_writer (SutraStore *store, const char *name, guint *n_recovered, GError **error)
{
  g_autofree char *packs = g_build_filename (store->dir, "packs", NULL);
  g_autofree char *prefix = g_strconcat (name, ".", NULL);
  g_autoptr (GDir) listing = NULL;
  g_autoptr (GPtrArray) orphans = g_ptr_array_new_with_free_func (g_free);
  const char *entry;
  guint recovered = 0;

  g_return_val_if_fail (is_writer_name (name), FALSE);
  g_mutex_lock (&store->lock);
  g_assert (store->pack_fd < 0 && store->pack_number == 0);
  g_free (store->writer);
  store->writer = g_strdup_printf ("%s.%08x%08x", name, g_random_int (), g_random_int ());
  g_mutex_unlock (&store->lock);

  listing = g_dir_open (packs, 0, error);
  if (listing == NULL)
    return FALSE;
  while ((entry = g_dir_read_name (listing)) != NULL)
    if (g_str_has_prefix (entry, prefix) && g_str_has_suffix (entry, ".pack"))
      {
        g_autofree char *idx = index_path_for (packs, entry);

        if (!g_file_test (idx, G_FILE_TEST_EXISTS))
          g_ptr_array_add (orphans, g_strdup (entry));
      }
  g_ptr_array_sort (orphans, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < orphans->len; i++)
    {
      int n;

      g_mutex_lock (&store->lock);
      n = recover_pack (store, orphans->pdata[i], error);
      g_mutex_unlock (&store->lock);
      if (n < 0)
        return FALSE;
      recovered += n;
    }
  if (n_recovered != NULL)
    *n_recovered = recovered;
  return TRUE;
}

static gboolean
put_parts (SutraStore *store,
           const guint8 key[SUTRA_DIGEST_SIZE],
           const Part *parts,
           guint n_parts,
           SutraStoreLocation *location,
           GError **error)
{
  guint8 header[FRAME_HEADER];
  guint64 length = 0;
  gboolean ok = TRUE;

  for (guint i = 0; i < n_parts; i++)
    length += parts[i].file != NULL ? sutra_payload_file_get_size (parts[i].file) : parts[i].length;
  /* The checksum is computed outside the lock: workers hash in parallel. */
  if (!make_header (header, key, parts, n_parts, length))
    return io_error (error, "an item's payload file", "read");

  if (length >= SUTRA_STORE_LARGE_ENTRY)
    {
      g_autofree char *path = object_path (store, key);
      g_autofree char *dir = g_path_get_dirname (path);
      g_autofree char *tmp = g_strdup_printf ("%s.tmp-%s", path, store->writer);
      int fd;

      if (g_mkdir_with_parents (dir, 0777) != 0)
        return io_error (error, dir, "make");
      fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
      if (fd < 0)
        return io_error (error, tmp, "create");
      if (!write_frame (fd, header, parts, n_parts, 0) || fsync (fd) != 0)
        {
          ok = io_error (error, tmp, "write");
          close (fd);
          (void) g_unlink (tmp);
          return ok;
        }
      close (fd);
      if (g_rename (tmp, path) != 0)
        {
          ok = io_error (error, path, "rename into");
          (void) g_unlink (tmp);
          return ok;
        }
      g_mutex_lock (&store->lock);
      store->objects_dirty = TRUE;
      store->has_objects = TRUE;
      g_mutex_unlock (&store->lock);
      location->pack[0] = '\0';
      location->offset = 0;
      location->length = FRAME_HEADER + length;
      return TRUE;
    }

  g_mutex_lock (&store->lock);
  if (store->pack_fd >= 0 && store->pack_size + FRAME_HEADER + length > PACK_LIMIT)
    ok = seal_pack (store, error);
  if (ok && store->pack_fd < 0)
    ok = open_pack (store, error);
  if (ok)
    {
      guint64 offset = store->pack_size;

      if (!write_frame (store->pack_fd, header, parts, n_parts, offset))
        {
          g_autofree char *path = g_strdup_printf ("%s/packs/%s", store->dir, store->pack_name);

          ok = io_error (error, path, "append to");
          /* Whatever part of the frame reached the disk fails its checks
           * later; the next entry starts after it, at a fresh offset. */
          store->pack_size = (guint64) lseek (store->pack_fd, 0, SEEK_END);
        }
      else
        {
          IndexEntry entry;

          memcpy (entry.key, key, SUTRA_DIGEST_SIZE);
          entry.offset = offset;
          entry.length = FRAME_HEADER + length;
          g_array_append_val (store->pack_entries, entry);
          store->pack_size += FRAME_HEADER + length;
          store->pack_dirty = TRUE;
          g_strlcpy (location->pack, store->pack_name, sizeof location->pack);
          location->offset = offset;
          location->length = FRAME_HEADER + length;
        }
    }
  g_mutex_unlock (&store->lock);
  return ok;
}

gboolean
sutra_store_put (SutraStore *store,
                 const guint8 key[SUTRA_DIGEST_SIZE],
                 GBytes *body,
                 SutraStoreLocation *location,
                 GError **error)
{
  Part part = { 0 };

  part.data = g_bytes_get_data (body, &part.length);
  return put_parts (store, key, &part, 1, location, error);
}

gboolean
sutra_store_put_pieces (SutraStore *store,
                        const guint8 key[SUTRA_DIGEST_SIZE],
                        GPtrArray *pieces,
                        SutraStoreLocation *location,
                        GError **error)
{
  g_autofree Part *parts = g_new0 (Part, MAX (pieces->len, 1));
  guint n = 0;

  for (guint i = 0; i < pieces->len; i++)
    {
      const SutraStorePiece *piece = pieces->pdata[i];

      if (piece->file != NULL)
        {
          if (sutra_payload_file_get_size (piece->file) > 0)
            parts[n++].file = piece->file;
          continue;
        }
      parts[n].data = g_bytes_get_data (piece->bytes, &parts[n].length);
      if (parts[n].length > 0)
        n++;
    }
  return put_parts (store, key, parts, n, location, error);
}

SutraStorePiece *
sutra_store_piece_new_bytes (GBytes *bytes)
{
  SutraStorePiece *piece = g_new0 (SutraStorePiece, 1);

  piece->bytes = bytes;
  return piece;
}

SutraStorePiece *
sutra_store_piece_new_file (SutraPayloadFile *file)
{
  SutraStorePiece *piece = g_new0 (SutraStorePiece, 1);

  piece->file = file;
  return piece;
}

void
sutra_store_piece_free (SutraStorePiece *piece)
{
  if (piece == NULL)
    return;
  g_clear_pointer (&piece->bytes, g_bytes_unref);
  g_clear_pointer (&piece->file, sutra_payload_file_unref);
  g_free (piece);
}

static gboolean
sync_dir (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  gboolean ok = TRUE;

  if (fd < 0)
    return io_error (error, path, "open");
  if (fsync (fd) != 0)
    ok = io_error (error, path, "sync");
  close (fd);
  return ok;
}

gboolean
sutra_store_sync (SutraStore *store, GError **error)
{
  gboolean ok = TRUE;
  gboolean objects_dirty;

  int fd = -1;
  g_autofree char *pack_path = NULL;

  /* The sync runs outside the lock, on a duplicate of the descriptor (the
   * pack may be sealed and closed meanwhile): workers keep appending while
   * the disk catches up. Whatever they append after the dup is covered by
   * the next sync, before the journal rows that point at it. */
  g_mutex_lock (&store->lock);
  if (store->pack_fd >= 0 && store->pack_dirty)
    {
      fd = dup (store->pack_fd);
      pack_path = g_strdup_printf ("%s/packs/%s", store->dir, store->pack_name);
      store->pack_dirty = FALSE;
    }
  objects_dirty = store->objects_dirty;
  store->objects_dirty = FALSE;
  g_mutex_unlock (&store->lock);
  if (fd >= 0)
    {
      if (fdatasync (fd) != 0)
        {
          ok = io_error (error, pack_path, "sync");
          g_mutex_lock (&store->lock);
          store->pack_dirty = TRUE;
          g_mutex_unlock (&store->lock);
        }
      close (fd);
    }
  if (ok && objects_dirty)
    {
      /* The renames of large entries are durable once their directories
       * are synced; sync them all (there are at most 256). */
      g_autofree char *objects = g_build_filename (store->dir, "objects", NULL);
      g_autoptr (GDir) listing = g_dir_open (objects, 0, NULL);
      const char *name;

      while (ok && listing != NULL && (name = g_dir_read_name (listing)) != NULL)
        {
          g_autofree char *sub = g_build_filename (objects, name, NULL);
          ok = sync_dir (sub, error);
        }
    }
  return ok;
}

gboolean
sutra_store_seal (SutraStore *store, GError **error)
{
  gboolean ok;

  g_mutex_lock (&store->lock);
  ok = seal_pack (store, error);
  g_mutex_unlock (&store->lock);
  return ok;
}

static int
read_fd_for (SutraStore *store,
             const char *pack,
             const guint8 key[SUTRA_DIGEST_SIZE],
             gboolean *owned)
{
  g_autofree char *path = NULL;
  int fd;

  *owned = FALSE;
  if (pack[0] == '\0')
    {
      path = object_path (store, key);
      *owned = TRUE;
      return open (path, O_RDONLY | O_CLOEXEC);
    }
  g_mutex_lock (&store->lock);
  fd = GPOINTER_TO_INT (g_hash_table_lookup (store->read_fds, pack)) - 1;
  if (fd < 0)
    {
      path = g_strdup_printf ("%s/packs/%s", store->dir, pack);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd >= 0)
        g_hash_table_insert (store->read_fds, g_strdup (pack), GINT_TO_POINTER (fd + 1));
    }
  g_mutex_unlock (&store->lock);
  return fd;
}

/* Reads and checks the header of the entry at @location in @fd: its key,
 * and the body's length, which it gives in *@length. */
static gboolean
check_header (int fd,
              const guint8 key[SUTRA_DIGEST_SIZE],
              const SutraStoreLocation *location,
              const char *where,
              guint8 header[FRAME_HEADER],
              guint64 *length,
              GError **error)
{
  if (location->length < FRAME_HEADER || !read_all (fd, header, FRAME_HEADER, location->offset))
    {
      g_set_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_CORRUPT,
                   "store entry at %s:%" G_GUINT64_FORMAT " is truncated", where, location->offset);
      return FALSE;
    }
  if (!parse_frame_header (header, length) || memcmp (header + 8, key, SUTRA_DIGEST_SIZE) != 0 ||
      *length != location->length - FRAME_HEADER)
    {
      g_set_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_CORRUPT,
                   "store entry at %s:%" G_GUINT64_FORMAT " has a damaged header", where,
                   location->offset);
      return FALSE;
    }
  return TRUE;
}

static gboolean
checksum_failed (GError **error, const char *where, guint64 offset)
{
  g_set_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_CORRUPT,
               "store entry at %s:%" G_GUINT64_FORMAT " fails its checksum", where, offset);
  return FALSE;
}

GBytes *
sutra_store_get (SutraStore *store,
                 const guint8 key[SUTRA_DIGEST_SIZE],
                 const SutraStoreLocation *location,
                 GError **error)
{
  guint8 header[FRAME_HEADER];
  guint8 digest[FRAME_CHECKSUM_SIZE];
  guint64 length;
  gboolean owned;
  guint8 *body;
  int fd = read_fd_for (store, location->pack, key, &owned);
  const char *where = location->pack[0] != '\0' ? location->pack : "a large entry";

  if (fd < 0)
    {
      g_set_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_MISSING,
                   "store entry in %s is missing: %s", where, g_strerror (errno));
      return NULL;
    }
  if (!check_header (fd, key, location, where, header, &length, error))
    {
      if (owned)
        close (fd);
      return NULL;
    }
  body = g_malloc (MAX (length, 1));
  if (!read_all (fd, body, length, location->offset + FRAME_HEADER))
    {
      if (owned)
        close (fd);
      g_free (body);
      g_set_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_CORRUPT,
                   "store entry at %s:%" G_GUINT64_FORMAT " is truncated", where, location->offset);
      return NULL;
    }
  if (owned)
    close (fd);
  checksum (body, length, digest);
  if (memcmp (digest, header + 48, FRAME_CHECKSUM_SIZE) != 0)
    {
      g_free (body);
      checksum_failed (error, where, location->offset);
      return NULL;
    }
  return g_bytes_new_take (body, length);
}

typedef struct
{
  void *address;
  gsize length;
} Mapping;

static void
mapping_free (gpointer data)
{
  Mapping *mapping = data;

  munmap (mapping->address, mapping->length);
  g_free (mapping);
}

/* The window a mapped body is checked by: its pages are dropped after. */
#define MAPPED_CHECK_WINDOW (8u << 20)

GBytes *
sutra_store_get_body (SutraStore *store,
                      const guint8 key[SUTRA_DIGEST_SIZE],
                      const SutraStoreLocation *location,
                      int *file,
                      guint64 *body_offset,
                      GError **error)
{
  guint8 header[FRAME_HEADER];
  XXH128_canonical_t canonical;
  XXH3_state_t *state;
  g_autofree char *path = NULL;
  Mapping *mapping;
  guint64 length;
  guint8 *body;
  int fd;

  *file = -1;
  *body_offset = 0;
  if (location->pack[0] != '\0' || location->length <= FRAME_HEADER)
    return sutra_store_get (store, key, location, error);
  path = object_path (store, key);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      g_set_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_MISSING,
                   "store entry in a large entry is missing: %s", g_strerror (errno));
      return NULL;
    }
  if (!check_header (fd, key, location, "a large entry", header, &length, error))
    {
      close (fd);
      return NULL;
    }
  /* A file shorter than its header says would fault (SIGBUS) where the
   * mapping passes its end: checked before mapping. */
  {
    struct stat st;

    if (fstat (fd, &st) != 0 || (guint64) st.st_size < FRAME_HEADER + length)
      {
        close (fd);
        g_set_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_CORRUPT,
                     "store entry at a large entry:0 is truncated");
        return NULL;
      }
  }
  mapping = g_new (Mapping, 1);
  mapping->length = (gsize) (FRAME_HEADER + length);
  mapping->address = mmap (NULL, mapping->length, PROT_READ, MAP_SHARED, fd, 0);
  if (mapping->address == MAP_FAILED)
    {
      g_free (mapping);
      close (fd);
      return sutra_store_get (store, key, location, error);
    }
  body = (guint8 *) mapping->address + FRAME_HEADER;
  /* A window at a time, each dropped from this process once hashed: the
   * body stays in the page cache, not in the job's memory. */
  state = XXH3_createState ();
  XXH3_128bits_reset (state);
  for (guint64 done = 0, dropped = 0; done < length;)
    {
      gsize window = (gsize) MIN (length - done, (guint64) MAPPED_CHECK_WINDOW);
      gsize page = (gsize) sysconf (_SC_PAGESIZE);
      gsize hashed_to;

      XXH3_128bits_update (state, body + done, window);
      done += window;
      /* The whole pages hashed so far, from where the last drop ended. */
      hashed_to = done == length ? mapping->length : (FRAME_HEADER + done) / page * page;
      (void) madvise ((guint8 *) mapping->address + dropped, hashed_to - dropped, MADV_DONTNEED);
      dropped = hashed_to;
    }
  XXH128_canonicalFromHash (&canonical, XXH3_128bits_digest (state));
  XXH3_freeState (state);
  if (memcmp (canonical.digest, header + 48, FRAME_CHECKSUM_SIZE) != 0)
    {
      mapping_free (mapping);
      close (fd);
      checksum_failed (error, "a large entry", 0);
      return NULL;
    }
  *file = fd;
  *body_offset = FRAME_HEADER;
  return g_bytes_new_with_free_func (body, (gsize) length, mapping_free, mapping);
}

/* Large entries live in objects/, made with the first one (by this process
 * or another sharing the store). Until it exists there is nothing to look
 * for there, and looking costs a failed stat() per batch; whether it has
 * appeared is checked at most once a second. */
static gboolean
may_have_objects (SutraStore *store)
{
  gint64 now = g_get_monotonic_time ();
  gboolean has;

  g_mutex_lock (&store->lock);
  if (!store->has_objects && now - store->objects_checked_us >= G_USEC_PER_SEC)
    {
      g_autofree char *objects = g_build_filename (store->dir, "objects", NULL);

      store->has_objects = g_file_test (objects, G_FILE_TEST_IS_DIR);
      store->objects_checked_us = now;
    }
  has = store->has_objects;
  g_mutex_unlock (&store->lock);
  return has;
}

gboolean
sutra_store_lookup (SutraStore *store,
                    const guint8 key[SUTRA_DIGEST_SIZE],
                    SutraStoreLocation *location)
{
  g_autoptr (GBytes) lookup = g_bytes_new_static (key, SUTRA_DIGEST_SIZE);
  SutraStoreLocation *found = g_hash_table_lookup (store->sealed, lookup);
  g_autofree char *path = NULL;

  if (found != NULL)
    {
      *location = *found;
      return TRUE;
    }
  /* A large entry is visible as soon as it is renamed into place. */
  if (!may_have_objects (store))
    return FALSE;
  path = object_path (store, key);
  if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      GStatBuf st;

      if (g_stat (path, &st) == 0)
        {
          location->pack[0] = '\0';
          location->offset = 0;
          location->length = st.st_size;
          return TRUE;
        }
    }
  return FALSE;
}

void
sutra_store_close (SutraStore *store)
{
  GHashTableIter iter;
  gpointer value;

  if (store == NULL)
    return;
  g_mutex_lock (&store->lock);
  (void) seal_pack (store, NULL);
  g_mutex_unlock (&store->lock);
  g_hash_table_iter_init (&iter, store->read_fds);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    close (GPOINTER_TO_INT (value) - 1);
  g_hash_table_unref (store->read_fds);
  if (store->users_fd >= 0)
    close (store->users_fd);
  g_hash_table_unref (store->sealed);
  g_array_unref (store->pack_entries);
  g_mutex_clear (&store->lock);
  g_free (store->writer);
  g_free (store->dir);
  g_free (store);
}

/* Takes the store's "users" lock, shared (a job) or exclusive (gc): a job
 * writes entries before the journal that refers to them commits, so gc
 * must never run beside one. */
static gboolean
lock_users (SutraStore *store, int operation, GError **error)
{
  g_autofree char *path = g_build_filename (store->dir, "users", NULL);

  if (store->users_fd < 0)
    store->users_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (store->users_fd < 0)
    return io_error (error, path, "open");
  if (flock (store->users_fd, operation) != 0)
    {
      if (errno == EWOULDBLOCK)
        g_set_error (error, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_BUSY,
                     "the store “%s” is in use by a running job", store->dir);
      else
        io_error (error, path, "lock");
      return FALSE;
    }
  return TRUE;
}

gboolean
sutra_store_register_job (SutraStore *store, const char *job_dir, GError **error)
{
  g_autofree char *absolute = g_canonicalize_filename (job_dir, NULL);
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, absolute, -1);
  g_autofree char *path = g_strdup_printf ("%s/jobs/%.16s", store->dir, hash);

  g_autoptr (GError) busy = NULL;

  if (!lock_users (store, LOCK_SH | LOCK_NB, &busy))
    {
      if (!g_error_matches (busy, SUTRA_STORE_ERROR, SUTRA_STORE_ERROR_BUSY))
        {
          g_propagate_error (error, g_steal_pointer (&busy));
          return FALSE;
        }
      /* A gc is short: wait for it, then read the packs it left. */
      g_printerr ("sutra: waiting for “sutra gc” to finish with the store “%s”\n", store->dir);
      if (!lock_users (store, LOCK_SH, error))
        return FALSE;
      g_mutex_lock (&store->lock);
      load_indexes (store);
      g_mutex_unlock (&store->lock);
    }
  return g_file_set_contents (path, absolute, -1, error);
}

gboolean
sutra_store_exclude_jobs (SutraStore *store, GError **error)
{
  return lock_users (store, LOCK_EX | LOCK_NB, error);
}

GPtrArray *
sutra_store_list_jobs (SutraStore *store)
{
  g_autofree char *dir = g_build_filename (store->dir, "jobs", NULL);
  g_autoptr (GDir) listing = g_dir_open (dir, 0, NULL);
  GPtrArray *jobs = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      char *contents = NULL;

      if (g_file_get_contents (path, &contents, NULL, NULL))
        {
          if (g_file_test (contents, G_FILE_TEST_IS_DIR))
            g_ptr_array_add (jobs, contents);
          else
            {
              /* The job is gone: forget it. */
              (void) g_unlink (path);
              g_free (contents);
            }
        }
    }
  return jobs;
}

/* Does any frame of the pack at @path hold a referenced key? Scans the
 * frames themselves, so unsealed packs (a job killed mid-run) count too. */
static gboolean
pack_is_referenced (const char *path, GHashTable *referenced)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  guint64 offset = 0;
  guint8 header[FRAME_HEADER];
  gboolean found = FALSE;

  if (fd < 0)
    return FALSE;
  while (!found && read_all (fd, header, FRAME_HEADER, offset) &&
         memcmp (header, FRAME_MAGIC, 4) == 0)
    {
      g_autoptr (GBytes) key = g_bytes_new (header + 8, SUTRA_DIGEST_SIZE);
      guint64 length;

      memcpy (&length, header + 40, 8);
      found = g_hash_table_contains (referenced, key);
      offset += FRAME_HEADER + GUINT64_FROM_LE (length);
    }
  close (fd);
  return found;
}

static guint64
file_size (const char *path)
{
  GStatBuf st;

  return g_stat (path, &st) == 0 ? (guint64) st.st_size : 0;
}

guint64
sutra_store_gc (SutraStore *store, GHashTable *referenced, guint *n_files_removed, GError **error)
{
  g_autofree char *packs = g_build_filename (store->dir, "packs", NULL);
  g_autofree char *objects = g_build_filename (store->dir, "objects", NULL);
  g_autoptr (GDir) listing = g_dir_open (packs, 0, error);
  guint64 freed = 0;
  guint removed = 0;
  const char *name;

  if (listing == NULL)
    return 0;
  while ((name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (packs, name, NULL);
      g_autofree char *stem = NULL;
      g_autofree char *idx = NULL;

      if (!g_str_has_suffix (name, ".pack") || strcmp (name, store->pack_name) == 0)
        continue;
      if (pack_is_referenced (path, referenced))
        continue;
      stem = g_strndup (path, strlen (path) - 5);
      idx = g_strconcat (stem, ".idx", NULL);
      freed += file_size (path) + file_size (idx);
      if (g_unlink (path) == 0)
        removed++;
      if (g_file_test (idx, G_FILE_TEST_EXISTS) && g_unlink (idx) == 0)
        removed++;
    }
  {
    g_autoptr (GDir) prefixes = g_dir_open (objects, 0, NULL);
    const char *prefix;

    while (prefixes != NULL && (prefix = g_dir_read_name (prefixes)) != NULL)
      {
        g_autofree char *sub = g_build_filename (objects, prefix, NULL);
        g_autoptr (GDir) entries = g_dir_open (sub, 0, NULL);
        const char *entry;

        while (entries != NULL && (entry = g_dir_read_name (entries)) != NULL)
          {
            g_autofree char *path = g_build_filename (sub, entry, NULL);
            guint8 key[SUTRA_DIGEST_SIZE];
            g_autoptr (GBytes) lookup = NULL;
            gboolean valid = strlen (entry) == 64 + 6;

            for (guint i = 0; valid && i < SUTRA_DIGEST_SIZE; i++)
              {
                int hi = g_ascii_xdigit_value (entry[2 * i]);
                int lo = g_ascii_xdigit_value (entry[2 * i + 1]);

                valid = hi >= 0 && lo >= 0;
                key[i] = (guint8) (hi << 4 | lo);
              }
            if (valid)
              {
                lookup = g_bytes_new (key, SUTRA_DIGEST_SIZE);
                if (g_hash_table_contains (referenced, lookup))
                  continue;
              }
            freed += file_size (path);
            if (g_unlink (path) == 0)
              removed++;
          }
      }
  }
  if (n_files_removed != NULL)
    *n_files_removed = removed;
  return freed;
}
