/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dhātu kernel on the CPU.
 *
 * The nine messages of a text are head || text with heads of three lengths
 * (6, 7 and 8 bytes: "EVAL::", "MODAL::", "RELATE::"). Messages whose heads
 * have the same length are the same bytes after their first eight, padding
 * and length included: so the text is copied once, per head length the
 * padding is written once (the head's place overwritten per dhātu), and
 * every block after the first
 * is scheduled once and its rounds run for each dhātu of the group. With
 * SHA-NI the group's hashes are also interleaved, so that the latency of
 * one stream's sha256rnds2 is hidden behind the others'. */

#include "dhatu-cpu.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define DHATU_HAVE_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* The dhātus of each head-length group, in the spec's indices. */
#define N_GROUPS 3
static const int group_head_lengths[N_GROUPS] = { 6, 7, 8 };
static const int group_sizes[N_GROUPS] = { 4, 3, 2 };
static const int group_members[N_GROUPS][4] = { { 3, 4, 6, 8 }, { 1, 2, 5, -1 }, { 0, 7, -1, -1 } };

struct _DhatuCpu
{
  gboolean shani;
  guint8 *buffer; /* one padded message per group, each `capacity` bytes */
  gsize capacity;
};

DhatuCpu *
dhatu_cpu_new (void)
{
  DhatuCpu *cpu = g_new0 (DhatuCpu, 1);
  const char *off = g_getenv ("SUTRA_DHATU_NO_SHANI");

#ifdef DHATU_HAVE_X86
  {
    /* cpuid, not __builtin_cpu_supports ("sha"), which clang does not know:
     * leaf 7 EBX bit 29 is SHA, leaf 1 ECX bit 19 SSE4.1. */
    unsigned int eax, ebx, ecx, edx;
    gboolean sha = __get_cpuid_count (7, 0, &eax, &ebx, &ecx, &edx) && (ebx & (1u << 29)) != 0;
    gboolean sse41 = __get_cpuid (1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 19)) != 0;

    cpu->shani = sha && sse41;
  }
#endif
  if (off != NULL && strcmp (off, "1") == 0)
    cpu->shani = FALSE;
  return cpu;
}

void
dhatu_cpu_free (DhatuCpu *cpu)
{
  if (cpu == NULL)
    return;
  g_free (cpu->buffer);
  g_free (cpu);
}

gboolean
dhatu_cpu_uses_shani (const DhatuCpu *cpu)
{
  return cpu->shani;
}

/* The buffer holds the text once, at offset 8: the message of a group with
 * head length h starts at 8 - h, so that one copy of the text serves the
 * three groups; only the padding after the text, which differs, is
 * rewritten per group (the groups are hashed one after the other). */
#define TEXT_OFFSET 8

/* Pads the message at @message (head of @head_len, then @length bytes of
 * text already in place); returns its block count. */
static gsize
pad_message (guint8 *message, int head_len, gsize length)
{
  guint64 msg_len = head_len + length;
  gsize padded = (msg_len + 72) & ~(guint64) 63;
  guint64 bits = msg_len * 8;

  message[msg_len] = 0x80;
  memset (message + msg_len + 1, 0, padded - 8 - (msg_len + 1));
  for (int i = 0; i < 8; i++)
    message[padded - 1 - i] = (guint8) (bits >> (8 * i));
  return padded / 64;
}

static void
ensure_capacity (DhatuCpu *cpu, gsize length)
{
  gsize need = TEXT_OFFSET + length + 72;

  if (need <= cpu->capacity)
    return;
  cpu->capacity = MAX (need, cpu->capacity * 2);
  g_free (cpu->buffer);
  cpu->buffer = g_malloc (cpu->capacity);
}

/* Portable: the group's block 0 per dhātu, its later blocks scheduled once. */
static void
group_portable (guint8 *message, int g, gsize n_blocks, float *w)
{
  dhatu_u32 states[4][8];
  dhatu_u32 schedule[64];
  int k = group_sizes[g];

  for (int s = 0; s < k; s++)
    {
      int d = group_members[g][s];

      memcpy (message, dhatu_heads[d], group_head_lengths[g]);
      memcpy (states[s], dhatu_sha256_init, sizeof states[s]);
      dhatu_sha256_schedule (message, schedule);
      dhatu_sha256_rounds (states[s], schedule);
    }
  for (gsize b = 1; b < n_blocks; b++)
    {
      dhatu_sha256_schedule (message + 64 * b, schedule);
      for (int s = 0; s < k; s++)
        dhatu_sha256_rounds (states[s], schedule);
    }
  for (int s = 0; s < k; s++)
    w[group_members[g][s]] = dhatu_weight (states[s]);
}

#ifdef DHATU_HAVE_X86
#define SHANI __attribute__ ((target ("sha,sse4.1")))
#define SHANI_INLINE __attribute__ ((target ("sha,sse4.1"), always_inline)) static inline

/* Block bytes as four big-endian words per vector; the schedule's 16
 * vectors (W[4i..4i+3]) from sha256msg1/msg2. */
SHANI_INLINE void
schedule_ni (const guint8 *block, __m128i w[16])
{
  const __m128i swap = _mm_set_epi64x (0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);

#pragma GCC unroll 16

  for (int i = 0; i < 4; i++)
    w[i] = _mm_shuffle_epi8 (_mm_loadu_si128 ((const __m128i *) (block + 16 * i)), swap);
#pragma GCC unroll 16
  for (int i = 4; i < 16; i++)
    {
      __m128i t = _mm_sha256msg1_epu32 (w[i - 4], w[i - 3]);

      t = _mm_add_epi32 (t, _mm_alignr_epi8 (w[i - 1], w[i - 2], 4));
      w[i] = _mm_sha256msg2_epu32 (t, w[i - 1]);
    }
}

/* The rounds of one block for @k streams at once (k is a constant after
 * inlining, so the loops unroll and the states stay in registers). */
SHANI_INLINE void
rounds_ni (__m128i *abef, __m128i *cdgh, const __m128i *const *w, int k)
{
  __m128i abef_save[4], cdgh_save[4];

#pragma GCC unroll 16

  for (int s = 0; s < k; s++)
    {
      abef_save[s] = abef[s];
      cdgh_save[s] = cdgh[s];
    }
#pragma GCC unroll 16
  for (int i = 0; i < 16; i++)
    {
      const __m128i kv = _mm_loadu_si128 ((const __m128i *) (dhatu_sha256_k + 4 * i));

#pragma GCC unroll 16

      for (int s = 0; s < k; s++)
        {
          __m128i msg = _mm_add_epi32 (w[s][i], kv);

          cdgh[s] = _mm_sha256rnds2_epu32 (cdgh[s], abef[s], msg);
          abef[s] = _mm_sha256rnds2_epu32 (abef[s], cdgh[s], _mm_shuffle_epi32 (msg, 0x0e));
        }
    }
#pragma GCC unroll 16
  for (int s = 0; s < k; s++)
    {
      abef[s] = _mm_add_epi32 (abef[s], abef_save[s]);
      cdgh[s] = _mm_add_epi32 (cdgh[s], cdgh_save[s]);
    }
}

/* w_d from the ABEF/CDGH form: the bytes step 2 reads are in A, B, D, F, H. */
SHANI_INLINE float
weight_ni (__m128i abef, __m128i cdgh)
{
  dhatu_u32 state[8];
  dhatu_u32 x[4], y[4];

  _mm_storeu_si128 ((__m128i *) x, abef); /* lanes: F E B A */
  _mm_storeu_si128 ((__m128i *) y, cdgh); /* lanes: H G D C */
  state[0] = x[3];
  state[1] = x[2];
  state[2] = y[3];
  state[3] = y[2];
  state[4] = x[1];
  state[5] = x[0];
  state[6] = y[1];
  state[7] = y[0];
  return dhatu_weight (state);
}

SHANI_INLINE void
group_ni_k (guint8 *message, int g, gsize n_blocks, float *w, int k)
{
  __m128i abef[4], cdgh[4];
  __m128i first[4][16], tail[16];
  const __m128i *ws[4];
  /* The initial state in ABEF/CDGH order (lane 0 first). */
  const __m128i abef0 =
    _mm_set_epi32 ((int) 0x6a09e667, (int) 0xbb67ae85, (int) 0x510e527f, (int) 0x9b05688c);
  const __m128i cdgh0 =
    _mm_set_epi32 ((int) 0x3c6ef372, (int) 0xa54ff53a, (int) 0x1f83d9ab, (int) 0x5be0cd19);

#pragma GCC unroll 16

  for (int s = 0; s < k; s++)
    {
      memcpy (message, dhatu_heads[group_members[g][s]], group_head_lengths[g]);
      schedule_ni (message, first[s]);
      abef[s] = abef0;
      cdgh[s] = cdgh0;
      ws[s] = first[s];
    }
  rounds_ni (abef, cdgh, ws, k);
  for (gsize b = 1; b < n_blocks; b++)
    {
      schedule_ni (message + 64 * b, tail);
#pragma GCC unroll 16
      for (int s = 0; s < k; s++)
        ws[s] = tail;
      rounds_ni (abef, cdgh, ws, k);
    }
#pragma GCC unroll 16
  for (int s = 0; s < k; s++)
    w[group_members[g][s]] = weight_ni (abef[s], cdgh[s]);
}

SHANI static void
text_ni (guint8 *buffer, gsize length, float *w)
{
  guint8 *message;

  message = buffer + TEXT_OFFSET - 6;
  group_ni_k (message, 0, pad_message (message, 6, length), w, 4);
  message = buffer + TEXT_OFFSET - 7;
  group_ni_k (message, 1, pad_message (message, 7, length), w, 3);
  message = buffer + TEXT_OFFSET - 8;
  group_ni_k (message, 2, pad_message (message, 8, length), w, 2);
}
#endif

void
dhatu_cpu_run (DhatuCpu *cpu,
               const guint8 *const *texts,
               const gsize *lengths,
               gsize n,
               DhatuResult *out)
{
  for (gsize i = 0; i < n; i++)
    {
      float w[DHATU_N_DHATUS];

      /* The next text is read while this one is hashed: the copy below is
       * each text's first touch, a cache miss on a large batch. */
      if (i + 1 < n)
        {
          __builtin_prefetch (texts[i + 1]);
          __builtin_prefetch (texts[i + 1] + 64);
        }
      ensure_capacity (cpu, lengths[i]);
      memcpy (cpu->buffer + TEXT_OFFSET, texts[i], lengths[i]);
#ifdef DHATU_HAVE_X86
      if (cpu->shani)
        text_ni (cpu->buffer, lengths[i], w);
      else
#endif
        for (int g = 0; g < N_GROUPS; g++)
          {
            int h = group_head_lengths[g];
            guint8 *message = cpu->buffer + TEXT_OFFSET - h;

            group_portable (message, g, pad_message (message, h, lengths[i]), w);
          }
      dhatu_finish (w, &out[i]);
    }
}
