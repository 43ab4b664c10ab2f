/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dhātu kernel's per-text logic (../shared/data/dhatu/README.md), in
 * portable C shared by the host build and the CUDA source: CI tests on the
 * host exactly the code the GPU runs. No library calls (the PTX is built
 * without libdevice), no headers, float32 arithmetic in numpy's order. */

#pragma once

#if defined(__CUDA__) || defined(__CUDACC__)
#define DHATU_FN __device__ static inline
#define DHATU_CONST __constant__ static const
#else
#define DHATU_FN static inline
#define DHATU_CONST static const
#endif

typedef unsigned char dhatu_u8;
typedef unsigned int dhatu_u32;
typedef unsigned long long dhatu_u64;

#define DHATU_N_DHATUS 9
#define DHATU_N_BASES 10
/* Floats per result: the vector, the bases, the ambiguity. */
#define DHATU_RESULT_FLOATS (DHATU_N_DHATUS + DHATU_N_BASES + 1)

/* One text's result, as the plugin's payload holds it (little-endian
 * float32 on every platform this builds for). */
typedef struct
{
  float vector[DHATU_N_DHATUS];
  float bases[DHATU_N_BASES];
  float ambiguity;
} DhatuResult;

/* The message heads, "RELATE::" and so on, in the spec's order. */
DHATU_CONST char dhatu_heads[DHATU_N_DHATUS][9] = {
  "RELATE::", "MODAL::", "EXIST::", "EVAL::", "COMM::", "CAUSE::", "ITER::", "DECIDE::", "FEEL::",
};
DHATU_CONST dhatu_u32 dhatu_head_lengths[DHATU_N_DHATUS] = { 8, 7, 7, 6, 6, 7, 6, 8, 6 };

/* p^(j mod p) for the primes 2..29 and j = 0..8, rounded to float32 as
 * numpy rounds the exact integers. */
DHATU_CONST float dhatu_powers[DHATU_N_BASES][DHATU_N_DHATUS] = {
  { 1.0f, 2.0f, 1.0f, 2.0f, 1.0f, 2.0f, 1.0f, 2.0f, 1.0f },
  { 1.0f, 3.0f, 9.0f, 1.0f, 3.0f, 9.0f, 1.0f, 3.0f, 9.0f },
  { 1.0f, 5.0f, 25.0f, 125.0f, 625.0f, 1.0f, 5.0f, 25.0f, 125.0f },
  { 1.0f, 7.0f, 49.0f, 343.0f, 2401.0f, 16807.0f, 117649.0f, 1.0f, 7.0f },
  { 1.0f, 11.0f, 121.0f, 1331.0f, 14641.0f, 161051.0f, 1771561.0f, 19487171.0f, 214358881.0f },
  { 1.0f, 13.0f, 169.0f, 2197.0f, 28561.0f, 371293.0f, 4826809.0f, 62748517.0f, 815730721.0f },
  { 1.0f, 17.0f, 289.0f, 4913.0f, 83521.0f, 1419857.0f, 24137569.0f, 410338673.0f, 6975757441.0f },
  { 1.0f, 19.0f, 361.0f, 6859.0f, 130321.0f, 2476099.0f, 47045881.0f, 893871739.0f,
    16983563041.0f },
  { 1.0f, 23.0f, 529.0f, 12167.0f, 279841.0f, 6436343.0f, 148035889.0f, 3404825447.0f,
    78310985281.0f },
  { 1.0f, 29.0f, 841.0f, 24389.0f, 707281.0f, 20511149.0f, 594823321.0f, 17249876309.0f,
    500246412961.0f },
};

DHATU_CONST dhatu_u32 dhatu_sha256_k[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

DHATU_CONST dhatu_u32 dhatu_sha256_init[8] = {
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

#define DHATU_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/* Expands a block's message schedule (the part of the work that depends on
 * the block's bytes only, so blocks equal across messages share it). */
DHATU_FN void
dhatu_sha256_schedule (const dhatu_u8 *block, dhatu_u32 w[64])
{
  for (int i = 0; i < 16; i++)
    w[i] = ((dhatu_u32) block[4 * i] << 24) | ((dhatu_u32) block[4 * i + 1] << 16) |
           ((dhatu_u32) block[4 * i + 2] << 8) | (dhatu_u32) block[4 * i + 3];
  for (int i = 16; i < 64; i++)
    {
      dhatu_u32 s0 = DHATU_ROTR (w[i - 15], 7) ^ DHATU_ROTR (w[i - 15], 18) ^ (w[i - 15] >> 3);
      dhatu_u32 s1 = DHATU_ROTR (w[i - 2], 17) ^ DHATU_ROTR (w[i - 2], 19) ^ (w[i - 2] >> 10);

      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
}

/* The 64 rounds of SHA-256 on a scheduled block. */
DHATU_FN void
dhatu_sha256_rounds (dhatu_u32 state[8], const dhatu_u32 w[64])
{
  dhatu_u32 a = state[0], b = state[1], c = state[2], d = state[3];
  dhatu_u32 e = state[4], f = state[5], g = state[6], h = state[7];

  for (int i = 0; i < 64; i++)
    {
      dhatu_u32 t1 = h + (DHATU_ROTR (e, 6) ^ DHATU_ROTR (e, 11) ^ DHATU_ROTR (e, 25)) +
                     ((e & f) ^ (~e & g)) + dhatu_sha256_k[i] + w[i];
      dhatu_u32 t2 = (DHATU_ROTR (a, 2) ^ DHATU_ROTR (a, 13) ^ DHATU_ROTR (a, 22)) +
                     ((a & b) ^ (a & c) ^ (b & c));

      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  state[5] += f;
  state[6] += g;
  state[7] += h;
}

/* Byte @pos of the padded message head || text (of @msg_len bytes). */
DHATU_FN dhatu_u8
dhatu_message_byte (const char *head,
                    dhatu_u32 head_len,
                    const dhatu_u8 *text,
                    dhatu_u64 msg_len,
                    dhatu_u64 padded_len,
                    dhatu_u64 pos)
{
  if (pos < head_len)
    return (dhatu_u8) head[pos];
  if (pos < msg_len)
    return text[pos - head_len];
  if (pos == msg_len)
    return 0x80;
  if (pos >= padded_len - 8)
    return (dhatu_u8) ((msg_len * 8) >> (8 * (padded_len - 1 - pos)));
  return 0;
}

/* SHA-256 of head || text, block by block, without the message in memory:
 * the form a GPU thread (or a test) uses. */
DHATU_FN void
dhatu_sha256_head_text (const char *head,
                        dhatu_u32 head_len,
                        const dhatu_u8 *text,
                        dhatu_u64 text_len,
                        dhatu_u32 state[8])
{
  dhatu_u64 msg_len = head_len + text_len;
  dhatu_u64 padded_len = (msg_len + 8 + 64) & ~(dhatu_u64) 63;
  dhatu_u8 block[64];
  dhatu_u32 w[64];

  for (int i = 0; i < 8; i++)
    state[i] = dhatu_sha256_init[i];
  for (dhatu_u64 start = 0; start < padded_len; start += 64)
    {
      for (int i = 0; i < 64; i++)
        block[i] = dhatu_message_byte (head, head_len, text, msg_len, padded_len, start + i);
      dhatu_sha256_schedule (block, w);
      dhatu_sha256_rounds (state, w);
    }
}

/* w_d of step 2, from a digest as eight big-endian words: bytes 0, 5, 13,
 * 21 and 29 are the top byte of word 0 and the second byte of words 1, 3,
 * 5 and 7. */
DHATU_FN float
dhatu_weight (const dhatu_u32 state[8])
{
  dhatu_u32 sum = (state[0] >> 24) + ((state[1] >> 16) & 0xff) + ((state[3] >> 16) & 0xff) +
                  ((state[5] >> 16) & 0xff) + ((state[7] >> 16) & 0xff);

  /* Exact: at most 1275/1024. */
  return (float) sum / 1024.0f;
}

/* A float32 sum as numpy's pairwise summation does it for 8 <= n < 16
 * elements: eight partial sums paired, then the rest added in order. */
DHATU_FN float
dhatu_sum (const float *x, int n)
{
  float r = ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]));

  for (int i = 8; i < n; i++)
    r += x[i];
  return r;
}

/* ln(x) for x > 0, without libm (the GPU build has none): x = m·2^e with m
 * in [√½, √2), ln m = 2·atanh(s), s = (m−1)/(m+1), |s| < 0.172, by its
 * series to s^15 in double (the rest is below 1e-12 of the result, far
 * below float32's precision), Horner's rule with constant coefficients. */
DHATU_FN float
dhatu_logf (float x)
{
  union
  {
    float f;
    dhatu_u32 u;
  } bits;
  int e;
  double m, s, s2, series;

  bits.f = x;
  if (x <= 0.0f)
    return -__builtin_inff ();
  if ((bits.u >> 23) == 0)
    {
      /* Subnormal: scale into the normal range first. */
      bits.f = x * 8388608.0f;
      e = (int) (bits.u >> 23) - 127 - 23;
    }
  else
    e = (int) (bits.u >> 23) - 127;
  bits.u = (bits.u & 0x007fffff) | 0x3f800000; /* m in [1, 2) */
  m = bits.f;
  if (m > 1.4142135623730951)
    {
      m *= 0.5;
      e++;
    }
  s = (m - 1.0) / (m + 1.0);
  s2 = s * s;
  series = 1.0 / 13 + s2 * (1.0 / 15);
  series = 1.0 / 11 + s2 * series;
  series = 1.0 / 9 + s2 * series;
  series = 1.0 / 7 + s2 * series;
  series = 1.0 / 5 + s2 * series;
  series = 1.0 / 3 + s2 * series;
  series = 1.0 + s2 * series;
  return (float) (2.0 * s * series + e * 0.6931471805599453);
}

/* Steps 3 to 5 of the spec, from the nine weights. */
DHATU_FN void
dhatu_finish (const float w[DHATU_N_DHATUS], DhatuResult *out)
{
  float s = dhatu_sum (w, DHATU_N_DHATUS);
  float mean, var, total, h;
  float dev[DHATU_N_BASES], terms[DHATU_N_BASES];

  if (s == 0.0f)
    s = 1.0f;
  for (int d = 0; d < DHATU_N_DHATUS; d++)
    out->vector[d] = w[d] / s;
  for (int p = 0; p < DHATU_N_BASES; p++)
    {
      for (int j = 0; j < DHATU_N_DHATUS; j++)
        terms[j] = out->vector[j] * dhatu_powers[p][j];
      out->bases[p] = dhatu_sum (terms, DHATU_N_DHATUS);
    }
  total = dhatu_sum (out->bases, DHATU_N_BASES);
  mean = total / (float) DHATU_N_BASES;
  for (int p = 0; p < DHATU_N_BASES; p++)
    {
      float t = out->bases[p] - mean;

      dev[p] = t * t;
    }
  var = dhatu_sum (dev, DHATU_N_BASES) / (float) DHATU_N_BASES;
  for (int p = 0; p < DHATU_N_BASES; p++)
    {
      float q = out->bases[p] / (total + 1e-8f);

      terms[p] = q * dhatu_logf (q + 1e-8f);
    }
  h = -dhatu_sum (terms, DHATU_N_BASES);
  out->ambiguity = 0.7f * h + 0.3f * var;
}

/* The whole kernel for one text, hashing with the portable code above. */
DHATU_FN void
dhatu_text (const dhatu_u8 *text, dhatu_u64 length, DhatuResult *out)
{
  float w[DHATU_N_DHATUS];
  dhatu_u32 state[8];

  for (int d = 0; d < DHATU_N_DHATUS; d++)
    {
      dhatu_sha256_head_text (dhatu_heads[d], dhatu_head_lengths[d], text, length, state);
      w[d] = dhatu_weight (state);
    }
  dhatu_finish (w, out);
}
