/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ISO 639-1 and ISO 639-3 codes of the languages Apertium pairs cover. */

#include "language-codes.h"

#include <string.h>

static const struct
{
  const char *code1;
  const char *code3;
} codes[] = {
  { "af", "afr" }, { "an", "arg" }, { "ar", "ara" }, { "be", "bel" }, { "bg", "bul" },
  { "bn", "ben" }, { "br", "bre" }, { "ca", "cat" }, { "cs", "ces" }, { "cy", "cym" },
  { "da", "dan" }, { "de", "deu" }, { "el", "ell" }, { "en", "eng" }, { "eo", "epo" },
  { "es", "spa" }, { "et", "est" }, { "eu", "eus" }, { "fi", "fin" }, { "fr", "fra" },
  { "ga", "gle" }, { "gl", "glg" }, { "he", "heb" }, { "hi", "hin" }, { "hr", "hrv" },
  { "hu", "hun" }, { "id", "ind" }, { "is", "isl" }, { "it", "ita" }, { "kk", "kaz" },
  { "lt", "lit" }, { "lv", "lav" }, { "mk", "mkd" }, { "ms", "msa" }, { "mt", "mlt" },
  { "nb", "nob" }, { "nl", "nld" }, { "nn", "nno" }, { "oc", "oci" }, { "pl", "pol" },
  { "pt", "por" }, { "ro", "ron" }, { "ru", "rus" }, { "sk", "slk" }, { "sl", "slv" },
  { "sq", "sqi" }, { "sr", "srp" }, { "sv", "swe" }, { "tr", "tur" }, { "tt", "tat" },
  { "uk", "ukr" }, { "ur", "urd" },
};

const char *
language_to_iso639_3 (const char *tag)
{
  gsize length;

  if (tag == NULL)
    return NULL;
  length = strcspn (tag, "-_");
  for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
    if ((length == 2 && g_ascii_strncasecmp (tag, codes[i].code1, 2) == 0) ||
        (length == 3 && g_ascii_strncasecmp (tag, codes[i].code3, 3) == 0))
      return codes[i].code3;
  return NULL;
}

const char *
language_to_iso639_1 (const char *code3)
{
  for (guint i = 0; code3 != NULL && i < G_N_ELEMENTS (codes); i++)
    if (g_ascii_strncasecmp (code3, codes[i].code3, 3) == 0 &&
        (code3[3] == '\0' || code3[3] == '_' || code3[3] == '-'))
      return codes[i].code1;
  return NULL;
}
