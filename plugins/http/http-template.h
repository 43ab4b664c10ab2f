/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Request bodies made from a JSON template and an item's fields. */

#pragma once

#include <json-glib/json-glib.h>
#include <sutra/sutra.h>

G_BEGIN_DECLS

/* Returns: (transfer full): a copy of @template in which every string
 * holding a placeholder is filled from @item: `${text}` (the payload as
 * UTF-8), `${id}`, `${meta.NAME}` (a metadata member). A string that is
 * exactly one placeholder takes the value as it is (a metadata number
 * stays a number); placeholders inside longer strings are spliced in as
 * text. An unknown placeholder or a missing member fails with its name. */
JsonNode *http_template_fill (JsonNode *template_root,
                              SutraItem *item,
                              const char *text,
                              GError **error);

G_END_DECLS
