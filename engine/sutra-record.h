/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraRecord: a batch's outputs as bytes, for the store, and back. */

#pragma once

#include "sutra-item-private.h"

G_BEGIN_DECLS

/* Encodes @items (data items and markers, with their lineages) as one
 * record body. An item's id, path, metadata or payload that is one of
 * @inputs' (the batch's data items, which made @items) is recorded as a
 * reference to it, not copied: a stage that passes its inputs on stores
 * a few bytes per item. The format is private to the store and versioned
 * by the store's own header. */
GBytes *sutra_record_encode (GPtrArray *items, GPtrArray *inputs);

/* The same body as sutra_record_encode(), in pieces to be written one
 * after the other: a payload of 64 KiB or more, and every payload in a
 * file, is a piece of its own that refers to the item's bytes or file
 * rather than copying them. Returns: (transfer full): the pieces
 * (SutraStorePiece, for sutra_store_put_pieces()). */
GPtrArray *sutra_record_encode_pieces (GPtrArray *items, GPtrArray *inputs);

/* Encodes items one at a time, as they are made, in the format of
 * sutra_record_encode() (items passed on from @inputs take an entry each:
 * a split's children, which this is for, are never passed on). A split
 * streams its children downstream: each is encoded before it is sent,
 * while no other thread can touch it (json-glib's reference counts are
 * not atomic, and encoding metadata takes a reference). */
typedef struct _SutraRecordWriter SutraRecordWriter;

SutraRecordWriter *sutra_record_writer_new (GPtrArray *inputs);
void sutra_record_writer_add (SutraRecordWriter *writer, SutraItem *item);
gsize sutra_record_writer_get_size (SutraRecordWriter *writer);
guint64 sutra_record_writer_get_n_items (SutraRecordWriter *writer);
/* Returns: (transfer full): the body; frees @writer. */
GBytes *sutra_record_writer_finish (SutraRecordWriter *writer);
void sutra_record_writer_free (SutraRecordWriter *writer);

/* Decodes a body made by sutra_record_encode() with inputs equal to
 * @inputs (the same batch key guarantees it). Returns: (transfer full):
 * the items, or NULL with @error set when the body is malformed. */
GPtrArray *sutra_record_decode (GBytes *body, GPtrArray *inputs, GError **error);

/* The same for a body that lies at @body_offset of the file @fd (not
 * taken; sutra_store_get_body() gives both): a payload of 64 KiB or more
 * stays in the file, its item's payload a file (a chapter of audio, on
 * resume, is not read into memory). */
GPtrArray *sutra_record_decode_in_file (GBytes *body,
                                        GPtrArray *inputs,
                                        int fd,
                                        guint64 body_offset,
                                        GError **error);

G_END_DECLS
