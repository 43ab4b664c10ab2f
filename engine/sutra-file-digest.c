/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The content digest of an input file, hashed in parallel. */

#include "sutra-file-digest.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <openssl/sha.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Why chunks: a checkpointed job hashes its inputs before it starts, and
 * SHA-256 (about 1.7 GB/s with SHA-NI) made that the largest single cost of
 * checkpointing a cheap pipeline. Hashing chunks on every core and then
 * hashing their digests divides it by the number of cores. */

typedef struct
{
  const guint8 *data;
  gsize length;
  guint n_chunks;
  guint8 (*digests)[SHA256_DIGEST_LENGTH];
  guint next; /* the next chunk to take, atomically */
} Work;

static gpointer
hash_chunks (gpointer data)
{
  Work *work = data;
  guint chunk;

  while ((chunk = (guint) g_atomic_int_add ((gint *) &work->next, 1)) < work->n_chunks)
    {
      gsize offset = (gsize) chunk * SUTRA_FILE_DIGEST_CHUNK;

      SHA256 (work->data + offset, MIN (SUTRA_FILE_DIGEST_CHUNK, work->length - offset),
              work->digests[chunk]);
    }
  return NULL;
}

/* The chunk digests of what @fd reads, one chunk at a time: for what cannot
 * be mapped. */
static gboolean
hash_chunks_by_reading (int fd, GArray *digests, guint64 *size)
{
  g_autofree guint8 *buffer = g_malloc (SUTRA_FILE_DIGEST_CHUNK);

  *size = 0;
  for (;;)
    {
      gsize filled = 0;
      guint8 digest[SHA256_DIGEST_LENGTH];

      while (filled < SUTRA_FILE_DIGEST_CHUNK)
        {
          ssize_t n = read (fd, buffer + filled, SUTRA_FILE_DIGEST_CHUNK - filled);

          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            return FALSE;
          if (n == 0)
            break;
          filled += n;
        }
      if (filled == 0)
        return TRUE;
      SHA256 (buffer, filled, digest);
      g_array_append_vals (digests, digest, 1);
      *size += filled;
      if (filled < SUTRA_FILE_DIGEST_CHUNK)
        return TRUE;
    }
}

gboolean
sutra_file_digest (const char *path, guint n_threads, guint8 digest[32], GError **error)
{
  g_autoptr (GArray) digests = g_array_new (FALSE, FALSE, SHA256_DIGEST_LENGTH);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  struct stat info;
  guint64 size = 0;
  void *map = MAP_FAILED;
  guint64 le_size;

  if (fd < 0 || fstat (fd, &info) != 0)
    goto failed;
  if (S_ISREG (info.st_mode) && info.st_size > 0)
    map = mmap (NULL, info.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map != MAP_FAILED)
    {
      Work work = { map, info.st_size, 0, NULL, 0 };
      g_autoptr (GPtrArray) threads = g_ptr_array_new ();

      size = info.st_size;
      work.n_chunks = (size + SUTRA_FILE_DIGEST_CHUNK - 1) / SUTRA_FILE_DIGEST_CHUNK;
      g_array_set_size (digests, work.n_chunks);
      work.digests = (guint8 (*)[SHA256_DIGEST_LENGTH]) digests->data;
      madvise (map, size, MADV_SEQUENTIAL | MADV_WILLNEED);
      if (n_threads == 0)
        n_threads = g_get_num_processors ();
      /* This thread hashes too: one thread fewer to start. */
      for (guint t = 1; t < MIN (n_threads, work.n_chunks); t++)
        {
          GThread *thread = g_thread_try_new ("sutra-digest", hash_chunks, &work, NULL);

          if (thread != NULL)
            g_ptr_array_add (threads, thread);
        }
      hash_chunks (&work);
      for (guint t = 0; t < threads->len; t++)
        g_thread_join (threads->pdata[t]);
      munmap (map, size);
    }
  else if (!hash_chunks_by_reading (fd, digests, &size))
    goto failed;
  close (fd);

  le_size = GUINT64_TO_LE (size);
  {
    gsize n = (gsize) digests->len * SHA256_DIGEST_LENGTH;
    g_autofree guint8 *text = g_malloc (sizeof le_size + n);

    memcpy (text, &le_size, sizeof le_size);
    memcpy (text + sizeof le_size, digests->data, n);
    SHA256 (text, sizeof le_size + n, digest);
  }
  return TRUE;

failed:
  {
    int saved = errno;

    if (fd >= 0)
      close (fd);
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot read “%s”: %s", path,
                 g_strerror (saved));
    return FALSE;
  }
}
