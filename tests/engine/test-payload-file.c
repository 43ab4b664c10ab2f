/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for sutra-payload-file.c: a payload in a file, whole or a range. */

#include "sutra-payload-file.h"
#include "sutra-test-util.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* An unlinked file holding @text. */
static int
file_with (const char *text)
{
  return sutra_test_unlinked_file (text, strlen (text));
}

static void
test_payload_file_whole (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPayloadFile) file = sutra_payload_file_new (file_with ("hello, file"), &error);
  g_autoptr (GBytes) all = NULL;
  char buffer[32];

  g_test_summary ("A whole file is the payload: its size, reads from any offset (short at the "
                  "end, nothing past it), and all of it at once");
  g_assert_no_error (error);
  g_assert_cmpuint (sutra_payload_file_get_size (file), ==, 11);
  g_assert_cmpuint (sutra_payload_file_get_offset (file), ==, 0);
  g_assert_cmpint (sutra_payload_file_read (file, 7, buffer, sizeof buffer, &error), ==, 4);
  g_assert_cmpmem (buffer, 4, "file", 4);
  g_assert_cmpint (sutra_payload_file_read (file, 11, buffer, sizeof buffer, &error), ==, 0);
  all = sutra_payload_file_load (file, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (all, NULL), g_bytes_get_size (all), "hello, file", 11);
}

static void
test_payload_file_range (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPayloadFile) file =
    sutra_payload_file_new_range (file_with ("[header]payload[trailer]"), 8, 7, &error);
  g_autoptr (SutraPayloadFile) shared = NULL;
  g_autoptr (SutraPayloadFile) inner = NULL;
  g_autoptr (GBytes) all = NULL;
  char buffer[32];

  g_test_summary ("A range of a file is the payload: offsets count from the range's start, "
                  "reads stop at its end, a reference shares it, and so does a range within "
                  "it, which keeps the descriptor open");
  g_assert_no_error (error);
  g_assert_cmpuint (sutra_payload_file_get_size (file), ==, 7);
  g_assert_cmpint (sutra_payload_file_read (file, 3, buffer, sizeof buffer, &error), ==, 4);
  g_assert_cmpmem (buffer, 4, "load", 4);
  shared = sutra_payload_file_ref (file);
  all = sutra_payload_file_load (shared, &error);
  g_assert_cmpmem (g_bytes_get_data (all, NULL), g_bytes_get_size (all), "payload", 7);
  /* A range within a range: offsets add up, and the descriptor is shared,
   * kept open by the inner range after the outer is gone. */
  inner = sutra_payload_file_new_within (file, 3, 3);
  g_assert_cmpint (sutra_payload_file_get_fd (inner), ==, sutra_payload_file_get_fd (file));
  g_clear_pointer (&file, sutra_payload_file_unref);
  g_clear_pointer (&shared, sutra_payload_file_unref);
  g_assert_cmpint (sutra_payload_file_read (inner, 0, buffer, sizeof buffer, &error), ==, 3);
  g_assert_cmpmem (buffer, 3, "loa", 3);
}

static void
test_payload_file_refused (void)
{
  g_autoptr (GError) error = NULL;
  int fds[2];

  g_test_summary ("A range past the file's end, a pipe and a file open only for writing are "
                  "refused with errors that say why, the descriptor closed");
  g_assert_null (sutra_payload_file_new_range (file_with ("short"), 3, 10, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_assert_nonnull (strstr (error->message, "past its file's end"));
  g_clear_error (&error);
  g_assert_cmpint (pipe (fds), ==, 0);
  g_assert_null (sutra_payload_file_new (fds[0], &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_assert_cmpint (close (fds[0]), ==, -1);
  close (fds[1]);
  g_clear_error (&error);
  {
    g_autofree char *path = NULL;
    int fd = g_file_open_tmp ("sutra-test-payload-file-XXXXXX", &path, NULL);
    int write_only;

    g_assert_cmpint (fd, >=, 0);
    close (fd);
    write_only = open (path, O_WRONLY);
    g_unlink (path);
    /* A file it cannot read back would fail later, far from the cause. */
    g_assert_null (sutra_payload_file_new (write_only, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
    g_assert_nonnull (strstr (error->message, "open for reading"));
  }
}

static void
test_payload_file_truncated (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("sutra-test-payload-file-XXXXXX", &path, NULL);
  g_autoptr (SutraPayloadFile) file = NULL;
  char buffer[16];

  g_test_summary ("A payload file cut short after it was made reads as an error that says "
                  "so, not as a short payload");
  g_assert_cmpint (write (fd, "0123456789", 10), ==, 10);
  file = sutra_payload_file_new (fd, &error);
  g_assert_no_error (error);
  g_assert_cmpint (truncate (path, 4), ==, 0);
  g_unlink (path);
  g_assert_cmpint (sutra_payload_file_read (file, 0, buffer, sizeof buffer, &error), ==, -1);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "shorter than it was"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/engine/payload-file/whole", test_payload_file_whole);
  g_test_add_func ("/engine/payload-file/range", test_payload_file_range);
  g_test_add_func ("/engine/payload-file/refused", test_payload_file_refused);
  g_test_add_func ("/engine/payload-file/truncated", test_payload_file_truncated);
  return g_test_run ();
}
