/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* EPUB 2 and 3: container, OPF spine, NCX or nav TOC, XHTML text. */

#include "segmenter.h"

#include <archive.h>
#include <archive_entry.h>
#include <libxml/HTMLparser.h>
#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlDoc, xmlFreeDoc)

#define MAX_ENTRIES 20000

typedef struct
{
  const char *where;
  GHashTable *files;    /* entry name → GBytes */
  GHashTable *manifest; /* id → ManifestItem */
  char *opf_dir;
  GPtrArray *spine;    /* ManifestItem (borrowed from manifest), reading order */
  GArray *toc;         /* TocEntry */
  gboolean stripped;   /* Gutenberg blocks were left out */
  GHashTable *special; /* entry name → what it is: links and the like, not read */
  GError *refused;     /* the first document refused as hostile */
  gint64 expanded;     /* bytes the archive's entries expanded to */
  /* Where the book says its cover is, best first (read_package): archive
   * paths, and why the first unusable one cannot be used. */
  GPtrArray *cover_paths;
  char *cover_note;
} Epub;

typedef struct
{
  char *id;
  char *path; /* resolved against the OPF's folder */
  char *media_type;
  char *properties;
  gboolean linear;
} ManifestItem;

typedef struct
{
  char *title;
  char *path;     /* the spine document */
  char *fragment; /* nullable */
  guint level;
  gsize offset;
  gboolean resolved;
  gboolean in_boilerplate; /* it points into stripped Gutenberg text */
} TocEntry;

static void
manifest_item_free (ManifestItem *item)
{
  g_free (item->id);
  g_free (item->path);
  g_free (item->media_type);
  g_free (item->properties);
  g_free (item);
}

static void
toc_entry_clear (TocEntry *entry)
{
  g_free (entry->title);
  g_free (entry->path);
  g_free (entry->fragment);
}

static void
epub_clear (Epub *epub)
{
  g_clear_pointer (&epub->files, g_hash_table_unref);
  g_clear_pointer (&epub->manifest, g_hash_table_unref);
  g_clear_pointer (&epub->opf_dir, g_free);
  g_clear_pointer (&epub->spine, g_ptr_array_unref);
  g_clear_pointer (&epub->toc, g_array_unref);
  g_clear_pointer (&epub->special, g_hash_table_unref);
  g_clear_error (&epub->refused);
  g_clear_pointer (&epub->cover_paths, g_ptr_array_unref);
  g_clear_pointer (&epub->cover_note, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Epub, epub_clear)

/* Images, fonts, style sheets and media are never read: skipping them
 * costs nothing, and a bomb hidden in one is never expanded. */
static gboolean
is_skipped_asset (const char *name)
{
  static const char *const suffixes[] = {
    ".jpg", ".jpeg", ".png",  ".gif",   ".webp", ".bmp", ".tif", ".tiff", ".svg", ".css",
    ".ttf", ".otf",  ".woff", ".woff2", ".mp3",  ".mp4", ".m4a", ".ogg",  ".wav", ".js",
  };
  g_autofree char *lower = g_ascii_strdown (name, -1);

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    if (g_str_has_suffix (lower, suffixes[i]))
      return TRUE;
  return FALSE;
}

/* "a/./b/../c" to "a/c"; NULL when it climbs out of the archive. */
static char *
normalize_path (const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  g_autoptr (GPtrArray) kept = g_ptr_array_new ();

  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (parts[i][0] == '\0' || strcmp (parts[i], ".") == 0)
        continue;
      if (strcmp (parts[i], "..") == 0)
        {
          if (kept->len == 0)
            return NULL;
          g_ptr_array_remove_index (kept, kept->len - 1);
          continue;
        }
      g_ptr_array_add (kept, parts[i]);
    }
  g_ptr_array_add (kept, NULL);
  return g_strjoinv ("/", (char **) kept->pdata);
}

/* An href relative to @base_dir: percent-decoded, without its fragment,
 * which goes to @fragment. */
static char *
resolve_href (const char *base_dir, const char *href, char **fragment)
{
  g_autofree char *copy = g_strdup (href);
  g_autofree char *unescaped = NULL;
  g_autofree char *joined = NULL;
  char *hash = strchr (copy, '#');

  if (fragment != NULL)
    *fragment = NULL;
  if (hash != NULL)
    {
      *hash = '\0';
      if (fragment != NULL && hash[1] != '\0')
        *fragment = g_uri_unescape_string (hash + 1, NULL);
    }
  unescaped = g_uri_unescape_string (copy, NULL);
  if (unescaped == NULL)
    unescaped = g_strdup (copy);
  if (unescaped[0] == '/')
    joined = g_strdup (unescaped + 1);
  else if (base_dir[0] != '\0')
    joined = g_strconcat (base_dir, "/", unescaped, NULL);
  else
    joined = g_strdup (unescaped);
  return normalize_path (joined);
}

static char *
dir_of (const char *path)
{
  const char *slash = strrchr (path, '/');

  return slash != NULL ? g_strndup (path, (gsize) (slash - path)) : g_strdup ("");
}

static gboolean
read_archive (Epub *epub, const guint8 *data, gsize size, gint64 max_expanded, GError **error)
{
  struct archive *archive = archive_read_new ();
  struct archive_entry *entry;
  gint64 expanded = 0;
  guint n_entries = 0;
  gboolean ok = FALSE;
  int status;

  archive_read_support_format_zip (archive);
  if (archive_read_open_memory (archive, data, size) != ARCHIVE_OK)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: not an EPUB: not a zip archive (%s)", epub->where,
                   archive_error_string (archive) != NULL ? archive_error_string (archive)
                                                          : "unrecognised data");
      goto out;
    }
  while ((status = archive_read_next_header (archive, &entry)) == ARCHIVE_OK ||
         status == ARCHIVE_WARN)
    {
      const char *raw_name = archive_entry_pathname_utf8 (entry);
      g_autofree char *name = NULL;
      g_autoptr (GByteArray) bytes = NULL;

      if (raw_name == NULL)
        raw_name = archive_entry_pathname (entry);
      if (++n_entries > MAX_ENTRIES)
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "%s: the archive has more than %d entries: not a book", epub->where,
                       MAX_ENTRIES);
          goto out;
        }
      if (raw_name == NULL)
        continue;
      name = normalize_path (raw_name);
      /* Links, devices and the like are never read nor followed (the
       * archive is never extracted to disk, so "../" in a name reaches
       * nothing either: normalize_path drops such names). A document
       * naming one is told what it is. */
      if (archive_entry_filetype (entry) != AE_IFREG)
        {
          if (name != NULL && archive_entry_filetype (entry) != AE_IFDIR)
            g_hash_table_replace (epub->special, g_steal_pointer (&name),
                                  archive_entry_filetype (entry) == AE_IFLNK ? "a symbolic link"
                                                                             : "a special file");
          continue;
        }
      if (name == NULL || is_skipped_asset (name))
        continue;
      /* A size in the header is checked first; the bytes read are counted
       * too, since a header can lie. */
      if (archive_entry_size_is_set (entry) && archive_entry_size (entry) > max_expanded - expanded)
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "%s: entry “%s” expands to %" G_GINT64_FORMAT " bytes, past the limit of "
                       "%" G_GINT64_FORMAT " bytes (max_expanded_bytes): a zip bomb, or raise "
                       "the limit for a genuinely large book",
                       epub->where, name, (gint64) archive_entry_size (entry), max_expanded);
          goto out;
        }
      bytes = g_byte_array_new ();
      for (;;)
        {
          guint8 buffer[65536];
          la_ssize_t n = archive_read_data (archive, buffer, sizeof buffer);

          if (n == 0)
            break;
          if (n < 0)
            {
              g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                           "%s: entry “%s” of the archive is damaged: %s", epub->where, name,
                           archive_error_string (archive));
              goto out;
            }
          expanded += n;
          if (expanded > max_expanded)
            {
              g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                           "%s: the archive expands past the limit of %" G_GINT64_FORMAT
                           " bytes (max_expanded_bytes) at entry “%s”: a zip bomb, or raise "
                           "the limit for a genuinely large book",
                           epub->where, max_expanded, name);
              goto out;
            }
          g_byte_array_append (bytes, buffer, (guint) n);
        }
      g_hash_table_replace (epub->files, g_steal_pointer (&name),
                            g_byte_array_free_to_bytes (g_steal_pointer (&bytes)));
    }
  epub->expanded = expanded;
  if (status != ARCHIVE_EOF)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: not an EPUB: the zip archive is damaged after %u entries (%s)", epub->where,
                   n_entries, archive_error_string (archive));
      goto out;
    }
  ok = TRUE;

out:
  archive_read_free (archive);
  return ok;
}

/* libxml2 calls this for &nbsp; and the like, which XHTML files use without
 * the DTD that declares them: the HTML entity table resolves them. */
static xmlEntityPtr
get_entity (void *user_data, const xmlChar *name)
{
  xmlParserCtxtPtr ctxt = user_data;
  xmlEntityPtr entity = xmlSAX2GetEntity (ctxt, name);
  const htmlEntityDesc *desc;
  char utf8[8] = { 0 };

  if (entity != NULL)
    return entity;
  desc = htmlEntityLookup (name);
  if (desc == NULL || ctxt->myDoc == NULL)
    return NULL;
  g_unichar_to_utf8 (desc->value, utf8);
  if (ctxt->myDoc->intSubset == NULL)
    xmlCreateIntSubset (ctxt->myDoc, BAD_CAST "html", NULL, NULL);
  return xmlAddDocEntity (ctxt->myDoc, name, XML_INTERNAL_GENERAL_ENTITY, NULL, NULL,
                          BAD_CAST utf8);
}

/* Entities an EPUB document may declare in its DOCTYPE: a few characters
 * of text (<!ENTITY nbsp "&#160;">, as some XHTML does), at most this many
 * bytes. A reference is at least three bytes ("&a;"), so a document grows
 * at most threefold however it uses them. Everything else is refused:
 * external entities read local files or URLs (XXE), parameter entities
 * build declarations, an entity referring to others nests ("billion
 * laughs") and a long one referenced a million times grows quadratically. */
#define MAX_ENTITY_BYTES 8

/* A spine document's <body> is handed over child by child, as the parser
 * completes each, and each child is freed once handed over: the tree never
 * holds more than one child of the body, so a chapter of a million
 * paragraphs costs one paragraph's tree, not ten times the chapter. */
typedef struct
{
  /* When <body> opens, its attributes read: whether to stream it. */
  gboolean (*body_start) (xmlNodePtr body, gpointer user_data);
  void (*child) (xmlNodePtr node, gpointer user_data);
  gpointer user_data;
} BodyStream;

typedef struct
{
  /* The first error libxml2 reports, which is the cause. */
  char *message;
  int line;
  int column;
  /* Why the document was refused and its parse stopped: what it declares. */
  char *refusal;
  int refusal_line;
  const BodyStream *stream; /* nullable */
  xmlNodePtr body;          /* the first <body>, once open */
  gboolean streaming;       /* its children are handed to @stream */
} ParseState;

/* libxml2 reports every error of a parse; the first one is the cause. Its
 * resource limits are said in the book's terms: the advice to pass
 * XML_PARSE_HUGE is for programmers, and sutra never passes it. */
static void
capture_error (void *user_data, xmlErrorPtr error)
{
  xmlParserCtxtPtr ctxt = user_data;
  ParseState *state = ctxt->_private;
  const char *message;

  if (state == NULL || state->message != NULL || error == NULL || error->level < XML_ERR_ERROR)
    return;
  message = error->message != NULL ? error->message : "not well-formed XML";
  if (strstr (message, "Excessive depth in document") != NULL)
    state->message = g_strdup_printf ("elements nested deeper than %u levels, the most sutra "
                                      "reads: a book's markup nests a few dozen",
                                      xmlParserMaxDepth);
  else if (strstr (message, "huge text node") != NULL)
    state->message = g_strdup_printf ("a run of text longer than %d bytes without markup, the "
                                      "most sutra reads in one piece",
                                      XML_MAX_TEXT_LENGTH);
  else
    state->message = g_strchomp (g_strdup (message));
  state->line = error->line;
  state->column = error->int2;
}

static void
refuse (xmlParserCtxtPtr ctxt, char *what)
{
  ParseState *state = ctxt->_private;

  if (state->refusal == NULL)
    {
      state->refusal = what;
      state->refusal_line = xmlSAX2GetLineNumber (ctxt);
    }
  else
    g_free (what);
  xmlStopParser (ctxt);
}

static gboolean
is_short_text (const xmlChar *content)
{
  return content != NULL && strlen ((const char *) content) <= MAX_ENTITY_BYTES &&
         strpbrk ((const char *) content, "&<%") == NULL;
}

/* Every <!ENTITY> of the DOCTYPE's internal subset comes here before
 * libxml2 records it: one that is refused is never declared, so nothing
 * can refer to it, whatever the parser's options. */
static void
check_entity_decl (void *user_data,
                   const xmlChar *name,
                   int type,
                   const xmlChar *public_id,
                   const xmlChar *system_id,
                   xmlChar *content)
{
  xmlParserCtxtPtr ctxt = user_data;

  switch (type)
    {
    case XML_INTERNAL_GENERAL_ENTITY:
      if (is_short_text (content))
        {
          xmlSAX2EntityDecl (user_data, name, type, public_id, system_id, content);
          return;
        }
      refuse (ctxt, g_strdup_printf ("the entity “%s”, whose text is longer than %d bytes or "
                                     "holds markup or references to other entities",
                                     (const char *) name, MAX_ENTITY_BYTES));
      return;
    case XML_EXTERNAL_GENERAL_PARSED_ENTITY:
    case XML_EXTERNAL_GENERAL_UNPARSED_ENTITY:
      refuse (ctxt, g_strdup_printf ("the external entity “%s” (SYSTEM “%s”)", (const char *) name,
                                     system_id != NULL ? (const char *) system_id : ""));
      return;
    default:
      refuse (ctxt, g_strdup_printf ("the parameter entity “%%%s”", (const char *) name));
      return;
    }
}

static void
check_unparsed_entity_decl (void *user_data,
                            const xmlChar *name,
                            const xmlChar *public_id,
                            const xmlChar *system_id,
                            const xmlChar *notation)
{
  refuse (user_data, g_strdup_printf ("the external entity “%s” (SYSTEM “%s”)", (const char *) name,
                                      system_id != NULL ? (const char *) system_id : ""));
}

/* libxml2 asks this for an external resource (a DTD, an entity) when an
 * option or a declaration makes it load one. None does here; should one
 * ever, nothing is read. */
static xmlParserInputPtr
refuse_resolve (void *user_data, const xmlChar *public_id, const xmlChar *system_id)
{
  refuse (user_data, g_strdup_printf ("a reference to the external resource “%s”",
                                      system_id != NULL ? (const char *) system_id : ""));
  return NULL;
}

static void
stream_start_element (void *user_data,
                      const xmlChar *local_name,
                      const xmlChar *prefix,
                      const xmlChar *uri,
                      int n_namespaces,
                      const xmlChar **namespaces,
                      int n_attributes,
                      int n_defaulted,
                      const xmlChar **attributes)
{
  xmlParserCtxtPtr ctxt = user_data;
  ParseState *state = ctxt->_private;

  xmlSAX2StartElementNs (user_data, local_name, prefix, uri, n_namespaces, namespaces, n_attributes,
                         n_defaulted, attributes);
  if (state->body == NULL && ctxt->node != NULL && xmlStrEqual (ctxt->node->name, local_name) &&
      g_ascii_strcasecmp ((const char *) local_name, "body") == 0)
    {
      state->body = ctxt->node;
      state->streaming = state->stream->body_start (state->body, state->stream->user_data);
    }
}

static void
stream_end_element (void *user_data,
                    const xmlChar *local_name,
                    const xmlChar *prefix,
                    const xmlChar *uri)
{
  xmlParserCtxtPtr ctxt = user_data;
  ParseState *state = ctxt->_private;

  xmlSAX2EndElementNs (user_data, local_name, prefix, uri);
  /* A child of the body is complete: it and the text before it go. The
   * body's last child is this element, never a text node the parser may
   * still append to. */
  if (state->streaming && ctxt->node == state->body)
    while (state->body->children != NULL)
      {
        xmlNodePtr child = state->body->children;

        state->stream->child (child, state->stream->user_data);
        xmlUnlinkNode (child);
        xmlFreeNode (child);
      }
}

/*
 * Every document of an EPUB (container, package, NCX, nav, XHTML) is parsed
 * here, as untrusted input: no network (XML_PARSE_NONET), no external DTD
 * (no XML_PARSE_DTDLOAD, and no externalSubset handler at all), no entity
 * substitution (no XML_PARSE_NOENT: references stay nodes, which
 * entity_text reads), no XInclude (no XML_PARSE_XINCLUDE, and
 * xmlXIncludeProcess is never called), no XML_PARSE_HUGE (libxml2 keeps
 * its limits: 256 levels of elements, 10 MB text nodes), and entity
 * declarations checked by check_entity_decl.
 */
static xmlDocPtr
parse_xml (Epub *epub,
           const char *name,
           const BodyStream *stream,
           xmlNodePtr *streamed_body,
           GError **error)
{
  GBytes *bytes = g_hash_table_lookup (epub->files, name);
  xmlParserCtxtPtr ctxt;
  xmlDocPtr doc;
  gsize size;
  const char *data;
  ParseState state = { 0 };

  if (bytes == NULL)
    {
      const char *kind = g_hash_table_lookup (epub->special, name);

      if (kind != NULL)
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                     "%s: the archive's entry “%s” is %s, not a file: sutra reads only the "
                     "files inside the EPUB",
                     epub->where, name, kind);
      else
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                     "%s: the archive has no entry “%s”", epub->where, name);
      return NULL;
    }
  data = g_bytes_get_data (bytes, &size);
  if (size > G_MAXINT)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: entry “%s” is too large to parse", epub->where, name);
      return NULL;
    }
  ctxt = xmlNewParserCtxt ();
  if (ctxt == NULL)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "%s: out of memory parsing “%s”", epub->where, name);
      return NULL;
    }
  ctxt->sax->getEntity = get_entity;
  ctxt->sax->entityDecl = check_entity_decl;
  ctxt->sax->unparsedEntityDecl = check_unparsed_entity_decl;
  ctxt->sax->resolveEntity = refuse_resolve;
  ctxt->sax->externalSubset = NULL;
  ctxt->sax->serror = capture_error;
  if (stream != NULL)
    {
      ctxt->sax->startElementNs = stream_start_element;
      ctxt->sax->endElementNs = stream_end_element;
      state.stream = stream;
    }
  ctxt->_private = &state;
  doc = xmlCtxtReadMemory (ctxt, data, (int) size, name, NULL,
                           XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR |
                             XML_PARSE_NOWARNING);
  if (state.refusal != NULL)
    {
      GError *refusal =
        g_error_new (SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                     "%s: “%s” line %d: the DOCTYPE declares %s: sutra refuses such "
                     "entities, which could read local files or URLs or expand into "
                     "gigabytes; only entities standing for a few characters (at most %d "
                     "bytes of text) are read. Remove the declaration: write the characters "
                     "themselves, or numeric references such as &#160;",
                     epub->where, name, state.refusal_line, state.refusal, MAX_ENTITY_BYTES);

      /* Kept even where the caller ignores errors (a TOC that cannot be
       * read): a hostile document refuses the whole book. */
      if (epub->refused == NULL)
        epub->refused = g_error_copy (refusal);
      g_propagate_error (error, refusal);
    }
  else if (doc == NULL || !ctxt->wellFormed)
    g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                 "%s: malformed XML in “%s” at line %d, column %d: %s", epub->where, name,
                 state.line, state.column,
                 state.message != NULL ? state.message : "not well-formed XML");
  g_free (state.message);
  if (state.refusal != NULL || doc == NULL || !ctxt->wellFormed)
    {
      g_free (state.refusal);
      if (doc != NULL)
        xmlFreeDoc (doc);
      xmlFreeParserCtxt (ctxt);
      return NULL;
    }
  xmlFreeParserCtxt (ctxt);
  if (streamed_body != NULL)
    *streamed_body = state.streaming ? state.body : NULL;
  return doc;
}

/* The text of a reference to one of the document's entities: the HTML
 * entities get_entity declares and the few characters check_entity_decl
 * lets a DOCTYPE declare. Entities are not substituted while parsing, so
 * their references stay in the tree. */
static const char *
entity_text (xmlNodePtr node)
{
  xmlEntityPtr entity = xmlGetDocEntity (node->doc, node->name);

  if (entity == NULL || entity->etype != XML_INTERNAL_GENERAL_ENTITY || entity->content == NULL)
    return NULL;
  return (const char *) entity->content;
}

static gboolean
name_is (xmlNodePtr node, const char *name)
{
  return node->type == XML_ELEMENT_NODE &&
         g_ascii_strcasecmp ((const char *) node->name, name) == 0;
}

static xmlNodePtr
find_element (xmlNodePtr node, const char *name)
{
  for (; node != NULL; node = node->next)
    {
      xmlNodePtr found;

      if (name_is (node, name))
        return node;
      if (node->type == XML_ELEMENT_NODE && (found = find_element (node->children, name)) != NULL)
        return found;
    }
  return NULL;
}

static char *
get_attr (xmlNodePtr node, const char *name)
{
  xmlChar *value = xmlGetProp (node, BAD_CAST name);
  char *copy;

  if (value == NULL)
    return NULL;
  copy = g_strdup ((const char *) value);
  xmlFree (value);
  return copy;
}

/* The text of an element, white space folded. */
static char *
node_text (xmlNodePtr node)
{
  xmlChar *content = xmlNodeGetContent (node);
  char *folded;

  if (content == NULL)
    return g_strdup ("");
  folded = segmenter_fold ((const char *) content,
                           (const char *) content + strlen ((const char *) content));
  xmlFree (content);
  return folded;
}

static gboolean
read_container (Epub *epub, char **opf_path, GError **error)
{
  g_autoptr (xmlDoc) doc = NULL;
  xmlNodePtr node;

  if (!g_hash_table_contains (epub->files, "META-INF/container.xml"))
    {
      /* Be lenient with a missing container when exactly one package
       * document is there. */
      GHashTableIter iter;
      const char *name;
      guint n = 0;

      g_hash_table_iter_init (&iter, epub->files);
      while (g_hash_table_iter_next (&iter, (gpointer *) &name, NULL))
        if (g_str_has_suffix (name, ".opf"))
          {
            *opf_path = g_strdup (name);
            n++;
          }
      if (n == 1)
        return TRUE;
      g_clear_pointer (opf_path, g_free);
      if (n == 0)
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                     "%s: not an EPUB: the zip archive has no META-INF/container.xml and no "
                     "package document (.opf)",
                     epub->where);
      else
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                     "%s: not an EPUB: the zip archive has no META-INF/container.xml to choose "
                     "among its %u package documents (.opf)",
                     epub->where, n);
      return FALSE;
    }
  doc = parse_xml (epub, "META-INF/container.xml", NULL, NULL, error);
  if (doc == NULL)
    return FALSE;
  node = find_element (xmlDocGetRootElement (doc), "rootfile");
  *opf_path = node != NULL ? get_attr (node, "full-path") : NULL;
  if (*opf_path == NULL)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: not an EPUB: META-INF/container.xml names no rootfile", epub->where);
      return FALSE;
    }
  {
    char *normalized = normalize_path (*opf_path);

    g_free (*opf_path);
    *opf_path = normalized;
  }
  if (*opf_path == NULL)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: META-INF/container.xml names a rootfile outside the archive", epub->where);
      return FALSE;
    }
  return TRUE;
}

/* The cover: where the package document says it is. */

/* What the package document says about its cover, as read. */
typedef struct
{
  char *meta_content; /* EPUB 2: <meta name="cover" content="ID"/> */
  char *image_id;     /* EPUB 3: the manifest item of properties "cover-image" */
  char *named_id;     /* the first image item whose id or file name says "cover" */
  char *guide_href;   /* <guide><reference type="cover" href/>: a cover page */
} CoverHints;

static void
cover_hints_clear (CoverHints *hints)
{
  g_free (hints->meta_content);
  g_free (hints->image_id);
  g_free (hints->named_id);
  g_free (hints->guide_href);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CoverHints, cover_hints_clear)

static gboolean has_token (const char *list, const char *token);
static gboolean is_html_type (const char *media_type);

static void
note_cover_item (CoverHints *hints, const ManifestItem *item, const char *href)
{
  g_autofree char *id = g_ascii_strdown (item->id, -1);
  g_autofree char *file = NULL;
  const char *slash = strrchr (href, '/');

  if (hints->image_id == NULL && item->properties != NULL &&
      has_token (item->properties, "cover-image"))
    hints->image_id = g_strdup (item->id);
  file = g_ascii_strdown (slash != NULL ? slash + 1 : href, -1);
  if (hints->named_id == NULL &&
      g_str_has_prefix (item->media_type ? item->media_type : "", "image/") &&
      (strstr (id, "cover") != NULL || strstr (file, "cover") != NULL))
    hints->named_id = g_strdup (item->id);
}

/* The first unusable cover is what the note tells: the best one the book
 * names. */
static void
cover_note (Epub *epub, char *note)
{
  if (epub->cover_note == NULL)
    epub->cover_note = note;
  else
    g_free (note);
}

static void
add_cover_path (Epub *epub, const char *path)
{
  for (guint i = 0; i < epub->cover_paths->len; i++)
    if (strcmp (epub->cover_paths->pdata[i], path) == 0)
      return;
  g_ptr_array_add (epub->cover_paths, g_strdup (path));
}

/* The first picture of a cover page: <img src>, or SVG's <image
 * xlink:href> (what calibre and Gutenberg write). */
static xmlNodePtr
find_picture (xmlNodePtr node, char **href)
{
  for (; node != NULL; node = node->next)
    {
      xmlNodePtr found;

      if (name_is (node, "img"))
        *href = get_attr (node, "src");
      else if (name_is (node, "image"))
        {
          xmlChar *value =
            xmlGetNsProp (node, BAD_CAST "href", BAD_CAST "http://www.w3.org/1999/xlink");

          if (value == NULL)
            value = xmlGetProp (node, BAD_CAST "href");
          *href = value != NULL ? g_strdup ((const char *) value) : NULL;
          xmlFree (value);
        }
      if (*href != NULL)
        return node;
      if (node->type == XML_ELEMENT_NODE && (found = find_picture (node->children, href)) != NULL)
        return found;
    }
  return NULL;
}

/* A cover page (XHTML): its first picture is the cover. It is parsed as
 * every document of the book is (parse_xml: a hostile one refuses the
 * book, as it would in the spine). */
static void
add_cover_page (Epub *epub, const char *page)
{
  g_autoptr (xmlDoc) doc = NULL;
  g_autofree char *href = NULL;
  g_autofree char *base = NULL;
  g_autofree char *path = NULL;

  if (!g_hash_table_contains (epub->files, page))
    return;
  doc = parse_xml (epub, page, NULL, NULL, NULL);
  if (doc == NULL || find_picture (xmlDocGetRootElement (doc), &href) == NULL)
    return;
  base = dir_of (page);
  path = resolve_href (base, href, NULL);
  if (path == NULL)
    cover_note (epub, g_strdup_printf ("the cover page “%s” shows “%s”, which climbs out of "
                                       "the archive: sutra reads only the files inside the EPUB",
                                       page, href));
  else
    add_cover_path (epub, path);
}

/* A manifest item named as the cover: an image, or (some EPUB 2 books) a
 * cover page. */
static void
add_cover_item (Epub *epub, const char *id, const char *what, GHashTable *outside)
{
  ManifestItem *item = g_hash_table_lookup (epub->manifest, id);
  const char *href;

  if (item == NULL && (href = g_hash_table_lookup (outside, id)) != NULL)
    cover_note (epub, g_strdup_printf ("the cover (%s “%s”) names “%s”, which climbs out of the "
                                       "archive: sutra reads only the files inside the EPUB",
                                       what, id, href));
  else if (item == NULL)
    cover_note (epub, g_strdup_printf ("the cover (%s “%s”) names no manifest item", what, id));
  else if (item->media_type != NULL && is_html_type (item->media_type))
    add_cover_page (epub, item->path);
  else
    add_cover_path (epub, item->path);
}

/* The places the cover may be, best first: EPUB 3's cover-image item,
 * EPUB 2's <meta name="cover">, the guide's cover page (its first
 * picture), then an image item named like a cover. Each must be inside the
 * archive. Which of them is a usable image is for read_cover to see. */
static void
find_cover (Epub *epub, const CoverHints *hints, GHashTable *outside)
{
  if (hints->image_id != NULL)
    add_cover_item (epub, hints->image_id, "the cover-image item", outside);
  if (hints->meta_content != NULL)
    add_cover_item (epub, hints->meta_content, "<meta name=\"cover\">", outside);
  if (hints->guide_href != NULL)
    {
      g_autofree char *path = resolve_href (epub->opf_dir, hints->guide_href, NULL);
      g_autofree char *lower = path != NULL ? g_ascii_strdown (path, -1) : NULL;

      if (path == NULL)
        cover_note (epub, g_strdup_printf ("the guide's cover “%s” climbs out of the archive: "
                                           "sutra reads only the files inside the EPUB",
                                           hints->guide_href));
      else if (g_str_has_suffix (lower, ".jpg") || g_str_has_suffix (lower, ".jpeg") ||
               g_str_has_suffix (lower, ".png"))
        add_cover_path (epub, path);
      else
        add_cover_page (epub, path);
    }
  if (hints->named_id != NULL)
    add_cover_item (epub, hints->named_id, "the image item", outside);
}

static void
set_meta (char **field, xmlNodePtr node)
{
  g_autofree char *text = NULL;

  if (*field != NULL)
    return;
  text = node_text (node);
  if (text[0] != '\0')
    *field = g_steal_pointer (&text);
}

static gboolean
read_package (Epub *epub,
              SegmenterDocument *out,
              const char *opf_path,
              char **ncx_id,
              GError **error)
{
  g_autoptr (xmlDoc) doc = parse_xml (epub, opf_path, NULL, NULL, error);
  g_autoptr (GHashTable) in_spine = NULL; /* paths of epub->spine */
  g_autoptr (GHashTable) outside = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto (CoverHints) cover = { NULL };
  xmlNodePtr root, metadata, manifest, spine, guide;

  if (doc == NULL)
    return FALSE;
  root = xmlDocGetRootElement (doc);
  epub->opf_dir = dir_of (opf_path);

  metadata = find_element (root, "metadata");
  for (xmlNodePtr node = metadata != NULL ? metadata->children : NULL; node != NULL;
       node = node->next)
    {
      if (name_is (node, "title"))
        set_meta (&out->title, node);
      else if (name_is (node, "creator"))
        set_meta (&out->author, node);
      else if (name_is (node, "language"))
        set_meta (&out->language, node);
      else if (name_is (node, "meta") && cover.meta_content == NULL)
        {
          g_autofree char *name = get_attr (node, "name");

          if (g_strcmp0 (name, "cover") == 0)
            cover.meta_content = get_attr (node, "content");
        }
    }

  manifest = find_element (root, "manifest");
  for (xmlNodePtr node = manifest != NULL ? manifest->children : NULL; node != NULL;
       node = node->next)
    {
      ManifestItem *item;
      g_autofree char *href = NULL;

      if (!name_is (node, "item"))
        continue;
      href = get_attr (node, "href");
      item = g_new0 (ManifestItem, 1);
      item->id = get_attr (node, "id");
      item->media_type = get_attr (node, "media-type");
      item->properties = get_attr (node, "properties");
      item->path = href != NULL ? resolve_href (epub->opf_dir, href, NULL) : NULL;
      if (item->id != NULL && href != NULL && item->path == NULL)
        g_hash_table_replace (outside, g_strdup (item->id), g_strdup (href));
      if (item->id != NULL && href != NULL)
        note_cover_item (&cover, item, href);
      if (item->id == NULL || item->path == NULL)
        {
          manifest_item_free (item);
          continue;
        }
      g_hash_table_replace (epub->manifest, item->id, item);
    }

  spine = find_element (root, "spine");
  if (spine == NULL)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: the package document “%s” has no spine", epub->where, opf_path);
      return FALSE;
    }
  *ncx_id = get_attr (spine, "toc");
  in_spine = g_hash_table_new (g_str_hash, g_str_equal);
  for (xmlNodePtr node = spine->children; node != NULL; node = node->next)
    {
      g_autofree char *idref = NULL;
      g_autofree char *linear = NULL;
      ManifestItem *item;

      if (!name_is (node, "itemref"))
        continue;
      idref = get_attr (node, "idref");
      linear = get_attr (node, "linear");
      item = idref != NULL ? g_hash_table_lookup (epub->manifest, idref) : NULL;
      if (item == NULL && idref != NULL && g_hash_table_contains (outside, idref))
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "%s: spine itemref “%s” in “%s” names “%s”, which climbs out of the "
                       "archive: sutra reads only the files inside the EPUB",
                       epub->where, idref, opf_path,
                       (const char *) g_hash_table_lookup (outside, idref));
          return FALSE;
        }
      if (item == NULL)
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "%s: spine itemref “%s” in “%s” names no manifest item", epub->where,
                       idref != NULL ? idref : "(no idref)", opf_path);
          return FALSE;
        }
      if (!g_hash_table_contains (epub->files, item->path))
        {
          const char *kind = g_hash_table_lookup (epub->special, item->path);

          if (kind != NULL)
            g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                         "%s: spine item “%s” names “%s”, which is %s in the archive, not a "
                         "file: sutra reads only the files inside the EPUB",
                         epub->where, item->id, item->path, kind);
          else
            g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                         "%s: spine item “%s” names “%s”, which the archive does not contain",
                         epub->where, item->id, item->path);
          return FALSE;
        }
      item->linear = g_strcmp0 (linear, "no") != 0;
      /* A document the spine names again (one chapter 5,000 times) is read
       * once, where it first comes: repeating it would multiply the work
       * and the memory by the number of repeats, for a book that is not
       * longer. Two ids with the same href are the same document. */
      if (item->linear && !g_hash_table_contains (in_spine, item->path))
        {
          g_hash_table_add (in_spine, item->path);
          g_ptr_array_add (epub->spine, item);
        }
    }
  if (epub->spine->len == 0)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: the spine of “%s” lists no documents", epub->where, opf_path);
      return FALSE;
    }
  guide = find_element (root, "guide");
  for (xmlNodePtr node = guide != NULL ? guide->children : NULL; node != NULL; node = node->next)
    {
      g_autofree char *type = NULL;

      if (!name_is (node, "reference"))
        continue;
      type = get_attr (node, "type");
      if (type != NULL && g_ascii_strcasecmp (type, "cover") == 0)
        {
          cover.guide_href = get_attr (node, "href");
          break;
        }
    }
  find_cover (epub, &cover, outside);
  return TRUE;
}

static void
add_toc_entry (Epub *epub, const char *base_dir, const char *title, const char *href, guint level)
{
  TocEntry entry = { 0 };

  if (title == NULL || title[0] == '\0' || href == NULL)
    return;
  entry.path = resolve_href (base_dir, href, &entry.fragment);
  if (entry.path == NULL)
    {
      g_free (entry.fragment);
      return;
    }
  entry.title = g_strdup (title);
  entry.level = level;
  g_array_append_val (epub->toc, entry);
}

static void
read_ncx_points (Epub *epub, const char *base_dir, xmlNodePtr node, guint level)
{
  for (; node != NULL; node = node->next)
    {
      xmlNodePtr label, text, content;
      g_autofree char *title = NULL;
      g_autofree char *src = NULL;

      if (!name_is (node, "navPoint"))
        continue;
      /* find_element would descend into child navPoints: take this
       * point's own label and content. */
      for (label = node->children; label != NULL && !name_is (label, "navLabel");
           label = label->next)
        ;
      for (content = node->children; content != NULL && !name_is (content, "content");
           content = content->next)
        ;
      text = label != NULL ? find_element (label->children, "text") : NULL;
      title = text != NULL ? node_text (text) : NULL;
      src = content != NULL ? get_attr (content, "src") : NULL;
      add_toc_entry (epub, base_dir, title, src, level);
      read_ncx_points (epub, base_dir, node->children, level + 1);
    }
}

/* The first link with an href in the entries under @node. */
static char *
first_nav_href (xmlNodePtr node)
{
  for (; node != NULL; node = node->next)
    {
      char *href;

      if (name_is (node, "a") && (href = get_attr (node, "href")) != NULL)
        return href;
      if (node->type == XML_ELEMENT_NODE && (href = first_nav_href (node->children)) != NULL)
        return href;
    }
  return NULL;
}

/* <ol><li><a href>Title</a><ol>...</ol></li></ol> */
static void
read_nav_list (Epub *epub, const char *base_dir, xmlNodePtr list, guint level)
{
  for (xmlNodePtr li = list->children; li != NULL; li = li->next)
    {
      if (!name_is (li, "li"))
        continue;
      for (xmlNodePtr child = li->children; child != NULL; child = child->next)
        {
          if (name_is (child, "a") || name_is (child, "span"))
            {
              g_autofree char *title = node_text (child);
              g_autofree char *href = get_attr (child, "href");

              /* EPUB 3 lets a heading without a link group entries
               * (<li><span>Part One</span><ol>...</ol></li>): it stands
               * where its first entry does, which it then names, as a part
               * whose entry has no text of its own. */
              if (href == NULL)
                href = first_nav_href (child->next);
              add_toc_entry (epub, base_dir, title, href, level);
            }
          else if (name_is (child, "ol") || name_is (child, "ul"))
            read_nav_list (epub, base_dir, child, level + 1);
        }
    }
}

static xmlNodePtr
find_toc_nav (xmlNodePtr node)
{
  for (; node != NULL; node = node->next)
    {
      xmlNodePtr found;

      if (name_is (node, "nav"))
        {
          xmlChar *type =
            xmlGetNsProp (node, BAD_CAST "type", BAD_CAST "http://www.idpf.org/2007/ops");
          gboolean is_toc;

          if (type == NULL)
            type = xmlGetProp (node, BAD_CAST "type");
          is_toc = type != NULL && strstr ((const char *) type, "toc") != NULL;
          xmlFree (type);
          if (is_toc)
            return node;
        }
      if (node->type == XML_ELEMENT_NODE && (found = find_toc_nav (node->children)) != NULL)
        return found;
    }
  return NULL;
}

/* The EPUB 3 nav document, else the NCX. A TOC that cannot be read is no
 * reason to refuse the book: the spine still gives its text. */
static void
read_toc (Epub *epub, const char *ncx_id)
{
  GHashTableIter iter;
  ManifestItem *item, *nav = NULL, *ncx = NULL;

  g_hash_table_iter_init (&iter, epub->manifest);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &item))
    {
      if (item->properties != NULL && strstr (item->properties, "nav") != NULL)
        nav = item;
      if ((ncx_id != NULL && strcmp (item->id, ncx_id) == 0) ||
          (ncx == NULL && g_strcmp0 (item->media_type, "application/x-dtbncx+xml") == 0))
        ncx = item;
    }
  if (nav != NULL && g_hash_table_contains (epub->files, nav->path))
    {
      g_autoptr (xmlDoc) doc = parse_xml (epub, nav->path, NULL, NULL, NULL);
      xmlNodePtr toc = doc != NULL ? find_toc_nav (xmlDocGetRootElement (doc)) : NULL;

      if (toc != NULL)
        {
          g_autofree char *base = dir_of (nav->path);
          xmlNodePtr list = find_element (toc->children, "ol");

          if (list != NULL)
            read_nav_list (epub, base, list, 0);
        }
    }
  if (epub->toc->len == 0 && ncx != NULL && g_hash_table_contains (epub->files, ncx->path))
    {
      g_autoptr (xmlDoc) doc = parse_xml (epub, ncx->path, NULL, NULL, NULL);
      xmlNodePtr map = doc != NULL ? find_element (xmlDocGetRootElement (doc), "navMap") : NULL;

      if (map != NULL)
        {
          g_autofree char *base = dir_of (ncx->path);

          read_ncx_points (epub, base, map->children, 0);
        }
    }
}

/* The cover's bytes: archive entries are read again, this one only. The
 * first pass skipped images (read_archive): the cover is expanded here,
 * within what is left of max_expanded_bytes, and only once the package
 * document has named it. Returns NULL with @note set when it cannot be
 * read. */
static GBytes *
read_cover_entry (Epub *epub,
                  const guint8 *data,
                  gsize size,
                  const char *path,
                  gint64 budget,
                  char **note)
{
  struct archive *archive = archive_read_new ();
  struct archive_entry *entry;
  g_autoptr (GByteArray) bytes = NULL;
  int status;

  archive_read_support_format_zip (archive);
  if (archive_read_open_memory (archive, data, size) != ARCHIVE_OK)
    goto out;
  while ((status = archive_read_next_header (archive, &entry)) == ARCHIVE_OK ||
         status == ARCHIVE_WARN)
    {
      const char *raw_name = archive_entry_pathname_utf8 (entry);
      g_autofree char *name = NULL;
      gint64 expanded = 0;

      if (raw_name == NULL)
        raw_name = archive_entry_pathname (entry);
      name = raw_name != NULL ? normalize_path (raw_name) : NULL;
      /* read_archive saw the same entries: links were set aside there. */
      if (name == NULL || strcmp (name, path) != 0 || archive_entry_filetype (entry) != AE_IFREG)
        continue;
      if (archive_entry_size_is_set (entry) && archive_entry_size (entry) > budget)
        {
          *note = g_strdup_printf ("the cover “%s” expands to %" G_GINT64_FORMAT " bytes, past "
                                   "what max_expanded_bytes leaves for it (%" G_GINT64_FORMAT
                                   "): left out",
                                   path, (gint64) archive_entry_size (entry), budget);
          goto out;
        }
      bytes = g_byte_array_new ();
      for (;;)
        {
          guint8 buffer[65536];
          la_ssize_t n = archive_read_data (archive, buffer, sizeof buffer);

          if (n == 0)
            break;
          if (n < 0)
            {
              *note = g_strdup_printf ("the cover “%s” is damaged in the archive: %s", path,
                                       archive_error_string (archive));
              g_clear_pointer (&bytes, g_byte_array_unref);
              goto out;
            }
          expanded += n;
          /* A header can lie about the size. */
          if (expanded > budget)
            {
              *note = g_strdup_printf ("the cover “%s” expands past what max_expanded_bytes "
                                       "leaves for it (%" G_GINT64_FORMAT " bytes): left out",
                                       path, budget);
              g_clear_pointer (&bytes, g_byte_array_unref);
              goto out;
            }
          g_byte_array_append (bytes, buffer, (guint) n);
        }
      break;
    }

out:
  archive_read_free (archive);
  if (bytes == NULL && *note == NULL)
    {
      const char *kind = g_hash_table_lookup (epub->special, path);

      *note = kind != NULL ? g_strdup_printf ("the cover “%s” is %s in the archive, not a file: "
                                              "sutra reads only the files inside the EPUB",
                                              path, kind)
                           : g_strdup_printf ("the cover “%s” is not in the archive", path);
    }
  return bytes != NULL ? g_byte_array_free_to_bytes (g_steal_pointer (&bytes)) : NULL;
}

/* JPEG and PNG, by their first bytes (a media type can be wrong): what
 * the audiobook's containers take as a cover. */
static const char *
cover_extension (GBytes *bytes)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);

  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
    return "jpg";
  if (size >= 8 && memcmp (data, "\x89PNG\r\n\x1a\n", 8) == 0)
    return "png";
  return NULL;
}

/* The first of the places find_cover listed that holds a JPEG or PNG. A
 * cover that cannot be used never fails the book: out->cover_note says
 * why there is none. */
static void
read_cover (Epub *epub, const guint8 *data, gsize size, gint64 max_expanded, SegmenterDocument *out)
{
  for (guint i = 0; i < epub->cover_paths->len; i++)
    {
      const char *path = epub->cover_paths->pdata[i];
      char *note = NULL;
      g_autoptr (GBytes) bytes =
        read_cover_entry (epub, data, size, path, max_expanded - epub->expanded, &note);
      const char *extension = bytes != NULL ? cover_extension (bytes) : NULL;

      if (bytes != NULL && extension == NULL)
        {
          g_autofree char *lower = g_ascii_strdown (path, -1);
          const char *dot = strrchr (lower, '.');

          note = g_strdup_printf ("the cover “%s” is not a JPEG or PNG image%s%s%s: only those go "
                                  "into an audiobook; left out",
                                  path, dot != NULL ? " (" : "", dot != NULL ? dot + 1 : "",
                                  dot != NULL ? ")" : "");
        }
      if (note != NULL)
        {
          cover_note (epub, note);
          continue;
        }
      out->cover = g_steal_pointer (&bytes);
      out->cover_extension = extension;
      return;
    }
  out->cover_note = g_steal_pointer (&epub->cover_note);
}

/* Text extraction: blocks become paragraphs (a blank line between), <br> a
 * line break, and scripts, styles, images and page numbers nothing. */
typedef struct
{
  GString *text;
  GHashTable *anchors; /* fragment → GArray of TocEntry indexes, this file */
  Epub *epub;
  GArray *marks;  /* SegmenterHeading: the h1..h3 elements, level 1..3 */
  gboolean strip; /* strip_boilerplate */
  gboolean in_pre;
  gboolean glue;         /* a drop cap waits for the rest of its word */
  gboolean after_notice; /* the editions notice was skipped: its table may follow */
  /* Where the paragraph being written starts: after the last paragraph
   * break, which only paragraph_break writes. Kept, not looked for, so
   * that each block and anchor costs the same however long the
   * paragraph. */
  gsize paragraph_start;
  char *first_heading;
} Extractor;

static gboolean
is_block (xmlNodePtr node)
{
  static const char *const blocks[] = {
    "p",       "div",     "h1",      "h2",       "h3",     "h4",    "h5",         "h6",
    "li",      "ul",      "ol",      "dl",       "dt",     "dd",    "blockquote", "pre",
    "section", "article", "aside",   "header",   "footer", "nav",   "figure",     "figcaption",
    "table",   "tr",      "caption", "address",  "hr",     "main",  "body",       "center",
    "hgroup",  "details", "summary", "fieldset", "legend", "tbody", "thead",      "tfoot",
  };

  for (guint i = 0; i < G_N_ELEMENTS (blocks); i++)
    if (name_is (node, blocks[i]))
      return TRUE;
  return FALSE;
}

static gboolean
is_skipped (xmlNodePtr node, const char *class_name)
{
  static const char *const skipped[] = {
    "script", "style",    "head",     "img", "svg", "math",  "audio",  "video", "object",
    "iframe", "noscript", "template", "rt",  "rp",  "image", "canvas", "embed",
  };
  xmlChar *type;
  gboolean pagebreak;

  for (guint i = 0; i < G_N_ELEMENTS (skipped); i++)
    if (name_is (node, skipped[i]))
      return TRUE;
  /* Page numbers of the printed book: "[Pg 12]". */
  if (class_name != NULL && strstr (class_name, "pagenum") != NULL)
    return TRUE;
  type = xmlGetNsProp (node, BAD_CAST "type", BAD_CAST "http://www.idpf.org/2007/ops");
  pagebreak = type != NULL && strstr ((const char *) type, "pagebreak") != NULL;
  xmlFree (type);
  return pagebreak;
}

/* Whether the space-separated @list holds @token. */
static gboolean
has_token (const char *list, const char *token)
{
  gsize n = strlen (token);

  for (const char *p = list; (p = strstr (p, token)) != NULL; p += n)
    if ((p == list || segmenter_is_space (p[-1])) && (p[n] == '\0' || segmenter_is_space (p[n])))
      return TRUE;
  return FALSE;
}

static gboolean
mentions_gutenberg (xmlNodePtr node)
{
  xmlChar *content = xmlNodeGetContent (node);
  gboolean found = content != NULL && strstr ((const char *) content, "Gutenberg") != NULL;

  xmlFree (content);
  return found;
}

/* Gutenberg's ebookmaker puts its header (the licence's preamble, the
 * *** START marker, "Produced by ...") and its licence in blocks of class
 * "pgheader" (since 2021, sections of class "pg-boilerplate"). Another
 * tool could name a page header so: the block must name Project Gutenberg
 * too. */
static gboolean
is_gutenberg_block (xmlNodePtr node, const char *class_name)
{
  return class_name != NULL &&
         (has_token (class_name, "pgheader") || has_token (class_name, "pgfooter") ||
          has_token (class_name, "pg-boilerplate")) &&
         mentions_gutenberg (node);
}

/* The first text under @node, leading white space skipped. */
static const char *
first_text (xmlNodePtr node)
{
  for (; node != NULL; node = node->next)
    {
      if (node->type == XML_TEXT_NODE && node->content != NULL)
        {
          const char *p = (const char *) node->content;

          while (segmenter_is_space (*p))
            p++;
          if (*p != '\0')
            return p;
        }
      else if (node->type == XML_ELEMENT_NODE)
        {
          const char *found = first_text (node->children);

          if (found != NULL)
            return found;
        }
    }
  return NULL;
}

/* "There are several editions of this ebook in the Project Gutenberg
 * collection...", a heading Gutenberg's transcribers put above a table of
 * links to the other editions. Only a heading or a paragraph of about that
 * length: never a block that could hold the book. */
static gboolean
is_editions_notice (xmlNodePtr node)
{
  static const char notice[] = "There are several editions of this ebook in the Project "
                               "Gutenberg collection";
  const char *text;
  xmlChar *content;
  gboolean short_enough;

  if (!(node->name[0] == 'h' && node->name[1] >= '1' && node->name[1] <= '6' &&
        node->name[2] == '\0') &&
      !name_is (node, "p"))
    return FALSE;
  text = first_text (node->children);
  if (text == NULL || !g_str_has_prefix (text, notice))
    return FALSE;
  content = xmlNodeGetContent (node);
  short_enough = content != NULL && strlen ((const char *) content) < 1000;
  xmlFree (content);
  return short_enough;
}

static void
count_links (xmlNodePtr node, guint *n_links, guint *n_gutenberg)
{
  for (; node != NULL; node = node->next)
    {
      if (node->type != XML_ELEMENT_NODE)
        continue;
      if (name_is (node, "a"))
        {
          g_autofree char *href = get_attr (node, "href");

          if (href != NULL)
            {
              (*n_links)++;
              *n_gutenberg +=
                strstr (href, "gutenberg.org/") != NULL || strstr (href, "gutenberg.net/") != NULL;
            }
        }
      count_links (node->children, n_links, n_gutenberg);
    }
}

/* The table of editions under the notice: every link leads to Gutenberg. */
static gboolean
is_editions_table (xmlNodePtr node)
{
  guint n_links = 0, n_gutenberg = 0;

  if (!name_is (node, "table"))
    return FALSE;
  count_links (node->children, &n_links, &n_gutenberg);
  return n_links > 0 && n_gutenberg == n_links;
}

/* The paragraph being written, from its start to the end of the text. */
static const char *
current_paragraph (GString *text)
{
  /* Backwards, and only over this paragraph: g_strrstr_len would measure
   * the whole text first. */
  for (gsize i = text->len; i >= 2; i--)
    if (text->str[i - 1] == '\n' && text->str[i - 2] == '\n')
      return text->str + i;
  return text->str;
}

/* A paragraph of one capital, perhaps after a quote: the drop cap of
 * Gutenberg's HTML ("A" in a box, then "LICE was beginning"). */
static gboolean
is_drop_cap (const char *start, const char *end)
{
  glong n;
  gunichar last;

  /* Two characters are at most eight bytes. */
  if (end - start > 8)
    return FALSE;
  n = g_utf8_strlen (start, end - start);
  if (n < 1 || n > 2)
    return FALSE;
  last = g_utf8_get_char (g_utf8_prev_char (end));
  return g_unichar_isupper (last) && (n == 1 || g_unichar_ispunct (g_utf8_get_char (start)));
}

static void
paragraph_break (Extractor *x)
{
  GString *text = x->text;

  if (x->glue)
    return;
  /* Already at the start of a paragraph: taking the break off to look at
   * the paragraph before again would cost nothing in a book, but a
   * hostile one follows a long paragraph with a million empty blocks. */
  if (text->len > 0 && text->len == x->paragraph_start)
    return;
  while (text->len > 0 && (text->str[text->len - 1] == ' ' || text->str[text->len - 1] == '\n'))
    g_string_truncate (text, text->len - 1);
  if (text->len < x->paragraph_start)
    x->paragraph_start = (gsize) (current_paragraph (text) - text->str);
  if (text->len == 0)
    return;
  if (is_drop_cap (text->str + x->paragraph_start, text->str + text->len))
    {
      x->glue = TRUE;
      return;
    }
  g_string_append (text, "\n\n");
  x->paragraph_start = text->len;
}

static gboolean
at_paragraph_start (GString *text)
{
  return text->len == 0 || text->str[text->len - 1] == '\n';
}

static void
append_text (Extractor *x, const char *s)
{
  GString *text = x->text;

  for (const char *p = s; *p != '\0'; p++)
    {
      if (x->glue && segmenter_is_space (*p))
        continue;
      x->glue = FALSE;
      if (segmenter_is_space (*p))
        {
          if (x->in_pre && *p == '\n')
            {
              /* A line of <pre>, never a paragraph break. */
              if (!at_paragraph_start (text) || (text->len > 0 && text->str[text->len - 1] != '\n'))
                {
                  while (text->len > 0 && text->str[text->len - 1] == ' ')
                    g_string_truncate (text, text->len - 1);
                  if (text->len > 0 && text->str[text->len - 1] != '\n')
                    g_string_append_c (text, '\n');
                }
              continue;
            }
          if (!at_paragraph_start (text) && text->str[text->len - 1] != ' ')
            g_string_append_c (text, ' ');
          continue;
        }
      g_string_append_c (text, *p);
    }
}

static void
mark_anchor (Extractor *x, xmlNodePtr node, gboolean in_boilerplate)
{
  g_autofree char *id = get_attr (node, "id");
  GArray *indexes;
  gsize offset;

  if (id == NULL && name_is (node, "a"))
    id = get_attr (node, "name");
  if (id == NULL || (indexes = g_hash_table_lookup (x->anchors, id)) == NULL)
    return;
  /* A chapter starts at a paragraph: an anchor inside one marks the
   * paragraph's start. */
  offset = x->text->len;
  if (!at_paragraph_start (x->text))
    offset = x->paragraph_start;
  for (guint i = 0; i < indexes->len; i++)
    {
      TocEntry *entry = &g_array_index (x->epub->toc, TocEntry, g_array_index (indexes, guint, i));

      if (!entry->resolved)
        {
          entry->offset = offset;
          entry->resolved = TRUE;
          entry->in_boilerplate = in_boilerplate;
        }
    }
}

/* The TOC entries pointing into a stripped block: where the block was,
 * marked so that epub_chapters "auto" leaves them out. */
static void
mark_boilerplate_anchors (Extractor *x, xmlNodePtr node)
{
  for (; node != NULL; node = node->next)
    if (node->type == XML_ELEMENT_NODE)
      {
        mark_anchor (x, node, TRUE);
        mark_boilerplate_anchors (x, node->children);
      }
}

/* Gutenberg's header, licence and editions notice, when strip_boilerplate
 * is set: they give no text. */
static gboolean
skip_boilerplate (Extractor *x, xmlNodePtr node, const char *class_name)
{
  gboolean notice = FALSE;

  if (!x->strip)
    return FALSE;
  if (is_editions_notice (node))
    notice = TRUE;
  else if (!is_gutenberg_block (node, class_name) && !(x->after_notice && is_editions_table (node)))
    return FALSE;
  mark_anchor (x, node, TRUE);
  mark_boilerplate_anchors (x, node->children);
  x->after_notice = notice;
  x->epub->stripped = TRUE;
  return TRUE;
}

/* The text of @node as extraction gives it: without page numbers, ruby
 * annotations and the like, which xmlNodeGetContent would keep. */
static void
append_element_text (GString *out, xmlNodePtr node)
{
  for (; node != NULL; node = node->next)
    {
      if ((node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE) &&
          node->content != NULL)
        g_string_append (out, (const char *) node->content);
      else if (node->type == XML_ENTITY_REF_NODE && entity_text (node) != NULL)
        g_string_append (out, entity_text (node));
      else if (node->type == XML_ELEMENT_NODE)
        {
          g_autofree char *class_name = get_attr (node, "class");

          if (name_is (node, "br"))
            g_string_append_c (out, ' ');
          else if (!is_skipped (node, class_name))
            append_element_text (out, node->children);
        }
    }
}

static char *
element_text (xmlNodePtr node)
{
  g_autoptr (GString) raw = g_string_new (NULL);

  append_element_text (raw, node->children);
  return segmenter_fold (raw->str, raw->str + raw->len);
}

/* h1, h2, h3: 1, 2, 3; other elements 0. */
static guint
heading_level (xmlNodePtr node)
{
  const xmlChar *name = node->name;

  if ((name[0] == 'h' || name[0] == 'H') && name[1] >= '1' && name[1] <= '3' && name[2] == '\0')
    return (guint) (name[1] - '0');
  return 0;
}

static void extract (Extractor *x, xmlNodePtr node);

static void
extract_node (Extractor *x, xmlNodePtr node)
{
  switch (node->type)
    {
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
      if (node->content != NULL)
        {
          const char *content = (const char *) node->content;

          if (x->after_notice && !segmenter_is_blank (content, content + strlen (content)))
            x->after_notice = FALSE;
          append_text (x, (const char *) node->content);
        }
      break;
    case XML_ENTITY_REF_NODE:
      {
        const char *replacement = entity_text (node);

        if (replacement != NULL)
          append_text (x, replacement);
        break;
      }
    case XML_ELEMENT_NODE:
      {
        g_autofree char *class_name = get_attr (node, "class");
        gboolean block;
        guint level;
        gsize mark_offset;

        if (skip_boilerplate (x, node, class_name))
          break;
        x->after_notice = FALSE;
        mark_anchor (x, node, FALSE);
        if (is_skipped (node, class_name))
          break;
        if (name_is (node, "br"))
          {
            while (x->text->len > 0 && x->text->str[x->text->len - 1] == ' ')
              g_string_truncate (x->text, x->text->len - 1);
            if (!at_paragraph_start (x->text))
              g_string_append_c (x->text, '\n');
            break;
          }
        block = is_block (node);
        if (block)
          paragraph_break (x);
        else if ((name_is (node, "td") || name_is (node, "th")) && !at_paragraph_start (x->text))
          append_text (x, " ");
        if (x->first_heading == NULL && node->name[0] == 'h' && node->name[1] >= '1' &&
            node->name[1] <= '6' && node->name[2] == '\0')
          {
            x->first_heading = node_text (node);
            if (x->first_heading[0] == '\0')
              g_clear_pointer (&x->first_heading, g_free);
          }
        level = heading_level (node);
        mark_offset = x->text->len;
        if (name_is (node, "pre"))
          {
            gboolean was = x->in_pre;

            x->in_pre = TRUE;
            extract (x, node->children);
            x->in_pre = was;
          }
        else
          extract (x, node->children);
        if (block)
          paragraph_break (x);
        if (level > 0 && x->text->len > mark_offset)
          {
            SegmenterHeading mark = {
              .offset = mark_offset,
              .body = x->text->len,
              .title = element_text (node),
              .level = level,
            };

            if (mark.title[0] != '\0')
              g_array_append_val (x->marks, mark);
            else
              g_free (mark.title);
          }
        break;
      }
    default:
      break;
    }
}

/* @node and its following siblings. */
static void
extract (Extractor *x, xmlNodePtr node)
{
  for (; node != NULL; node = node->next)
    extract_node (x, node);
}

/* What extract_node does with <body> before its children, when that needs
 * nothing of them; else the body is not streamed but read whole after the
 * parse (a body that is itself a Gutenberg block or a page number). */
static gboolean
extract_body_start (xmlNodePtr body, gpointer user_data)
{
  Extractor *x = user_data;
  g_autofree char *class_name = get_attr (body, "class");

  if ((x->strip && class_name != NULL &&
       (has_token (class_name, "pgheader") || has_token (class_name, "pgfooter") ||
        has_token (class_name, "pg-boilerplate"))) ||
      is_skipped (body, class_name))
    return FALSE;
  x->after_notice = FALSE;
  mark_anchor (x, body, FALSE);
  paragraph_break (x);
  return TRUE;
}

static void
extract_body_child (xmlNodePtr node, gpointer user_data)
{
  extract_node (user_data, node);
}

/* The alphanumeric characters of the first paragraphs at @offset equal to
 * @key: the heading the TOC entry points at, which its title carries. */
static gsize
skip_heading (const char *text, gsize length, gsize offset, const char *key)
{
  const char *p = text + offset, *end = text + length;
  GString *seen = g_string_new (NULL);
  gsize result = offset;
  /* A paragraph much longer than the title is not its heading: it is not
   * read to its end, or a TOC of many entries pointing into one long
   * paragraph would read it once for each. */
  gsize limit = 8 * strlen (key) + 64;

  for (guint n = 0; n < 3 && p < end; n++)
    {
      gsize window = MIN ((gsize) (end - p), limit);
      const char *para_end = g_strstr_len (p, (gssize) window, "\n\n");
      g_autofree char *part = NULL;

      if (para_end == NULL && window < (gsize) (end - p))
        break;
      if (para_end == NULL)
        para_end = end;
      part = segmenter_alnum_key (p, para_end);
      g_string_append (seen, part);
      if (!g_str_has_prefix (key, seen->str))
        break;
      p = para_end;
      while (p < end && *p == '\n')
        p++;
      if (strcmp (seen->str, key) == 0)
        {
          result = (gsize) (p - text);
          break;
        }
    }
  g_string_free (seen, TRUE);
  return result;
}

static gboolean
is_html_type (const char *media_type)
{
  return media_type == NULL || strcmp (media_type, "application/xhtml+xml") == 0 ||
         strcmp (media_type, "text/html") == 0 || strcmp (media_type, "application/xml") == 0;
}

void
segmenter_epub_init (void)
{
  /* libxml2 wants its globals set up once, before threads use it: stage
   * instances are created before the workers start. */
  xmlInitParser ();
}

static void
headings_clear (GArray *headings)
{
  for (guint i = 0; i < headings->len; i++)
    g_free (g_array_index (headings, SegmenterHeading, i).title);
  g_array_set_size (headings, 0);
}

static void
headings_free (GArray *headings)
{
  headings_clear (headings);
  g_array_unref (headings);
}

/* An array of SegmenterHeading that owns their titles. */
typedef GArray HeadingList;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HeadingList, headings_free)

/* Headings in the text make a book's chapters when there are at least
 * this many. */
#define MIN_TEXT_CHAPTERS 3

static int
compare_offsets (gconstpointer a, gconstpointer b)
{
  gsize x = *(const gsize *) a, y = *(const gsize *) b;

  return x < y ? -1 : x > y;
}

/* A page of the printed book, not a chapter: "[12]", "[Pg 12]", "Page
 * xii"; a bare "12" or "xii" only when it points at a page anchor
 * ("#Page_12"), since chapters may be numbered so too. */
static gboolean
is_page_entry (const TocEntry *entry)
{
  const char *p = entry->title;
  gboolean bracketed = FALSE, prefixed = TRUE;
  gsize n;

  if (*p == '[')
    {
      bracketed = TRUE;
      p++;
    }
  if (g_ascii_strncasecmp (p, "page", 4) == 0)
    p += 4;
  else if (g_ascii_strncasecmp (p, "pg", 2) == 0 || g_ascii_strncasecmp (p, "p.", 2) == 0)
    p += 2;
  else
    prefixed = FALSE;
  if (prefixed)
    {
      if (*p == '.')
        p++;
      while (*p == ' ')
        p++;
    }
  n = strspn (p, "0123456789");
  if (n == 0)
    n = strspn (p, "ivxlcdmIVXLCDM");
  if (n == 0)
    return FALSE;
  p += n;
  if (bracketed && *p++ != ']')
    return FALSE;
  if (*p != '\0')
    return FALSE;
  if (bracketed || prefixed)
    return TRUE;
  return entry->fragment != NULL && (g_ascii_strncasecmp (entry->fragment, "page", 4) == 0 ||
                                     g_ascii_strncasecmp (entry->fragment, "pg", 2) == 0);
}

/* The resolved TOC entries as headings; with @usable, less those pointing
 * into stripped boilerplate or past the body and the pages of a page
 * list. */
static void
add_toc_headings (Epub *epub, SegmenterDocument *out, GArray *headings, gboolean usable)
{
  for (guint t = 0; t < epub->toc->len; t++)
    {
      TocEntry *entry = &g_array_index (epub->toc, TocEntry, t);
      g_autofree char *key = NULL;
      SegmenterHeading heading;

      if (!entry->resolved || (usable && (entry->in_boilerplate || entry->offset >= out->body_end ||
                                          is_page_entry (entry))))
        continue;
      key = segmenter_alnum_key (entry->title, entry->title + strlen (entry->title));
      heading.offset = entry->offset;
      heading.body = key[0] != '\0'
                       ? skip_heading (out->text->str, out->text->len, entry->offset, key)
                       : entry->offset;
      heading.title = g_strdup (entry->title);
      heading.level = entry->level;
      g_array_append_val (headings, heading);
    }
}

/* The entry of @toc holding the most body text, or the text before the
 * first entry, [*start, *end): whether it holds more than half of it.
 * Offsets before the body count from its start, as
 * segmenter_build_chapters has them. */
static gboolean
find_largest_entry (SegmenterDocument *out, GArray *toc, gsize *start, gsize *end)
{
  g_autoptr (GArray) offsets = g_array_new (FALSE, FALSE, sizeof (gsize));
  gsize largest = 0;

  g_array_append_val (offsets, out->body_start);
  for (guint i = 0; i < toc->len; i++)
    {
      gsize offset = MAX (g_array_index (toc, SegmenterHeading, i).offset, out->body_start);

      if (offset < out->body_end)
        g_array_append_val (offsets, offset);
    }
  g_array_sort (offsets, compare_offsets);
  for (guint i = 0; i < offsets->len; i++)
    {
      gsize s = g_array_index (offsets, gsize, i);
      gsize e = i + 1 < offsets->len ? g_array_index (offsets, gsize, i + 1) : out->body_end;

      if (e - s > largest)
        {
          largest = e - s;
          *start = s;
          *end = e;
        }
    }
  return largest > 0 && largest > (out->body_end - out->body_start) / 2;
}

/* Chapters from the text into out->headings: the plain-text rules on the
 * blocks' text; when they find fewer than three (and no heading_pattern
 * was given), the h1..h3 elements down to the first level used at least
 * three times, as Markdown's levels are chosen. */
static gboolean
find_text_headings (SegmenterDocument *out,
                    GArray *marks,
                    GRegex *custom,
                    gboolean caps_headings,
                    GError **error)
{
  guint counts[4] = { 0 };
  guint chosen = 0;

  headings_clear (out->headings);
  out->headings_from_text = TRUE;
  if (!segmenter_headings_detect (out, custom, caps_headings, error))
    return FALSE;
  if (custom != NULL || out->headings->len >= MIN_TEXT_CHAPTERS)
    return TRUE;
  for (guint i = 0; i < marks->len; i++)
    {
      const SegmenterHeading *mark = &g_array_index (marks, SegmenterHeading, i);

      if (mark->offset >= out->body_start && mark->offset < out->body_end)
        counts[mark->level]++;
    }
  for (guint level = 1; level <= 3 && chosen == 0; level++)
    if (counts[level] >= MIN_TEXT_CHAPTERS)
      chosen = level;
  if (chosen == 0)
    return TRUE;
  headings_clear (out->headings);
  for (guint i = 0; i < marks->len; i++)
    {
      const SegmenterHeading *mark = &g_array_index (marks, SegmenterHeading, i);

      if (mark->offset >= out->body_start && mark->offset < out->body_end && mark->level <= chosen)
        segmenter_document_add_heading (out, mark->offset, mark->body, mark->title, mark->level);
    }
  return TRUE;
}

/* Each spine document a chapter, titled by its first heading or its TOC
 * entry. */
static void
add_spine_headings (Epub *epub,
                    SegmenterDocument *out,
                    GArray *spine_offsets,
                    GPtrArray *spine_titles)
{
  /* offset → the title of the first entry there: looked up, not searched
   * for each document, which would cost documents times entries. */
  g_autoptr (GHashTable) toc_titles = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_autoptr (GArray) keys = g_array_sized_new (FALSE, FALSE, sizeof (gint64), epub->toc->len);

  for (guint t = 0; t < epub->toc->len; t++)
    {
      TocEntry *entry = &g_array_index (epub->toc, TocEntry, t);
      gint64 key = (gint64) entry->offset;

      if (!entry->resolved)
        continue;
      g_array_append_val (keys, key);
    }
  /* The keys' storage is final now: the table points into it. */
  for (guint t = 0, k = 0; t < epub->toc->len; t++)
    {
      TocEntry *entry = &g_array_index (epub->toc, TocEntry, t);
      gint64 *key;

      if (!entry->resolved)
        continue;
      key = &g_array_index (keys, gint64, k++);
      if (!g_hash_table_contains (toc_titles, key))
        g_hash_table_insert (toc_titles, key, entry->title);
    }
  for (guint i = 0; i < spine_offsets->len; i++)
    {
      gint64 offset = (gint64) g_array_index (spine_offsets, gsize, i);
      const char *title = spine_titles->pdata[i];
      g_autofree char *fallback = NULL;

      if (title == NULL)
        title = g_hash_table_lookup (toc_titles, &offset);
      if (title == NULL)
        title = fallback = g_strdup_printf ("Section %u", i + 1);
      segmenter_document_add_heading (out, (gsize) offset, (gsize) offset, title, 0);
    }
}

static guint
count_in_range (GArray *headings, gsize start, gsize end)
{
  guint n = 0;

  for (guint i = 0; i < headings->len; i++)
    {
      gsize offset = g_array_index (headings, SegmenterHeading, i).offset;

      n += offset >= start && offset < end;
    }
  return n;
}

/* epub_chapters "auto": the TOC, less its entries in boilerplate and its
 * pages, unless it is degenerate: one entry (or the text before the first)
 * holds more than half of the body while the headings in that text make at
 * least three chapters (a Gutenberg TOC listing only the front matter, the
 * story under "LIST OF THE PLATES"). Then the headings of the whole text
 * are the chapters. Without a usable TOC: the headings, when there are at
 * least three, else the spine documents. The headings are looked for only
 * then: a good TOC costs nothing more. */
static gboolean
choose_chapters (Epub *epub,
                 SegmenterDocument *out,
                 GArray *marks,
                 GArray *spine_offsets,
                 GPtrArray *spine_titles,
                 GRegex *custom,
                 gboolean caps_headings,
                 GError **error)
{
  g_autoptr (HeadingList) toc = g_array_new (FALSE, FALSE, sizeof (SegmenterHeading));
  gsize start = 0, end = 0;

  add_toc_headings (epub, out, toc, TRUE);
  if (toc->len == 0)
    {
      if (!find_text_headings (out, marks, custom, caps_headings, error))
        return FALSE;
      if (out->headings->len >= MIN_TEXT_CHAPTERS)
        return TRUE;
      headings_clear (out->headings);
      out->headings_from_text = FALSE;
      add_spine_headings (epub, out, spine_offsets, spine_titles);
      return TRUE;
    }
  if (find_largest_entry (out, toc, &start, &end))
    {
      if (!find_text_headings (out, marks, custom, caps_headings, error))
        return FALSE;
      if (count_in_range (out->headings, start, end) >= MIN_TEXT_CHAPTERS)
        return TRUE;
      headings_clear (out->headings);
      out->headings_from_text = FALSE;
    }
  /* The TOC's headings move to the document, titles and all. */
  g_array_append_vals (out->headings, toc->data, toc->len);
  g_array_set_size (toc, 0);
  return TRUE;
}

gboolean
segmenter_epub_read (SegmenterDocument *out,
                     const guint8 *data,
                     gsize size,
                     const SegmenterSettings *settings,
                     GRegex *custom,
                     GError **error)
{
  g_auto (Epub) epub = { 0 };
  g_autofree char *opf_path = NULL;
  g_autofree char *ncx_id = NULL;
  g_autoptr (GPtrArray) spine_titles = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) spine_offsets = g_array_new (FALSE, FALSE, sizeof (gsize));
  g_autoptr (HeadingList) marks = g_array_new (FALSE, FALSE, sizeof (SegmenterHeading));
  /* TOC entry path (borrowed) → GArray of their indexes */
  g_autoptr (GHashTable) toc_by_path =
    g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) g_array_unref);
  const char *mode = settings->epub_chapters != NULL ? settings->epub_chapters : "auto";
  guint n_resolved = 0;

  epub.where = out->where;
  epub.files =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  epub.manifest =
    g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) manifest_item_free);
  epub.spine = g_ptr_array_new ();
  epub.toc = g_array_new (FALSE, TRUE, sizeof (TocEntry));
  epub.special = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  epub.cover_paths = g_ptr_array_new_with_free_func (g_free);
  g_array_set_clear_func (epub.toc, (GDestroyNotify) toc_entry_clear);

  if (size < 4 || memcmp (data, "PK\003\004", 4) != 0)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: not an EPUB: an EPUB is a zip archive, and this file does not start "
                   "with a zip header (byte offset 0)",
                   out->where);
      return FALSE;
    }
  if (!read_archive (&epub, data, size, settings->max_expanded_bytes, error) ||
      !read_container (&epub, &opf_path, error) ||
      !read_package (&epub, out, opf_path, &ncx_id, error))
    return FALSE;
  read_toc (&epub, ncx_id);
  if (epub.refused != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&epub.refused));
      return FALSE;
    }
  read_cover (&epub, data, size, settings->max_expanded_bytes, out);

  /* Each spine document looks only at its own entries: a TOC of a million
   * entries over twenty thousand documents costs a million, not their
   * product. */
  for (guint t = 0; t < epub.toc->len; t++)
    {
      const char *path = g_array_index (epub.toc, TocEntry, t).path;
      GArray *entries = g_hash_table_lookup (toc_by_path, path);

      if (entries == NULL)
        {
          entries = g_array_new (FALSE, FALSE, sizeof (guint));
          g_hash_table_insert (toc_by_path, (gpointer) path, entries);
        }
      g_array_append_val (entries, t);
    }

  for (guint i = 0; i < epub.spine->len; i++)
    {
      ManifestItem *item = epub.spine->pdata[i];
      g_autoptr (GHashTable) anchors =
        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_array_unref);
      g_autoptr (xmlDoc) doc = NULL;
      Extractor x = {
        .text = out->text,
        .anchors = anchors,
        .epub = &epub,
        .marks = marks,
        .strip = settings->strip_boilerplate,
        .paragraph_start = (gsize) (current_paragraph (out->text) - out->text->str),
      };
      BodyStream stream = { extract_body_start, extract_body_child, &x };
      xmlNodePtr streamed_body = NULL;
      GArray *entries = g_hash_table_lookup (toc_by_path, item->path);
      guint n_entries = entries != NULL ? entries->len : 0;
      gsize start;
      xmlNodePtr root, body;

      if (!is_html_type (item->media_type))
        continue;

      for (guint e = 0; e < n_entries; e++)
        {
          guint t = g_array_index (entries, guint, e);
          TocEntry *entry = &g_array_index (epub.toc, TocEntry, t);
          const char *key = entry->fragment != NULL ? entry->fragment : "";
          GArray *indexes;

          if (entry->resolved)
            continue;
          indexes = g_hash_table_lookup (anchors, key);
          if (indexes == NULL)
            {
              indexes = g_array_new (FALSE, FALSE, sizeof (guint));
              g_hash_table_insert (anchors, g_strdup (key), indexes);
            }
          g_array_append_val (indexes, t);
        }

      paragraph_break (&x);
      start = out->text->len;
      doc = parse_xml (&epub, item->path, &stream, &streamed_body, error);
      if (doc == NULL)
        {
          g_free (x.first_heading);
          return FALSE;
        }
      /* The text is out of the document now: its bytes go (the spine
       * names each document once). */
      g_hash_table_remove (epub.files, item->path);
      if (streamed_body != NULL)
        {
          /* What follows the body's last element, the body's end, and
           * what follows the body, as extract (body) would have done. */
          extract (&x, streamed_body->children);
          paragraph_break (&x);
          extract (&x, streamed_body->next);
        }
      else
        {
          root = xmlDocGetRootElement (doc);
          body = find_element (root, "body");
          extract (&x, body != NULL ? body : root);
        }
      x.glue = FALSE;
      paragraph_break (&x);

      /* Entries naming the file, and fragments not found in it, start at
       * the file's start. */
      for (guint e = 0; e < n_entries; e++)
        {
          TocEntry *entry = &g_array_index (epub.toc, TocEntry, g_array_index (entries, guint, e));

          if (!entry->resolved)
            {
              entry->offset = start;
              entry->resolved = TRUE;
            }
        }
      if (out->text->len > start)
        {
          g_array_append_val (spine_offsets, start);
          g_ptr_array_add (spine_titles, g_steal_pointer (&x.first_heading));
        }
      g_free (x.first_heading);
    }

  if (out->text->len == 0)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: the EPUB's spine documents hold no text%s", out->where,
                   epub.stripped ? " after removing the Project Gutenberg header and licence "
                                   "(set strip_boilerplate to false to keep them)"
                                 : "");
      return FALSE;
    }
  /* The markers and old end lines of XHTML without Gutenberg's classes;
   * the TOC and the headings are judged against what is left. */
  segmenter_gutenberg_scan (out, settings->strip_boilerplate);

  for (guint t = 0; t < epub.toc->len; t++)
    n_resolved += g_array_index (epub.toc, TocEntry, t).resolved;
  if (strcmp (mode, "headings") == 0)
    return find_text_headings (out, marks, custom, settings->caps_headings, error);
  if (strcmp (mode, "auto") == 0)
    return choose_chapters (&epub, out, marks, spine_offsets, spine_titles, custom,
                            settings->caps_headings, error);
  /* "toc", strictly: every entry; without a usable TOC, or with "spine",
   * each spine document is a chapter. */
  if (strcmp (mode, "toc") == 0 && n_resolved > 0)
    add_toc_headings (&epub, out, out->headings, FALSE);
  else
    add_spine_headings (&epub, out, spine_offsets, spine_titles);
  return TRUE;
}
