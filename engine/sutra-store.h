/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraStore: content-addressed stage outputs, packed or one file each. */

#pragma once

#include <gio/gio.h>

#include "sutra-lineage.h"
#include "sutra-payload-file.h"

G_BEGIN_DECLS

#define SUTRA_STORE_ERROR (sutra_store_error_quark ())
GQuark sutra_store_error_quark (void);

typedef enum
{
  SUTRA_STORE_ERROR_IO,      /* reading or writing failed (disk full ...) */
  SUTRA_STORE_ERROR_CORRUPT, /* an entry fails its checks: recompute it */
  SUTRA_STORE_ERROR_MISSING, /* no entry at that place */
  SUTRA_STORE_ERROR_FORMAT,  /* a store of another format */
  SUTRA_STORE_ERROR_BUSY,    /* a job uses the store now (gc) */
} SutraStoreError;

/* Where an entry lies: in a pack at an offset, or (pack "") in a file of
 * its own named by its key. */
typedef struct
{
  char pack[64];
  guint64 offset;
  guint64 length;
} SutraStoreLocation;

typedef struct _SutraStore SutraStore;

/* Opens (making it if needed) the store in @dir. Several processes may
 * share one store: each appends to packs of its own, and other writers'
 * entries become visible once their packs are sealed (an index written). */
SutraStore *sutra_store_open (const char *dir, GError **error);

/* Names the packs this process writes NAME.RANDOM-N instead of RANDOM-N
 * (call it before the first put), and seals the packs an earlier writer
 * of the same @name left unsealed: it died (killed, its node lost), and
 * its entries, whole frames up to the first torn one, become visible to
 * every process sharing the store. Shard K of N of a job is such a
 * writer: re-run after it died, it claims its own packs back, and the
 * gather finds what it finished. Two live writers must never share a
 * name. @name: letters, digits, '-' and '_', at most 40. @n_recovered
 * (nullable) gets the entries recovered. */
gboolean sutra_store_claim_writer (SutraStore *store,
                                   const char *name,
                                   guint *n_recovered,
                                   GError **error);

/* Seals the pack being written and closes the store. */
void sutra_store_close (SutraStore *store);

/* Entries of at least this many bytes get a file of their own. */
#define SUTRA_STORE_LARGE_ENTRY (4u << 20)

/* Adds an entry (thread-safe). It is durable only after sutra_store_sync();
 * the journal commits a location only after that. */
gboolean sutra_store_put (SutraStore *store,
                          const guint8 key[SUTRA_DIGEST_SIZE],
                          GBytes *body,
                          SutraStoreLocation *location,
                          GError **error);

/* One piece of an entry's body: @bytes, or a whole payload @file. */
typedef struct
{
  GBytes *bytes;
  SutraPayloadFile *file;
} SutraStorePiece;

/* Take @bytes or @file (transfer full). */
SutraStorePiece *sutra_store_piece_new_bytes (GBytes *bytes);
SutraStorePiece *sutra_store_piece_new_file (SutraPayloadFile *file);
void sutra_store_piece_free (SutraStorePiece *piece);

/* The same, with the body in @pieces (SutraStorePiece), written one after
 * the other: what sutra_record_encode_pieces() makes, so that a large
 * payload reaches the disk without a copy of the whole body, and a payload
 * file without ever being in memory (it is hashed and copied a block at a
 * time). */
gboolean sutra_store_put_pieces (SutraStore *store,
                                 const guint8 key[SUTRA_DIGEST_SIZE],
                                 GPtrArray *pieces,
                                 SutraStoreLocation *location,
                                 GError **error);

/* Seals the pack being written now (the next put starts another): its
 * entries become visible to the other processes sharing the store. */
gboolean sutra_store_seal (SutraStore *store, GError **error);

/* Makes every entry put so far durable (fsync of packs and directories). */
gboolean sutra_store_sync (SutraStore *store, GError **error);

/* Reads the entry at @location and checks its key and its SHA-256.
 * Returns: (transfer full): the body, or NULL with @error set
 * (SUTRA_STORE_ERROR_CORRUPT for a damaged or truncated entry). */
GBytes *sutra_store_get (SutraStore *store,
                         const guint8 key[SUTRA_DIGEST_SIZE],
                         const SutraStoreLocation *location,
                         GError **error);

/* The same for the checkpoint, whose records may hold a chapter of audio:
 * an entry of its own (a large one) is mapped rather than read, and
 * checked a window at a time, each window's pages dropped after, so the
 * body stays in the page cache and out of the job's memory. *@file then
 * gets a descriptor of the entry's file (the caller closes it) and
 * *@body_offset where the body starts in it, for
 * sutra_record_decode_in_file(); a packed entry is read as by
 * sutra_store_get(), with *@file -1. */
GBytes *sutra_store_get_body (SutraStore *store,
                              const guint8 key[SUTRA_DIGEST_SIZE],
                              const SutraStoreLocation *location,
                              int *file,
                              guint64 *body_offset,
                              GError **error);

/* Finds an entry that another job sealed into this store (cache-first). */
gboolean sutra_store_lookup (SutraStore *store,
                             const guint8 key[SUTRA_DIGEST_SIZE],
                             SutraStoreLocation *location);

/* Records that the job in @job_dir uses this store, for gc, and keeps gc
 * away while the store stays open (waiting for a gc in progress). */
gboolean sutra_store_register_job (SutraStore *store, const char *job_dir, GError **error);

/* Keeps jobs away from the store while it stays open, for gc: fails with
 * SUTRA_STORE_ERROR_BUSY while a job uses it. */
gboolean sutra_store_exclude_jobs (SutraStore *store, GError **error);

/* Returns: (transfer full): the job directories registered in this store. */
GPtrArray *sutra_store_list_jobs (SutraStore *store);

/* Deletes packs and files holding no entry in @referenced (a set of
 * 32-byte keys as GBytes). Returns the bytes freed. */
guint64 sutra_store_gc (SutraStore *store,
                        GHashTable *referenced,
                        guint *n_files_removed,
                        GError **error);

G_END_DECLS
