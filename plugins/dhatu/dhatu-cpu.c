/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dhātu kernel on the CPU.
 *
 * The nine messages of a text are head || text with heads of three lengths
 * (6, 7 and 8 bytes: "EVAL::", "MODAL::", "RELATE::"). Messages whose heads
 * have the same length are the same bytes after their first eight, padding
 * and length included; and no two share a whole first block, so no state
 * after a common prefix can be precomputed. So: the text is copied once,
 * each later block is scheduled once per head length and its rounds run
 * for each dhātu of the group, and only the nine first blocks are
 * scheduled one by one. With SHA-NI, whose sha256rnds2 has a latency of
 * twice its throughput, the nine hashes run as streams three at a time
 * (interleaved, so one's latency is hidden behind the others'), with the
 * next schedules computed meanwhile; steps 3 to 5 run eight texts at a
 * time, vectorised. */

#include "dhatu-cpu.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define DHATU_HAVE_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* The dhātus of each head-length group, in the spec's indices. */
#define N_GROUPS 3
static const int group_head_lengths[N_GROUPS] = { 8, 7, 6 };
static const int group_sizes[N_GROUPS] = { 2, 3, 4 };
static const int group_members[N_GROUPS][4] = { { 0, 7, -1, -1 }, { 1, 2, 5, -1 }, { 3, 4, 6, 8 } };

struct _DhatuCpu
{
  gboolean shani;
  gboolean avx2; /* steps 3 to 5 eight texts at a time in AVX2 */
  /* The text, at TEXT_OFFSET, and its padding. Two, for SHA-NI: the
   * next text is copied into one while the text in the other is hashed.
   * Its loads span the copy's stores, so cannot take their bytes from
   * them, and wait for them to reach the cache; stores reach it in
   * program order, so right after a copy that is once the previous
   * text's hashing has all completed, and the SHA unit would idle while
   * the first schedules are computed. */
  guint8 *buffers[2];
  gsize capacities[2];
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
    cpu->avx2 = __builtin_cpu_supports ("avx2");
  }
#endif
  if (off != NULL && strcmp (off, "1") == 0)
    cpu->shani = cpu->avx2 = FALSE;
  return cpu;
}

void
dhatu_cpu_free (DhatuCpu *cpu)
{
  if (cpu == NULL)
    return;
  g_free (cpu->buffers[0]);
  g_free (cpu->buffers[1]);
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
/* Bytes after the text that the messages' padding reaches (at most 72
 * for the 8-byte head, whose message starts at 0; 8 more for the 6-byte
 * head's, which starts at 2: 80 in all). */
#define SHARED_TAIL 80

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

/* Buffer @which, with room for a text of @length bytes. */
static guint8 *
ensure_capacity (DhatuCpu *cpu, int which, gsize length)
{
  gsize need = TEXT_OFFSET + length + SHARED_TAIL;

  if (need > cpu->capacities[which])
    {
      cpu->capacities[which] = MAX (need, cpu->capacities[which] * 2);
      g_free (cpu->buffers[which]);
      /* Zeroed: the head's place is masked, never used, but read. */
      cpu->buffers[which] = g_malloc0 (cpu->capacities[which]);
    }
  return cpu->buffers[which];
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

/* The nine hashes as streams, the groups of longer heads first: a message
 * with a longer head has as many blocks as one with a shorter head, or one
 * more, so the streams still running at any block are a prefix (2, 5 or 9
 * of them). */
static const int stream_dhatu[DHATU_N_DHATUS] = { 0, 7, 1, 2, 5, 3, 4, 6, 8 };
static const int stream_group[DHATU_N_DHATUS] = { 0, 0, 1, 1, 1, 2, 2, 2, 2 };

/* 16 bytes 0xff then 16 zeros: at 16 - h, a mask of a head's h bytes. */
static const guint8 head_masks[32] = {
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/* Big-endian words from a block's bytes, four per vector. */
SHANI_INLINE __m128i
load_be (const guint8 *bytes)
{
  const __m128i swap = _mm_set_epi64x (0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);

  return _mm_shuffle_epi8 (_mm_loadu_si128 ((const __m128i *) bytes), swap);
}

/* One step (@i, 4 to 15) of a block's schedule: W[4i..4i+3] from the
 * 16 words before them. */
SHANI_INLINE void
expand_step_ni (__m128i *w, int i)
{
  __m128i t = _mm_sha256msg1_epu32 (w[i - 4], w[i - 3]);

  t = _mm_add_epi32 (t, _mm_alignr_epi8 (w[i - 1], w[i - 2], 4));
  w[i] = _mm_sha256msg2_epu32 (t, w[i - 1]);
}

/* The schedules of @k blocks whose first 16 words are in w[s][0..3]:
 * the rest of each, W[16..63]. The blocks are expanded side by side, so
 * that each step's wait on sha256msg2's latency is filled by the others'. */
SHANI_INLINE void
expand_ni (__m128i (*w)[16], int k)
{
#pragma GCC unroll 16
  for (int i = 4; i < 16; i++)
#pragma GCC unroll 16
    for (int s = 0; s < k; s++)
      expand_step_ni (w[s], i);
}

/* The rounds of one block for @k streams at once, each with its own
 * schedule (k is a constant after inlining, so the loops unroll and the
 * states stay in registers), and meanwhile the schedules of @k_next
 * blocks to come (@next, as expand_ni () does): the rounds keep the SHA
 * unit busy, and the schedule's steps, on other ports, fit in between. */
SHANI_INLINE void
rounds_ni (__m128i *abef,
           __m128i *cdgh,
           const __m128i *const *w,
           int k,
           __m128i (*next)[16],
           int k_next)
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
      if (i < 12)
#pragma GCC unroll 16
        for (int t = 0; t < k_next; t++)
          expand_step_ni (next[t], i + 4);
    }
#pragma GCC unroll 16
  for (int s = 0; s < k; s++)
    {
      abef[s] = _mm_add_epi32 (abef[s], abef_save[s]);
      cdgh[s] = _mm_add_epi32 (cdgh[s], cdgh_save[s]);
    }
}

/* The first @count streams through one block, three at a time. */
SHANI_INLINE void
block_streams_ni (__m128i *abef, __m128i *cdgh, const __m128i *const *w, int count)
{
  int s = 0;

  for (; s + 3 <= count; s += 3)
    rounds_ni (abef + s, cdgh + s, w + s, 3, NULL, 0);
  if (count - s == 2)
    rounds_ni (abef + s, cdgh + s, w + s, 2, NULL, 0);
  else if (count - s == 1)
    rounds_ni (abef + s, cdgh + s, w + s, 1, NULL, 0);
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

/* The first 16 words of block @b of the message with head length @h (its
 * head's place unset in block 0): the message's length in bits, which the
 * buffer does not hold, goes into the last block's last two words. */
SHANI_INLINE void
load_block_ni (const guint8 *buffer, gsize length, int h, gsize b, gsize n_blocks, __m128i *w)
{
  const guint8 *block = buffer + TEXT_OFFSET - h + 64 * b;

  w[0] = load_be (block);
  w[1] = load_be (block + 16);
  w[2] = load_be (block + 32);
  w[3] = load_be (block + 48);
  if (b == n_blocks - 1)
    {
      guint64 bits = (guint64) (h + length) * 8;

      w[3] = _mm_insert_epi32 (w[3], (int) (bits >> 32), 2);
      w[3] = _mm_insert_epi32 (w[3], (int) bits, 3);
    }
}

/* The nine hashes of the text at TEXT_OFFSET of @buffer, which
 * dhatu_cpu_run () has padded. Block by block: the nine first blocks
 * (which differ by their heads), then each later block scheduled once per
 * head length and its rounds run for the group's streams; three streams'
 * rounds at a time, with the next three's schedules computed meanwhile. */
SHANI static void
text_ni (const guint8 *buffer, gsize length, float *w)
{
  __m128i abef[DHATU_N_DHATUS], cdgh[DHATU_N_DHATUS];
  __m128i first[DHATU_N_DHATUS][16], later[N_GROUPS][16];
  const __m128i *ws[DHATU_N_DHATUS];
  gsize n_blocks[N_GROUPS];
  int groups_later = 0, running = 0;
  const __m128i abef0 =
    _mm_set_epi32 ((int) 0x6a09e667, (int) 0xbb67ae85, (int) 0x510e527f, (int) 0x9b05688c);
  const __m128i cdgh0 =
    _mm_set_epi32 ((int) 0x3c6ef372, (int) 0xa54ff53a, (int) 0x1f83d9ab, (int) 0x5be0cd19);
  const __m128i swap = _mm_set_epi64x (0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);

  for (int g = 0; g < N_GROUPS; g++)
    {
      int h = group_head_lengths[g];
      __m128i block[4];
      /* The message's first 16 bytes as they are in the buffer, the head's
       * place to be masked and the head put in. */
      __m128i raw = _mm_loadu_si128 ((const __m128i *) (buffer + TEXT_OFFSET - h));
      __m128i mask = _mm_loadu_si128 ((const __m128i *) (head_masks + 16 - h));

      n_blocks[g] = (h + length + 72) / 64;
      load_block_ni (buffer, length, h, 0, n_blocks[g], block);
      for (int s = 0; s < DHATU_N_DHATUS; s++)
        {
          __m128i head;

          if (stream_group[s] != g)
            continue;
          head = _mm_loadl_epi64 ((const __m128i *) dhatu_heads[stream_dhatu[s]]);
          first[s][0] = _mm_shuffle_epi8 (_mm_or_si128 (_mm_andnot_si128 (mask, raw), head), swap);
          first[s][1] = block[1];
          first[s][2] = block[2];
          first[s][3] = block[3];
        }
      if (n_blocks[g] > 1)
        {
          load_block_ni (buffer, length, h, 1, n_blocks[g], later[g]);
          groups_later++;
          running += group_sizes[g];
        }
    }
  for (int s = 0; s < DHATU_N_DHATUS; s++)
    {
      abef[s] = abef0;
      cdgh[s] = cdgh0;
      ws[s] = first[s];
    }

  /* Block 0, the schedules one set of streams ahead of the rounds; the
   * last set's rounds compute block 1's schedules. */
  expand_ni (first, 3);
  rounds_ni (abef, cdgh, ws, 3, first + 3, 3);
  rounds_ni (abef + 3, cdgh + 3, ws + 3, 3, first + 6, 3);
  if (groups_later == 3)
    rounds_ni (abef + 6, cdgh + 6, ws + 6, 3, later, 3);
  else if (groups_later == 2)
    rounds_ni (abef + 6, cdgh + 6, ws + 6, 3, later, 2);
  else if (groups_later == 1)
    rounds_ni (abef + 6, cdgh + 6, ws + 6, 3, later, 1);
  else
    rounds_ni (abef + 6, cdgh + 6, ws + 6, 3, NULL, 0);

  /* The later blocks, of the groups whose messages reach them: the
   * streams still running are a prefix. */
  for (gsize b = 1; b < n_blocks[0]; b++)
    {
      if (b > 1)
        {
          groups_later = 0;
          running = 0;
          for (int g = 0; g < N_GROUPS && b < n_blocks[g]; g++)
            {
              load_block_ni (buffer, length, group_head_lengths[g], b, n_blocks[g], later[g]);
              groups_later++;
              running += group_sizes[g];
            }
          if (groups_later == 3)
            expand_ni (later, 3);
          else if (groups_later == 2)
            expand_ni (later, 2);
          else
            expand_ni (later, 1);
        }
      for (int s = 0; s < running; s++)
        ws[s] = later[stream_group[s]];
      block_streams_ni (abef, cdgh, ws, running);
    }
  for (int s = 0; s < DHATU_N_DHATUS; s++)
    w[stream_dhatu[s]] = weight_ni (abef[s], cdgh[s]);
}
#endif

/* Steps 3 to 5 for FINISH_LANES texts side by side: dhatu_finish ()'s
 * operations in its order, each a loop over the texts, which the compiler
 * vectorises (with the same IEEE operations, the same results, bit for bit:
 * tests/plugins/dhatu compares them). Its logarithm is dhatu_logf ()'s
 * without branches: the argument, q + 1e-8 with q >= 0, is a normal
 * positive float, and m > √2 is a test on the mantissa's bits (0x3504f4
 * is that of the first float above √2), m/2 an exponent one less. */
#define FINISH_LANES 8

static inline __attribute__ ((always_inline)) void
finish_lanes_body (const float (*w)[DHATU_N_DHATUS], DhatuResult *out)
{
  float v[DHATU_N_DHATUS][FINISH_LANES], b[DHATU_N_BASES][FINISH_LANES];
  float s[FINISH_LANES], total[FINISH_LANES], mean[FINISH_LANES], var[FINISH_LANES],
    h[FINISH_LANES], q[DHATU_N_BASES][FINISH_LANES];
  double lg[DHATU_N_BASES][FINISH_LANES];

  for (int l = 0; l < FINISH_LANES; l++)
    {
      float r =
        ((w[l][0] + w[l][1]) + (w[l][2] + w[l][3])) + ((w[l][4] + w[l][5]) + (w[l][6] + w[l][7]));
      r += w[l][8];
      s[l] = r == 0.0f ? 1.0f : r;
    }
  for (int d = 0; d < DHATU_N_DHATUS; d++)
    for (int l = 0; l < FINISH_LANES; l++)
      v[d][l] = w[l][d] / s[l];
  for (int p = 0; p < DHATU_N_BASES; p++)
    for (int l = 0; l < FINISH_LANES; l++)
      {
        float t[DHATU_N_DHATUS];
        for (int j = 0; j < DHATU_N_DHATUS; j++)
          t[j] = v[j][l] * dhatu_powers[p][j];
        b[p][l] = (((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]))) + t[8];
      }
  for (int l = 0; l < FINISH_LANES; l++)
    {
      float r = (((b[0][l] + b[1][l]) + (b[2][l] + b[3][l])) +
                 ((b[4][l] + b[5][l]) + (b[6][l] + b[7][l]))) +
                b[8][l];
      r += b[9][l];
      total[l] = r;
      mean[l] = r / (float) DHATU_N_BASES;
    }
  {
    float dv[DHATU_N_BASES][FINISH_LANES];
    for (int p = 0; p < DHATU_N_BASES; p++)
      for (int l = 0; l < FINISH_LANES; l++)
        {
          float t = b[p][l] - mean[l];
          dv[p][l] = t * t;
        }
    for (int l = 0; l < FINISH_LANES; l++)
      {
        float r = (((dv[0][l] + dv[1][l]) + (dv[2][l] + dv[3][l])) +
                   ((dv[4][l] + dv[5][l]) + (dv[6][l] + dv[7][l]))) +
                  dv[8][l];
        r += dv[9][l];
        var[l] = r / (float) DHATU_N_BASES;
      }
  }
  {
    float x[DHATU_N_BASES][FINISH_LANES];
    guint32 u[DHATU_N_BASES][FINISH_LANES];
    int e_[DHATU_N_BASES][FINISH_LANES];
    for (int p = 0; p < DHATU_N_BASES; p++)
      for (int l = 0; l < FINISH_LANES; l++)
        {
          q[p][l] = b[p][l] / (total[l] + 1e-8f);
          x[p][l] = q[p][l] + 1e-8f;
        }
    memcpy (u, x, sizeof u);
    for (int p = 0; p < DHATU_N_BASES; p++)
      for (int l = 0; l < FINISH_LANES; l++)
        {
          guint32 bits = u[p][l];
          guint32 mant = bits & 0x007fffff;
          guint32 gt = mant >= 0x3504f4;
          int e = (int) (bits >> 23) - 127 + (int) gt;

          u[p][l] = mant | (0x3f800000 - (gt << 23));
          e_[p][l] = e;
        }
    memcpy (x, u, sizeof u);
    for (int p = 0; p < DHATU_N_BASES; p++)
      for (int l = 0; l < FINISH_LANES; l++)
        {
          double m = x[p][l], sr, s2, series;
          int e = e_[p][l];

          sr = (m - 1.0) / (m + 1.0);
          s2 = sr * sr;
          series = 1.0 / 13 + s2 * (1.0 / 15);
          series = 1.0 / 11 + s2 * series;
          series = 1.0 / 9 + s2 * series;
          series = 1.0 / 7 + s2 * series;
          series = 1.0 / 5 + s2 * series;
          series = 1.0 / 3 + s2 * series;
          series = 1.0 + s2 * series;
          lg[p][l] = 2.0 * sr * series + e * 0.6931471805599453;
        }
  }
  for (int l = 0; l < FINISH_LANES; l++)
    {
      float t[DHATU_N_BASES];
      for (int p = 0; p < DHATU_N_BASES; p++)
        t[p] = q[p][l] * (float) lg[p][l];
      float r = (((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]))) + t[8];
      r += t[9];
      h[l] = -r;
    }
  for (int l = 0; l < FINISH_LANES; l++)
    {
      for (int d = 0; d < DHATU_N_DHATUS; d++)
        out[l].vector[d] = v[d][l];
      for (int p = 0; p < DHATU_N_BASES; p++)
        out[l].bases[p] = b[p][l];
      out[l].ambiguity = 0.7f * h[l] + 0.3f * var[l];
    }
}
static void
finish_lanes (const float (*w)[DHATU_N_DHATUS], DhatuResult *out)
{
  finish_lanes_body (w, out);
}

#ifdef DHATU_HAVE_X86
__attribute__ ((target ("avx2"))) static void
finish_lanes_avx2 (const float (*w)[DHATU_N_DHATUS], DhatuResult *out)
{
  finish_lanes_body (w, out);
}
#endif

#ifdef DHATU_HAVE_X86
/* Lays out a text in buffer @which for text_ni (): the text, then the
 * padding all three head lengths share: 0x80, and zeros to past the last
 * block of each (the length words are put into the schedule, not
 * written). */
static inline void
prepare_ni (DhatuCpu *cpu, int which, const guint8 *text, gsize length)
{
  guint8 *buffer = ensure_capacity (cpu, which, length);

  memcpy (buffer + TEXT_OFFSET, text, length);
  memset (buffer + TEXT_OFFSET + length, 0, SHARED_TAIL);
  buffer[TEXT_OFFSET + length] = 0x80;
}
#endif

/* The nine weights of a text, with the portable SHA-256. */
static void
text_portable (DhatuCpu *cpu, const guint8 *text, gsize length, float *w)
{
  guint8 *buffer = ensure_capacity (cpu, 0, length);

  memcpy (buffer + TEXT_OFFSET, text, length);
  for (int g = 0; g < N_GROUPS; g++)
    {
      int h = group_head_lengths[g];
      guint8 *message = buffer + TEXT_OFFSET - h;

      group_portable (message, g, pad_message (message, h, length), w);
    }
}

void
dhatu_cpu_run (DhatuCpu *cpu,
               const guint8 *const *texts,
               const gsize *lengths,
               gsize n,
               DhatuResult *out)
{
#ifdef DHATU_HAVE_X86
  if (cpu->shani && n > 0)
    prepare_ni (cpu, 0, texts[0], lengths[0]);
#endif
  for (gsize first = 0; first < n; first += FINISH_LANES)
    {
      gsize count = MIN (FINISH_LANES, n - first);
      /* Lanes past the batch's end finish zeros, and are dropped. */
      float w[FINISH_LANES][DHATU_N_DHATUS] = { { 0 } };
      DhatuResult tail[FINISH_LANES];
      DhatuResult *results = count == FINISH_LANES ? out + first : tail;

      for (gsize j = 0; j < count; j++)
        {
          gsize i = first + j;

          /* A text's copy is its first touch, a cache miss on a large
           * batch: the one after the next is fetched meanwhile. */
          if (i + 2 < n)
            {
              __builtin_prefetch (texts[i + 2]);
              __builtin_prefetch (texts[i + 2] + 64);
            }
#ifdef DHATU_HAVE_X86
          if (cpu->shani)
            {
              if (i + 1 < n)
                prepare_ni (cpu, (i + 1) & 1, texts[i + 1], lengths[i + 1]);
              text_ni (cpu->buffers[i & 1], lengths[i], w[j]);
              continue;
            }
#endif
          text_portable (cpu, texts[i], lengths[i], w[j]);
        }
#ifdef DHATU_HAVE_X86
      if (cpu->avx2)
        finish_lanes_avx2 (w, results);
      else
#endif
        finish_lanes (w, results);
      if (results == tail)
        memcpy (out + first, tail, count * sizeof *tail);
    }
}
