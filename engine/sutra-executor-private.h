/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* STAND-IN until h/split's engine/sutra-executor-private.h lands: the
 * executors' function table, as h/process reads engine/sutra-executor.h.
 * Replaced by h/split's file at merge. */

#pragma once

#include "sutra-executor.h"

G_BEGIN_DECLS

typedef struct
{
  gboolean (*process) (SutraExecutor *executor,
                       SutraItem *const *items,
                       guint n_items,
                       SutraOutput *output,
                       GError **error);
  gboolean (*finish) (SutraExecutor *executor, SutraOutput *output, GError **error);
  gboolean (*sync) (SutraExecutor *executor, char **state, GError **error);
  void (*free) (SutraExecutor *executor);
} SutraExecutorVTable;

struct _SutraExecutor
{
  const SutraExecutorVTable *vtable;
  SutraIsolation isolation;
};

G_END_DECLS
