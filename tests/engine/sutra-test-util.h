/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the engine tests: substring assertions and paths. */

#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

G_BEGIN_DECLS

/* Fails the test, showing both strings, when @haystack lacks @needle. */
#define sutra_assert_contains(haystack, needle)                                                \
  G_STMT_START                                                                                 \
  {                                                                                            \
    const char *h__ = (haystack), *n__ = (needle);                                             \
    if (h__ == NULL || strstr (h__, n__) == NULL)                                              \
      {                                                                                        \
        char *m__ = g_strdup_printf ("“%s” does not contain “%s”", h__ ? h__ : "(null)", n__); \
        g_assertion_message (G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC, m__);                \
        g_free (m__);                                                                          \
      }                                                                                        \
  }                                                                                            \
  G_STMT_END

#define sutra_assert_not_contains(haystack, needle)                             \
  G_STMT_START                                                                  \
  {                                                                             \
    const char *h__ = (haystack), *n__ = (needle);                              \
    if (h__ != NULL && strstr (h__, n__) != NULL)                               \
      {                                                                         \
        char *m__ = g_strdup_printf ("“%s” contains “%s”", h__, n__);           \
        g_assertion_message (G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC, m__); \
        g_free (m__);                                                           \
      }                                                                         \
  }                                                                             \
  G_STMT_END

/* How many times @needle occurs in @haystack. */
static inline guint
sutra_test_count (const char *haystack, const char *needle)
{
  guint n = 0;

  for (const char *p = haystack; (p = strstr (p, needle)) != NULL; p += strlen (needle))
    n++;
  return n;
}

/* A directory of the current test's own, removed after it
 * (G_TEST_OPTION_ISOLATE_DIRS puts the user cache directory there). */
static inline char *
sutra_test_dir (void)
{
  char *dir = g_build_filename (g_get_user_cache_dir (), "work", NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  return dir;
}

/* An unlinked temporary file holding @length bytes of @data, open for
 * reading: what a stage gives sutra_item_take_payload_fd(). */
static inline int
sutra_test_unlinked_file (const void *data, gsize length)
{
  char *path = NULL;
  int fd = g_file_open_tmp ("sutra-test-payload-XXXXXX", &path, NULL);

  g_assert_cmpint (fd, >=, 0);
  g_unlink (path);
  g_free (path);
  g_assert_cmpint (write (fd, data, length), ==, (gssize) length);
  return fd;
}

/* Writes @contents to @name in @dir and returns the file's path. */
static inline char *
sutra_test_write (const char *dir, const char *name, const char *contents, gssize length)
{
  char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;

  g_file_set_contents (path, contents, length, &error);
  g_assert_no_error (error);
  return path;
}

/* Appends @data as jsonl-sink writes a text: a JSON string, the escapes it
 * uses, UTF-8 kept as it is. */
static inline void
sutra_test_append_json_text (GString *out, const char *data, gsize length)
{
  g_string_append_c (out, '"');
  for (gsize i = 0; i < length; i++)
    {
      guchar c = data[i];

      if (c == '"')
        g_string_append (out, "\\\"");
      else if (c == '\\')
        g_string_append (out, "\\\\");
      else if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\r')
        g_string_append (out, "\\r");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c < 0x20)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_c (out, c);
    }
  g_string_append_c (out, '"');
}

/* Appends the line jsonl-sink writes for a plain-text item with no
 * metadata. */
static inline void
sutra_test_append_record (GString *out, const char *id, const char *data, gsize length)
{
  g_string_append (out, "{\"id\":");
  sutra_test_append_json_text (out, id, strlen (id));
  g_string_append (out, ",\"text\":");
  sutra_test_append_json_text (out, data, length);
  g_string_append (out, "}\n");
}

G_END_DECLS
