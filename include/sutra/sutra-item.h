/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraItem: the unit that flows through a pipeline. */

#pragma once

#if !defined(SUTRA_INSIDE) && !defined(SUTRA_COMPILATION)
#error "Include <sutra/sutra.h>, not this header."
#endif

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * SutraItem:
 *
 * An immutable, reference-counted item: an id, a position path, a payload
 * (bytes and a media type) and optional metadata (a JSON object).
 *
 * The id is a display name (`book/0003/0012`); the position path is what
 * orders items: the source position, then the child index at every split.
 * Two items compare by their paths, never by their ids, so ten million lines
 * order right whatever the padding of their ids.
 *
 * An item is immutable once it has been pushed to a #SutraOutput: the engine
 * may hand the same item to several downstream stages at once. To change
 * one, make a new item with sutra_item_new_derived().
 */
typedef struct _SutraItem SutraItem;

/**
 * SUTRA_ITEM_MAX_DEPTH:
 *
 * The deepest position path an item may have: a source position and up to
 * 65534 levels of children below it. Paths are stored at their own length,
 * so the limit costs nothing; it is the width of the depth field. A split
 * that would go deeper fails its call (sutra_item_new_child() returns %NULL
 * and the engine fails the stage), and validation refuses a pipeline whose
 * chain of splits is deeper.
 */
#define SUTRA_ITEM_MAX_DEPTH 65535

/* Media types used by the plugins of this project. */
#define SUTRA_MEDIA_TEXT_PLAIN "text/plain"
#define SUTRA_MEDIA_TEXT_MARKDOWN "text/markdown"
#define SUTRA_MEDIA_EPUB "application/epub+zip"
#define SUTRA_MEDIA_AUDIO_F32 "audio/x-raw-f32"
#define SUTRA_MEDIA_OCTETS "application/octet-stream"

/**
 * sutra_item_new_root:
 * @id: the item's display id; a source's own naming (a file's base name, a
 *   JSONL record's `id`)
 * @position: the item's position in its source's output
 * @media_type: (nullable): the payload's media type; %NULL means text/plain
 * @payload: (transfer full) (nullable): the payload; %NULL means empty
 *
 * Makes an item at depth 1, as a source does. The path is `[position]`.
 *
 * Returns: (transfer full): a new item
 */
SUTRA_API SutraItem *sutra_item_new_root (const char *id,
                                          guint64 position,
                                          const char *media_type,
                                          GBytes *payload);

/**
 * sutra_item_new_root_from_data:
 * @id: the item's display id
 * @position: the item's position in its source's output
 * @media_type: (nullable): the payload's media type; %NULL means text/plain
 * @data: (array length=size) (nullable): the payload's bytes, copied; %NULL
 *   only with a @size of 0
 * @size: the payload's size in bytes
 *
 * As sutra_item_new_root(), with a copy of @data as the payload, kept in the
 * item's own allocation: one allocation for the item and its payload, where
 * a #GBytes costs two more. The way to make many small items (a line, a
 * sentence); for a large payload already in a buffer of its own,
 * sutra_item_new_root() with g_bytes_new_take() avoids the copy.
 * sutra_item_get_data() reads the bytes in place; sutra_item_get_payload()
 * makes a #GBytes copy on its first call.
 *
 * Returns: (transfer full): a new item
 */
SUTRA_API SutraItem *sutra_item_new_root_from_data (const char *id,
                                                    guint64 position,
                                                    const char *media_type,
                                                    const void *data,
                                                    gsize size);

/**
 * sutra_item_new_child:
 * @parent: the item being split
 * @index: the child's index among its parent's children, from 0
 * @media_type: (nullable): the payload's media type; %NULL means text/plain
 * @payload: (transfer full) (nullable): the payload
 *
 * Makes child @index of @parent, as a split does. The child's id is the
 * parent's id, a slash and the index padded to four digits (`book/0003`); its
 * path is the parent's path with @index appended. The metadata is not
 * inherited: copy what should travel with sutra_item_dup_meta().
 *
 * Returns: (transfer full): a new item
 */
SUTRA_API SutraItem *sutra_item_new_child (const SutraItem *parent,
                                           guint64 index,
                                           const char *media_type,
                                           GBytes *payload);

/**
 * sutra_item_new_child_from_data:
 * @parent: the item being split
 * @index: the child's index among its parent's children, from 0
 * @media_type: (nullable): the payload's media type; %NULL means text/plain
 * @data: (array length=size) (nullable): the payload's bytes, copied; %NULL
 *   only with a @size of 0
 * @size: the payload's size in bytes
 *
 * As sutra_item_new_child(), with a copy of @data in the item's own
 * allocation (see sutra_item_new_root_from_data()).
 *
 * Returns: (transfer full): a new item
 */
SUTRA_API SutraItem *sutra_item_new_child_from_data (const SutraItem *parent,
                                                     guint64 index,
                                                     const char *media_type,
                                                     const void *data,
                                                     gsize size);

/**
 * sutra_item_new_derived:
 * @source: the item a map turns into another
 * @media_type: (nullable): the new media type; %NULL keeps @source's
 * @payload: (transfer full) (nullable): the new payload; %NULL keeps @source's
 *
 * Makes an item with the id and path of @source, as a map does. The
 * metadata is shared copy-on-write: sutra_item_get_meta() sees @source's
 * until sutra_item_ensure_meta() gives the new item a copy of its own.
 *
 * Returns: (transfer full): a new item
 */
SUTRA_API SutraItem *sutra_item_new_derived (const SutraItem *source,
                                             const char *media_type,
                                             GBytes *payload);

/**
 * sutra_item_new_derived_from_data:
 * @source: the item a map turns into another
 * @media_type: (nullable): the new media type; %NULL keeps @source's
 * @data: (array length=size) (nullable): the new payload's bytes, copied;
 *   %NULL only with a @size of 0
 * @size: the payload's size in bytes
 *
 * As sutra_item_new_derived() with a new payload, copied into the item's own
 * allocation (see sutra_item_new_root_from_data()).
 *
 * Returns: (transfer full): a new item
 */
SUTRA_API SutraItem *sutra_item_new_derived_from_data (const SutraItem *source,
                                                       const char *media_type,
                                                       const void *data,
                                                       gsize size);

/**
 * sutra_item_new_parent:
 * @child: a member of the group a gather joins
 * @media_type: (nullable): the payload's media type; %NULL means text/plain
 * @payload: (transfer full) (nullable): the payload
 *
 * Makes the item that stands for the parent of @child, as a gather does:
 * its path is @child's without the last position, its id @child's without
 * the last `/NNNN`. No metadata: copy what should travel.
 *
 * Returns: (transfer full): a new item
 */
SUTRA_API SutraItem *sutra_item_new_parent (const SutraItem *child,
                                            const char *media_type,
                                            GBytes *payload);

/**
 * sutra_item_ref:
 *
 * Takes a reference, from any thread: on an item the caller holds a
 * reference to, or borrows (the items a process() call is given).
 *
 * Returns: (transfer full): @item
 */
SUTRA_API SutraItem *sutra_item_ref (SutraItem *item);

/**
 * sutra_item_unref:
 * @item: (transfer full) (nullable): an item
 *
 * Drops a reference, from any thread. The caller must not be lending @item
 * to another thread meanwhile (as for any reference count).
 */
SUTRA_API void sutra_item_unref (SutraItem *item);

/**
 * sutra_item_get_id:
 *
 * Returns: (transfer none): the display id
 */
SUTRA_API const char *sutra_item_get_id (const SutraItem *item);

/**
 * sutra_item_get_depth:
 *
 * Returns: the number of positions in the item's path (1 for a source item)
 */
SUTRA_API guint sutra_item_get_depth (const SutraItem *item);

/**
 * sutra_item_get_position:
 * @level: from 0 (the source position) to depth - 1 (the item's own index)
 *
 * Returns: the position at @level of the item's path
 */
SUTRA_API guint64 sutra_item_get_position (const SutraItem *item, guint level);

/**
 * sutra_item_get_index:
 *
 * Returns: the last position of the path: the index among the siblings
 */
SUTRA_API guint64 sutra_item_get_index (const SutraItem *item);

/**
 * sutra_item_compare:
 *
 * Orders two items by their position paths: lexicographically, a path
 * before the paths it is a prefix of.
 *
 * Returns: negative, 0 or positive, as strcmp()
 */
SUTRA_API int sutra_item_compare (const SutraItem *a, const SutraItem *b);

/**
 * sutra_item_get_media_type:
 *
 * Returns: (transfer none): the payload's media type
 */
SUTRA_API const char *sutra_item_get_media_type (const SutraItem *item);

/**
 * sutra_item_get_payload:
 *
 * The payload as a #GBytes. An item made from data
 * (sutra_item_new_root_from_data() and the like) keeps its bytes in its own
 * allocation and makes the #GBytes, a copy, on the first call: to read the
 * bytes, sutra_item_get_data() is cheaper.
 *
 * Returns: (transfer none): the payload; never %NULL (an empty payload has
 *   size 0). It is bytes with a length, not a string: it may hold U+0000 and
 *   is not NUL-terminated.
 */
SUTRA_API GBytes *sutra_item_get_payload (const SutraItem *item);

/**
 * sutra_item_get_data:
 * @size: (out) (optional): the payload's size in bytes
 *
 * The payload's bytes, valid as long as @item. They are not NUL-terminated
 * and may hold U+0000: use @size, never strlen().
 *
 * Returns: (transfer none) (array length=size): the payload's bytes; never
 *   %NULL, also for an empty payload, which gives a pointer that must not
 *   be read, and a @size of 0 (so memcpy (dst, data, size) is always
 *   valid)
 */
SUTRA_API const guint8 *sutra_item_get_data (const SutraItem *item, gsize *size);

/**
 * sutra_item_take_payload_fd:
 * @item: an item not yet pushed, which no one else holds
 * @fd: (transfer full): a regular file open for reading, whose whole
 *   content is the payload; the item closes it
 * @error: where a failure is reported
 *
 * Makes @item's payload the content of a file, which stays on disk rather
 * than in memory: the way to push a payload too large to hold (a chapter
 * of encoded audio). Write the file in the stage's
 * #SutraStageContext.work_dir, unlink it, and give its descriptor: it goes
 * away with the last item that refers to it. The file must not change
 * afterwards. The engine records it in the job's store a block at a time;
 * a consumer reads it a block at a time with sutra_item_read_payload().
 * sutra_item_get_payload() and sutra_item_get_data() still work, by reading
 * the file whole into memory on the first call.
 *
 * Returns: %FALSE with @error set when @fd is not a regular file (it is
 *   closed all the same). Since: ABI 2.3
 */
SUTRA_API gboolean sutra_item_take_payload_fd (SutraItem *item, int fd, GError **error);

/**
 * sutra_item_get_payload_size:
 *
 * The payload's size, without reading a payload that is in a file.
 *
 * Returns: the size in bytes. Since: ABI 2.3
 */
SUTRA_API guint64 sutra_item_get_payload_size (const SutraItem *item);

/**
 * sutra_item_payload_is_file:
 *
 * Returns: %TRUE when the payload is in a file (sutra_item_take_payload_fd()):
 *   sutra_item_get_data() would read it whole into memory, where
 *   sutra_item_read_payload() reads a block at a time. Since: ABI 2.3
 */
SUTRA_API gboolean sutra_item_payload_is_file (const SutraItem *item);

/**
 * sutra_item_read_payload:
 * @offset: where to start, in bytes from the payload's start
 * @buffer: (out caller-allocates) (array length=size): where the bytes go
 * @size: the most bytes to read
 * @error: where a failure is reported
 *
 * Copies part of the payload, wherever it is: the way to read a large
 * payload a block at a time. Safe from several threads at once.
 *
 * Returns: the bytes copied, fewer than @size only at the payload's end
 *   (0 at or past it), or -1 with @error set when the payload's file cannot
 *   be read. Since: ABI 2.3
 */
SUTRA_API gssize sutra_item_read_payload (const SutraItem *item,
                                          guint64 offset,
                                          void *buffer,
                                          gsize size,
                                          GError **error);

/**
 * sutra_item_get_meta:
 *
 * Returns: (transfer none) (nullable): the metadata, or %NULL when the item
 *   has none (plain items allocate no JSON object). Do not modify it.
 */
SUTRA_API JsonObject *sutra_item_get_meta (const SutraItem *item);

/**
 * sutra_item_ensure_meta:
 *
 * Gives a new item (one not yet pushed) metadata of its own to modify:
 * an empty object, or a copy of the metadata it shared with its source.
 *
 * Returns: (transfer none): the item's own, writable metadata
 */
SUTRA_API JsonObject *sutra_item_ensure_meta (SutraItem *item);

/**
 * sutra_item_set_meta:
 * @meta: (transfer full) (nullable): the new metadata
 *
 * Replaces the metadata of a new item (one not yet pushed).
 */
SUTRA_API void sutra_item_set_meta (SutraItem *item, JsonObject *meta);

/**
 * sutra_item_dup_meta:
 *
 * Returns: (transfer full) (nullable): a deep copy of the metadata, or %NULL
 */
SUTRA_API JsonObject *sutra_item_dup_meta (const SutraItem *item);

/* Convenience lookups into the metadata; they return @fallback when the
 * item has no metadata, no such member, or a member of another type. */
SUTRA_API const char *sutra_item_get_meta_string (const SutraItem *item,
                                                  const char *name,
                                                  const char *fallback);
SUTRA_API gint64 sutra_item_get_meta_int (const SutraItem *item, const char *name, gint64 fallback);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraItem, sutra_item_unref)

G_END_DECLS
