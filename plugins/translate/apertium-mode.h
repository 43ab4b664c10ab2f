/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Apertium mode files: which pairs are installed, and the pipeline of tools
 * a pair's mode runs, made to flush on NUL. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The directory Apertium installs modes in (APERTIUM_MODES_DIR overrides it,
 * for tests and non-standard prefixes). */
const char *apertium_modes_dir (void);

/* Returns: (transfer full): the installed pairs ("eng-spa", ...), sorted;
 * an empty array when none is. */
GPtrArray *apertium_list_pairs (const char *modes_dir);

/* One tool of a pair's pipeline. */
typedef struct
{
  char **argv; /* the command, with -z added after the program name */
} ApertiumTool;

/* Reads @pair's mode file and returns its tools (transfer full, ApertiumTool),
 * each with the null-flush flag added. $1 and $2 of the mode (the
 * generator's unknown-word option and the tagger's) become @gen_option and
 * nothing. Fails with a clear message when the pair is not installed (the
 * installed pairs listed), when the mode cannot be parsed, and when one of
 * its tools cannot flush on NUL (named: the pipeline would hang). */
GPtrArray *apertium_mode_load (const char *modes_dir,
                               const char *pair,
                               const char *gen_option,
                               GError **error);

/* The installed package version of @pair's data ("0.8.1-2"), read from
 * dpkg's status, or "unknown": part of the translation cache's key. */
char *apertium_pair_version (const char *pair);

/* What @pair's translations depend on besides sutra's parameters, for the
 * content cache's key: the package version (apertium_pair_version()), a
 * digest of the mode, and the size and modification time of every file
 * the mode names and every tool it runs. Fails when the pair is not
 * installed. Returns: (transfer full). */
char *apertium_pair_salt (const char *modes_dir, const char *pair, GError **error);

G_END_DECLS
