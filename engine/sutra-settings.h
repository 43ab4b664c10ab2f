/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraSettings: a stage's parameter values, checked against its table. */

#pragma once

#include <sutra/sutra.h>

G_BEGIN_DECLS

typedef struct _SutraSettings SutraSettings;

/* Called once per problem found, so that validation reports every problem
 * of a file at once. @key is the parameter name (or NULL for the params
 * object as a whole). */
typedef void (*SutraSettingsProblemFunc) (const char *key, const char *message, gpointer user_data);

/* Fills a settings struct from @params (nullable: all defaults). Returns
 * NULL when a problem was found: an unknown key (with a "did you mean"), a
 * value of the wrong type or out of range, an enum value not among the
 * choices (listed), a required parameter missing. Each problem goes to
 * @report. */
SutraSettings *sutra_settings_new (const SutraStageInfo *stage,
                                   JsonObject *params,
                                   SutraSettingsProblemFunc report,
                                   gpointer user_data);

/* The same, with all problems joined into one GError
 * (SUTRA_PLUGIN_ERROR_INVALID_INPUT). For tests and the harness. */
SutraSettings *sutra_settings_new_checked (const SutraStageInfo *stage,
                                           JsonObject *params,
                                           GError **error);

void sutra_settings_free (SutraSettings *settings);

/* Returns: (transfer none): the filled struct, valid while @settings lives. */
gconstpointer sutra_settings_get_data (const SutraSettings *settings);

/* Returns: (transfer full): the resolved values of every parameter, defaults
 * included, as a JSON object with members in table order: what a stage's
 * fingerprint hashes and what `sutra run` records. */
JsonObject *sutra_settings_to_json (const SutraSettings *settings);

/* Returns: (transfer full) (nullable): the closest of @candidates to @word
 * when it is close enough to be a likely typo, else NULL. */
char *sutra_suggest (const char *word, const char *const *candidates);

/* Returns: (transfer full): what @node (nullable) holds, for "expected an
 * integer, got ..." messages: "a string (“4”)", "a number (2.5)", "a
 * boolean (true)", "an array", "an object", "null". */
char *sutra_json_describe (JsonNode *node);

/* Returns: (transfer full): "“a”, “b” or “c”". */
char *sutra_format_choices (const char *const *choices);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraSettings, sutra_settings_free)

G_END_DECLS
