/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ApertiumPipe: one pair's pipeline of tools, started once and kept
 * running, fed chunks framed by NUL flushes. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _ApertiumPipe ApertiumPipe;

/* Starts the tools (ApertiumTool, from apertium_mode_load()) as one
 * process group, each reading the one before. */
ApertiumPipe *apertium_pipe_start (const char *pair, GPtrArray *tools, GError **error);

/* Translates @n_frames frames of stream format (each without NUL) in one
 * exchange: writes them, each followed by a NUL flush, and reads one
 * NUL-terminated answer per frame. Fails when the pipeline dies or gives no
 * answer within @timeout_ms (0: wait for ever); the pipeline is then dead
 * (apertium_pipe_is_alive() is FALSE) and must be replaced.
 * Returns: (transfer full) (element-type GBytes): the answers. */
GPtrArray *apertium_pipe_translate (ApertiumPipe *pipe,
                                    GString *const *frames,
                                    guint n_frames,
                                    guint timeout_ms,
                                    GError **error);

gboolean apertium_pipe_is_alive (ApertiumPipe *pipe);

/* The process group id of the tools (for tests). */
int apertium_pipe_get_pgid (ApertiumPipe *pipe);

/* Closes the pipeline's input, kills what is left and reaps every tool. */
void apertium_pipe_free (ApertiumPipe *pipe);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ApertiumPipe, apertium_pipe_free)

G_END_DECLS
