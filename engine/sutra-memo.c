/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The content cache of a map stage: keys from items' content, entries in
 * the store (sutra-memo.h says what goes into a key and why). */

#include "sutra-memo.h"

#include "sutra-autocleanups.h"

#include <math.h>
#include <openssl/evp.h>
#include <string.h>

/*
 * An entry's body:
 *
 *   'P'                                   the output was the input itself
 *   'D' u32 n, media type (n bytes)       a derived item
 *       u32 n, changes (n bytes of JSON:  {"set": {...}, "unset": [...]},
 *              or {"clear": true}: no metadata; or nothing: the
 *              metadata is the input's)
 *       payload (the rest)
 *
 * Lengths are little-endian. The store checks the frame (key, checksum),
 * this file what is inside it.
 */
#define MEMO_PASSED 'P'
#define MEMO_DERIVED 'D'

/* This run's own entries are remembered until the store seals its pack
 * and they can be looked up there; at most this many, so that a run of
 * millions of items keeps a bounded table (the oldest are forgotten all
 * at once: a repeat after that is computed again until the pack is
 * sealed, which costs time, never correctness). */
#define MEMO_OWN_MAX 65536

struct _SutraMemo
{
  SutraStore *store;
  EVP_MD_CTX *prefix; /* the digest of what every key of the stage starts with */
  char **meta_keys;   /* NULL: all of the metadata */
  GMutex lock;
  GHashTable *own; /* key (GBytes) -> SutraStoreLocation *: this run's, not sealed yet */
};

SutraMemo *
sutra_memo_new (SutraStore *store,
                const guint8 fingerprint[SUTRA_DIGEST_SIZE],
                const char *salt,
                const char *const *meta_keys)
{
  SutraMemo *memo = g_new0 (SutraMemo, 1);
  guint64 salt_length = GUINT64_TO_LE (salt != NULL ? strlen (salt) : 0);

  memo->store = store;
  memo->meta_keys = meta_keys != NULL ? g_strdupv ((char **) meta_keys) : NULL;
  memo->own = g_hash_table_new_full (sutra_digest_bytes_hash, g_bytes_equal,
                                     (GDestroyNotify) g_bytes_unref, g_free);
  g_mutex_init (&memo->lock);
  memo->prefix = EVP_MD_CTX_new ();
  EVP_DigestInit_ex (memo->prefix, EVP_sha256 (), NULL);
  /* The version string keeps these keys apart from batch keys, and from
   * a later layout of this one. */
  EVP_DigestUpdate (memo->prefix, "sutra-memo 1\n", 13);
  EVP_DigestUpdate (memo->prefix, fingerprint, SUTRA_DIGEST_SIZE);
  EVP_DigestUpdate (memo->prefix, &salt_length, sizeof salt_length);
  if (salt != NULL)
    EVP_DigestUpdate (memo->prefix, salt, strlen (salt));
  /* Which members are keyed is part of the key: a plugin that starts
   * reading one more member must not find entries made without it. */
  for (guint i = 0; memo->meta_keys != NULL && memo->meta_keys[i] != NULL; i++)
    EVP_DigestUpdate (memo->prefix, memo->meta_keys[i], strlen (memo->meta_keys[i]) + 1);
  EVP_DigestUpdate (memo->prefix, memo->meta_keys != NULL ? "K" : "A", 1);
  return memo;
}

void
sutra_memo_free (SutraMemo *memo)
{
  if (memo == NULL)
    return;
  EVP_MD_CTX_free (memo->prefix);
  g_strfreev (memo->meta_keys);
  g_hash_table_unref (memo->own);
  g_mutex_clear (&memo->lock);
  g_free (memo);
}

/* JSON text, canonical ------------------------------------------------------ */

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (a, b);
}

static void
write_string (GString *out, const char *text)
{
  g_string_append_c (out, '"');
  for (const char *p = text; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (c == '"' || c == '\\')
        {
          g_string_append_c (out, '\\');
          g_string_append_c (out, c);
        }
      else if (c < 0x20)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_c (out, c);
    }
  g_string_append_c (out, '"');
}

/* @node as JSON, members sorted by name, so that two objects with the
 * same members give the same text whatever their order. Written by hand,
 * not by a JsonGenerator: a generator takes references to the objects it
 * writes, and json-glib's reference counts are not atomic, while an input
 * item may be read by another stage's thread at the same time. A double
 * always has a point or an exponent, so that it reads back as a double. */
static void write_object (GString *out, JsonObject *object);

static void
write_node (GString *out, JsonNode *node)
{
  switch (node != NULL ? JSON_NODE_TYPE (node) : JSON_NODE_NULL)
    {
    case JSON_NODE_NULL:
      g_string_append (out, "null");
      break;
    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_STRING:
          write_string (out, json_node_get_string (node));
          break;
        case G_TYPE_BOOLEAN:
          g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
          break;
        case G_TYPE_DOUBLE:
          {
            char buffer[G_ASCII_DTOSTR_BUF_SIZE];
            double value = json_node_get_double (node);

            if (!isfinite (value))
              {
                g_string_append (out, "null");
                break;
              }
            g_ascii_dtostr (buffer, sizeof buffer, value);
            g_string_append (out, buffer);
            if (strpbrk (buffer, ".eE") == NULL)
              g_string_append (out, ".0");
          }
          break;
        default:
          g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
          break;
        }
      break;
    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint n = json_array_get_length (array);

        g_string_append_c (out, '[');
        for (guint i = 0; i < n; i++)
          {
            if (i > 0)
              g_string_append_c (out, ',');
            write_node (out, json_array_get_element (array, i));
          }
        g_string_append_c (out, ']');
      }
      break;
    case JSON_NODE_OBJECT:
      write_object (out, json_node_get_object (node));
      break;
    }
}

static void
write_object (GString *out, JsonObject *object)
{
  GList *names = g_list_sort (json_object_get_members (object), compare_names);

  g_string_append_c (out, '{');
  for (GList *l = names; l != NULL; l = l->next)
    {
      if (l != names)
        g_string_append_c (out, ',');
      write_string (out, l->data);
      g_string_append_c (out, ':');
      write_node (out, json_object_get_member (object, l->data));
    }
  g_string_append_c (out, '}');
  g_list_free (names);
}

/* Keys -------------------------------------------------------------------- */

void
sutra_memo_key (SutraMemo *memo, const SutraItem *item, guint8 key[SUTRA_DIGEST_SIZE])
{
  g_autoptr (EVP_MD_CTX) context = EVP_MD_CTX_new ();
  g_autoptr (GString) meta = g_string_new (NULL);
  const char *media_type = item->media_type != NULL ? item->media_type : "";
  guint64 size = GUINT64_TO_LE ((guint64) item->size);
  guint64 meta_length;

  EVP_MD_CTX_copy_ex (context, memo->prefix);
  EVP_DigestUpdate (context, media_type, strlen (media_type) + 1);
  EVP_DigestUpdate (context, &size, sizeof size);
  EVP_DigestUpdate (context, sutra_item_get_data (item, NULL), item->size);
  if (memo->meta_keys == NULL)
    {
      if (item->meta != NULL)
        write_object (meta, item->meta);
    }
  else
    for (guint i = 0; memo->meta_keys[i] != NULL; i++)
      {
        JsonNode *member =
          item->meta != NULL ? json_object_get_member (item->meta, memo->meta_keys[i]) : NULL;

        /* Absent and null differ: "-" for the one, "null" for the other. */
        if (member == NULL)
          g_string_append_c (meta, '-');
        else
          write_node (meta, member);
        g_string_append_c (meta, '\n');
      }
  meta_length = GUINT64_TO_LE ((guint64) meta->len);
  EVP_DigestUpdate (context, &meta_length, sizeof meta_length);
  EVP_DigestUpdate (context, meta->str, meta->len);
  EVP_DigestFinal_ex (context, key, NULL);
}

/* Entries ----------------------------------------------------------------- */

static void
put_u32 (GByteArray *body, gsize value)
{
  guint32 le = GUINT32_TO_LE ((guint32) value);

  g_byte_array_append (body, (const guint8 *) &le, sizeof le);
}

/* What @output's metadata changed of @input's: the members it set (new,
 * or with another value) and those it removed, as JSON; NULL when it
 * changed nothing. */
static GString *
meta_changes (const SutraItem *input, const SutraItem *output)
{
  g_autoptr (GString) set = g_string_new (NULL);
  g_autoptr (GString) unset = g_string_new (NULL);
  g_autoptr (GString) before = g_string_new (NULL);
  g_autoptr (GString) after = g_string_new (NULL);
  GString *changes;
  GList *names;

  if (output->meta == input->meta)
    return NULL;
  /* No metadata at all, rather than an empty object. */
  if (output->meta == NULL)
    return g_string_new ("{\"clear\":true}");
  names = output->meta != NULL ? g_list_sort (json_object_get_members (output->meta), compare_names)
                               : NULL;
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *was = input->meta != NULL ? json_object_get_member (input->meta, l->data) : NULL;

      g_string_truncate (after, 0);
      write_node (after, json_object_get_member (output->meta, l->data));
      if (was != NULL)
        {
          g_string_truncate (before, 0);
          write_node (before, was);
          if (g_string_equal (before, after))
            continue;
        }
      g_string_append_c (set, set->len > 0 ? ',' : '{');
      write_string (set, l->data);
      g_string_append_c (set, ':');
      g_string_append_len (set, after->str, after->len);
    }
  g_list_free (names);
  names =
    input->meta != NULL ? g_list_sort (json_object_get_members (input->meta), compare_names) : NULL;
  for (GList *l = names; l != NULL; l = l->next)
    if (output->meta == NULL || !json_object_has_member (output->meta, l->data))
      {
        g_string_append_c (unset, unset->len > 0 ? ',' : '[');
        write_string (unset, l->data);
      }
  g_list_free (names);
  if (set->len == 0 && unset->len == 0)
    return NULL;
  changes = g_string_new ("{\"set\":");
  g_string_append (changes, set->len > 0 ? set->str : "{");
  g_string_append (changes, "},\"unset\":");
  g_string_append (changes, unset->len > 0 ? unset->str : "[");
  g_string_append (changes, "]}");
  return changes;
}

gboolean
sutra_memo_save (SutraMemo *memo,
                 const guint8 key[SUTRA_DIGEST_SIZE],
                 const SutraItem *input,
                 const SutraItem *output,
                 GError **error)
{
  g_autoptr (GByteArray) body = g_byte_array_new ();
  g_autoptr (GBytes) bytes = NULL;
  SutraStoreLocation location;

  if (output == input)
    g_byte_array_append (body, (const guint8 *) "P", 1); /* MEMO_PASSED */
  else
    {
      const char *media_type = output->media_type != NULL ? output->media_type : "";
      g_autoptr (GString) changes = meta_changes (input, output);

      g_byte_array_append (body, (const guint8 *) "D", 1); /* MEMO_DERIVED */
      put_u32 (body, strlen (media_type));
      g_byte_array_append (body, (const guint8 *) media_type, strlen (media_type));
      put_u32 (body, changes != NULL ? changes->len : 0);
      if (changes != NULL)
        g_byte_array_append (body, (const guint8 *) changes->str, changes->len);
      g_byte_array_append (body, sutra_item_get_data (output, NULL), output->size);
    }
  bytes = g_byte_array_free_to_bytes (g_steal_pointer (&body));
  if (!sutra_store_put (memo->store, key, bytes, &location, error))
    return FALSE;
  g_mutex_lock (&memo->lock);
  if (g_hash_table_size (memo->own) >= MEMO_OWN_MAX)
    g_hash_table_remove_all (memo->own);
  g_hash_table_replace (memo->own, g_bytes_new (key, SUTRA_DIGEST_SIZE),
                        g_memdup2 (&location, sizeof location));
  g_mutex_unlock (&memo->lock);
  return TRUE;
}

static gboolean
get_u32 (const guint8 **p, const guint8 *end, guint32 *value)
{
  if (end - *p < 4)
    return FALSE;
  memcpy (value, *p, 4);
  *value = GUINT32_FROM_LE (*value);
  *p += 4;
  return TRUE;
}

/* Applies the changes an entry recorded to @output's own copy of its
 * input's metadata. FALSE when they are not what sutra_memo_save() writes. */
static gboolean
apply_changes (SutraItem *output, const char *text, gsize length)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *changes, *set, *meta;
  JsonArray *unset;
  JsonNode *root;
  GList *names;

  if (!json_parser_load_from_data (parser, text, length, NULL))
    return FALSE;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return FALSE;
  changes = json_node_get_object (root);
  if (json_object_has_member (changes, "clear"))
    {
      sutra_item_set_meta (output, NULL);
      return TRUE;
    }
  if (!json_object_has_member (changes, "set") || !json_object_has_member (changes, "unset") ||
      !JSON_NODE_HOLDS_OBJECT (json_object_get_member (changes, "set")) ||
      !JSON_NODE_HOLDS_ARRAY (json_object_get_member (changes, "unset")))
    return FALSE;
  set = json_object_get_object_member (changes, "set");
  unset = json_object_get_array_member (changes, "unset");
  meta = sutra_item_ensure_meta (output);
  names = json_object_get_members (set);
  for (GList *l = names; l != NULL; l = l->next)
    json_object_set_member (meta, l->data, json_node_copy (json_object_get_member (set, l->data)));
  g_list_free (names);
  for (guint i = 0; i < json_array_get_length (unset); i++)
    {
      JsonNode *name = json_array_get_element (unset, i);

      if (!JSON_NODE_HOLDS_VALUE (name) || json_node_get_value_type (name) != G_TYPE_STRING)
        return FALSE;
      json_object_remove_member (meta, json_node_get_string (name));
    }
  return TRUE;
}

SutraItem *
sutra_memo_lookup (SutraMemo *memo, const guint8 key[SUTRA_DIGEST_SIZE], SutraItem *input)
{
  g_autoptr (GBytes) lookup = g_bytes_new_static (key, SUTRA_DIGEST_SIZE);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (SutraItem) output = NULL;
  SutraStoreLocation location;
  SutraStoreLocation *own;
  const guint8 *p, *end, *media, *changes;
  guint32 media_length, changes_length;
  gboolean found;
  gsize size;

  g_mutex_lock (&memo->lock);
  own = g_hash_table_lookup (memo->own, lookup);
  if (own != NULL)
    location = *own;
  g_mutex_unlock (&memo->lock);
  found = own != NULL || sutra_store_lookup (memo->store, key, &location);
  if (!found)
    return NULL;
  body = sutra_store_get (memo->store, key, &location, NULL);
  if (body == NULL)
    return NULL;
  p = g_bytes_get_data (body, &size);
  end = p + size;
  if (size == 1 && p[0] == MEMO_PASSED)
    return sutra_item_ref (input);
  if (size < 1 || p[0] != MEMO_DERIVED)
    return NULL;
  p++;
  if (!get_u32 (&p, end, &media_length) || (gsize) (end - p) < media_length)
    return NULL;
  media = p;
  p += media_length;
  if (!get_u32 (&p, end, &changes_length) || (gsize) (end - p) < changes_length)
    return NULL;
  changes = p;
  p += changes_length;
  {
    g_autofree char *media_type = g_strndup ((const char *) media, media_length);

    if (memchr (media, '\0', media_length) != NULL)
      return NULL;
    gsize offset = p - (const guint8 *) g_bytes_get_data (body, NULL);

    output = sutra_item_new_derived (input, media_length > 0 ? media_type : NULL,
                                     g_bytes_new_from_bytes (body, offset, end - p));
  }
  if (changes_length > 0 && !apply_changes (output, (const char *) changes, changes_length))
    return NULL;
  return g_steal_pointer (&output);
}
