/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* g_autoptr support for the foreign types the engine uses. */

#pragma once

#include <glib.h>
#include <openssl/evp.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_MD_CTX, EVP_MD_CTX_free)
