/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-devices.c: device names and enumeration. */

#include "sutra-devices.h"

#include <string.h>

typedef struct
{
  const char *name;
  gboolean valid;
  int index;
} ParseCase;

static const ParseCase parse_cases[] = {
  { "cpu", TRUE, -1 },       { "cuda:0", TRUE, 0 },
  { "cuda:7", TRUE, 7 },     { "cuda:1024", TRUE, 1024 },
  { "cuda:1025", FALSE, 0 }, { "cuda:", FALSE, 0 },
  { "cuda", FALSE, 0 },      { "cuda:x", FALSE, 0 },
  { "cuda:1x", FALSE, 0 },   { "cuda:-1", FALSE, 0 },
  { "gpu:0", FALSE, 0 },     { "CPU", FALSE, 0 },
  { "", FALSE, 0 },
};

static void
test_devices_parse (gconstpointer data)
{
  const ParseCase *row = data;
  int index = -42;

  g_test_summary ("Device names are “cpu” or “cuda:N”, N from 0 to 1024");
  g_assert_cmpint (sutra_device_parse (row->name, &index), ==, row->valid);
  if (row->valid)
    g_assert_cmpint (index, ==, row->index);
}

static void
test_devices_enumerate (void)
{
  g_autofree char *why = NULL;
  g_autoptr (GPtrArray) devices = sutra_devices_enumerate (&why);

  g_test_summary ("Enumeration works with or without a GPU: devices named cuda:N in order, "
                  "or none and the reason");
  g_assert_nonnull (devices);
  g_test_message ("%u devices%s%s", devices->len, why ? ": " : "", why ? why : "");
  if (devices->len == 0)
    g_assert_nonnull (why);
  for (guint i = 0; i < devices->len; i++)
    {
      SutraDevice *device = devices->pdata[i];
      g_autofree char *name = g_strdup_printf ("cuda:%u", i);

      g_assert_cmpstr (device->name, ==, name);
      g_assert_nonnull (device->model);
      g_assert_cmpuint (device->memory_bytes, >, 0);
    }
}

static void
test_devices_fake (void)
{
  g_autoptr (GPtrArray) devices = NULL;
  g_autoptr (GPtrArray) refused = NULL;
  g_autofree char *why = NULL;
  g_autofree char *why_refused = NULL;

  g_test_summary ("SUTRA_FAKE_DEVICES (for tests) reports the GPUs it names, in order, "
                  "without the driver; a malformed value reports none and says why");
  g_setenv ("SUTRA_FAKE_DEVICES", "cuda:0, cuda:1", TRUE);
  devices = sutra_devices_enumerate (&why);
  g_assert_null (why);
  g_assert_cmpuint (devices->len, ==, 2);
  for (guint i = 0; i < devices->len; i++)
    {
      SutraDevice *device = devices->pdata[i];
      g_autofree char *name = g_strdup_printf ("cuda:%u", i);

      g_assert_cmpstr (device->name, ==, name);
      g_assert_nonnull (strstr (device->model, "SUTRA_FAKE_DEVICES"));
      g_assert_cmpuint (device->memory_bytes, >, 0);
    }

  g_setenv ("SUTRA_FAKE_DEVICES", "cuda:1,cuda:0", TRUE);
  refused = sutra_devices_enumerate (&why_refused);
  g_unsetenv ("SUTRA_FAKE_DEVICES");
  g_assert_cmpuint (refused->len, ==, 0);
  g_assert_nonnull (why_refused);
  g_assert_nonnull (strstr (why_refused, "SUTRA_FAKE_DEVICES"));
  g_assert_nonnull (strstr (why_refused, "entry 1"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (parse_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/devices/parse/%s",
                         parse_cases[i].name[0] ? parse_cases[i].name : "empty");
      g_test_add_data_func (path, &parse_cases[i], test_devices_parse);
    }
  g_test_add_func ("/engine/devices/enumerate", test_devices_enumerate);
  g_test_add_func ("/engine/devices/fake", test_devices_fake);

  return g_test_run ();
}
