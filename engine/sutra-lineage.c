/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Lineage digests: SHA-256 through OpenSSL (SHA-NI where the CPU has it). */

#include "sutra-lineage.h"

#include <openssl/sha.h>
#include <string.h>

G_STATIC_ASSERT (sizeof (SutraLineage) <= 64);

SutraLineage *
sutra_lineage_new (const guint8 digest[SUTRA_DIGEST_SIZE])
{
  /* A cache line of its own: every thread reads a run's lineages for each
   * item, and must not miss because a neighbour on the line was written. */
  SutraLineage *lineage = g_aligned_alloc (1, 64, 64);

  lineage->ref_count = 1;
  lineage->pinned = FALSE;
  memcpy (lineage->digest, digest, SUTRA_DIGEST_SIZE);
  return lineage;
}

SutraLineage *
sutra_lineage_ref (SutraLineage *lineage)
{
  g_return_val_if_fail (lineage != NULL, NULL);
  if (!lineage->pinned)
    g_atomic_int_inc (&lineage->ref_count);
  return lineage;
}

void
sutra_lineage_unref (SutraLineage *lineage)
{
  if (lineage != NULL && !lineage->pinned && g_atomic_int_dec_and_test (&lineage->ref_count))
    g_aligned_free (lineage);
}

void
sutra_lineage_pin (SutraLineage *lineage)
{
  lineage->pinned = TRUE;
}

void
sutra_lineage_free_pinned (SutraLineage *lineage)
{
  g_return_if_fail (lineage == NULL || lineage->pinned);
  g_aligned_free (lineage);
}

SutraLineage *
sutra_lineage_derive (const SutraLineage *input, const guint8 fingerprint[SUTRA_DIGEST_SIZE])
{
  guint8 buffer[2 * SUTRA_DIGEST_SIZE];
  guint8 digest[SUTRA_DIGEST_SIZE];

  memcpy (buffer, fingerprint, SUTRA_DIGEST_SIZE);
  if (input != NULL)
    memcpy (buffer + SUTRA_DIGEST_SIZE, input->digest, SUTRA_DIGEST_SIZE);
  else
    memset (buffer + SUTRA_DIGEST_SIZE, 0, SUTRA_DIGEST_SIZE);
  SHA256 (buffer, sizeof buffer, digest);
  return sutra_lineage_new (digest);
}

void
sutra_digest_to_hex (const guint8 digest[SUTRA_DIGEST_SIZE], char hex[65])
{
  static const char digits[] = "0123456789abcdef";

  for (guint i = 0; i < SUTRA_DIGEST_SIZE; i++)
    {
      hex[2 * i] = digits[digest[i] >> 4];
      hex[2 * i + 1] = digits[digest[i] & 0xf];
    }
  hex[64] = '\0';
}

guint
sutra_lineage_hash (gconstpointer key)
{
  guint value;

  memcpy (&value, ((const SutraLineage *) key)->digest, sizeof value);
  return value;
}

gboolean
sutra_lineage_equal (gconstpointer a, gconstpointer b)
{
  return a == b || memcmp (((const SutraLineage *) a)->digest, ((const SutraLineage *) b)->digest,
                           SUTRA_DIGEST_SIZE) == 0;
}

guint
sutra_digest_bytes_hash (gconstpointer digest_bytes)
{
  guint value;

  /* A digest's bytes are uniformly distributed: any four will do. */
  memcpy (&value, g_bytes_get_data ((GBytes *) digest_bytes, NULL), sizeof value);
  return value;
}
