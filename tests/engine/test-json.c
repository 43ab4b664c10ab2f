/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-json.c: shortest decimals, and JSON text that uses them. */

#include <sutra/sutra.h>

#include <float.h>
#include <math.h>

typedef struct
{
  double value;
  const char *text;
} DoubleCase;

static const DoubleCase double_cases[] = {
  { 0.1, "0.1" },
  { 0.1 + 0.2, "0.30000000000000004" },
  { 1.0 / 3, "0.3333333333333333" },
  { 2.5, "2.5" },
  { -0.5, "-0.5" },
  { 100, "100" },
  { 44100, "44100" },
  { 123456789, "123456789" },
  { 1234567.5, "1234567.5" },
  { 1e16, "10000000000000000" },
  { 1e17, "1e+17" },
  { 1e20, "1e+20" },
  { 1.5e300, "1.5e+300" },
  { 0.000001, "0.000001" },
  { 0.0000015, "0.0000015" },
  { 1e-7, "1e-7" },
  { 2.5e-7, "2.5e-7" },
  { 0, "0" },
  { -0.0, "-0" },
  { DBL_MAX, "1.7976931348623157e+308" },
  { -DBL_MAX, "-1.7976931348623157e+308" },
  { 5e-324, "5e-324" },
  { INFINITY, "inf" },
  { -INFINITY, "-inf" },
  { NAN, "nan" },
};

static void
test_json_format_double (gconstpointer data)
{
  const DoubleCase *row = data;
  char buffer[SUTRA_DOUBLE_BUFFER_SIZE];

  g_test_summary ("A double is written as the shortest decimal that reads back the same, "
                  "without an exponent from 1e-6 to below 1e17");
  g_assert_cmpstr (sutra_format_double (buffer, row->value), ==, row->text);
  if (isfinite (row->value))
    g_assert_cmpfloat (g_ascii_strtod (buffer, NULL), ==, row->value);
}

static void
test_json_format_double_reads_back (void)
{
  g_test_summary ("Random doubles of every magnitude read back exactly, in no more "
                  "characters than 17 significant digits take");
  for (guint i = 0; i < 100000; i++)
    {
      char buffer[SUTRA_DOUBLE_BUFFER_SIZE];
      char longest[G_ASCII_DTOSTR_BUF_SIZE];
      double value = g_test_rand_double_range (-1, 1) * pow (10, g_test_rand_int_range (-30, 30));

      sutra_format_double (buffer, value);
      g_ascii_dtostr (longest, sizeof longest, value);
      if (g_ascii_strtod (buffer, NULL) != value)
        g_test_message ("%s does not read back as %s", buffer, longest);
      g_assert_cmpfloat (g_ascii_strtod (buffer, NULL), ==, value);
      g_assert_cmpuint (strlen (buffer), <=, strlen (longest) + 2);
    }
}

static void
test_json_to_data (void)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *compact = NULL;
  g_autofree char *pretty = NULL;
  gsize length = 0;

  g_test_summary ("sutra_json_to_data writes what json-glib writes, doubles shortened; "
                  "integers and strings that look like numbers are left alone");
  json_parser_load_from_data (parser,
                              "{\"a\": 0.1, \"b\": 3, \"c\": \"0.10000000000000001 \\\"x\\\\\", "
                              "\"d\": [1e20, -2.5, 1e-7, 12345678901234567], \"e\": 2.0}",
                              -1, &error);
  g_assert_no_error (error);
  compact = sutra_json_to_data (json_parser_get_root (parser), FALSE, &length);
  g_assert_cmpstr (compact, ==,
                   "{\"a\":0.1,\"b\":3,\"c\":\"0.10000000000000001 \\\"x\\\\\","
                   "\"d\":[1e+20,-2.5,1e-7,12345678901234567],\"e\":2.0}");
  g_assert_cmpuint (length, ==, strlen (compact));
  pretty = sutra_json_to_data (json_parser_get_root (parser), TRUE, NULL);
  g_assert_cmpstr (pretty, ==,
                   "{\n  \"a\" : 0.1,\n  \"b\" : 3,\n  \"c\" : \"0.10000000000000001 "
                   "\\\"x\\\\\",\n  \"d\" : [\n    1e+20,\n    -2.5,\n    1e-7,\n"
                   "    12345678901234567\n  ],\n  \"e\" : 2.0\n}");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (double_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/json/format-double/%s", double_cases[i].text);
      g_test_add_data_func (path, &double_cases[i], test_json_format_double);
    }
  g_test_add_func ("/engine/json/format-double/reads-back", test_json_format_double_reads_back);
  g_test_add_func ("/engine/json/to-data", test_json_to_data);
  return g_test_run ();
}
