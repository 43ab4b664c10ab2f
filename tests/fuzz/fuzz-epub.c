/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small valid EPUB, written in memory, with one document replaceable. */

#include "fuzz-epub.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <string.h>

static const char container_xml[] =
  "<?xml version=\"1.0\"?>\n"
  "<container version=\"1.0\" xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\">\n"
  "<rootfiles><rootfile full-path=\"OEBPS/content.opf\" "
  "media-type=\"application/oebps-package+xml\"/></rootfiles>\n"
  "</container>\n";

#define OPF_METADATA                                                                  \
  "<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n"                        \
  "<dc:identifier id=\"id\">fuzz</dc:identifier><dc:title>A Fuzzed Book</dc:title>\n" \
  "<dc:creator>Nobody</dc:creator><dc:language>en</dc:language></metadata>\n"

#define OPF_CHAPTERS                                                                 \
  "<item id=\"c1\" href=\"chapter1.xhtml\" media-type=\"application/xhtml+xml\"/>\n" \
  "<item id=\"c2\" href=\"chapter2.xhtml\" media-type=\"application/xhtml+xml\"/>\n"

#define OPF_SPINE_ITEMS "<itemref idref=\"c1\"/><itemref idref=\"c2\"/></spine>\n</package>\n"

/* FUZZ_EPUB_BOTH: both tables of contents. */
static const char opf_both[] =
  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
  "<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\" "
  "unique-identifier=\"id\">\n" OPF_METADATA "<manifest>\n"
  "<item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" properties=\"nav\"/>\n"
  "<item id=\"ncx\" href=\"toc.ncx\" media-type=\"application/x-dtbncx+xml\"/>\n" OPF_CHAPTERS
  "</manifest>\n<spine toc=\"ncx\">" OPF_SPINE_ITEMS;

/* FUZZ_EPUB_2: the NCX is the table of contents. */
static const char opf_ncx[] =
  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
  "<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"2.0\" "
  "unique-identifier=\"id\">\n" OPF_METADATA "<manifest>\n"
  "<item id=\"ncx\" href=\"toc.ncx\" media-type=\"application/x-dtbncx+xml\"/>\n" OPF_CHAPTERS
  "</manifest>\n<spine toc=\"ncx\">" OPF_SPINE_ITEMS;

/* FUZZ_EPUB_3: the nav document is. */
static const char opf_nav[] =
  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
  "<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\" "
  "unique-identifier=\"id\">\n" OPF_METADATA "<manifest>\n"
  "<item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" "
  "properties=\"nav\"/>\n" OPF_CHAPTERS "</manifest>\n<spine>" OPF_SPINE_ITEMS;

static const char toc_ncx[] =
  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
  "<ncx xmlns=\"http://www.daisy.org/z3986/2005/ncx/\" version=\"2005-1\">\n"
  "<docTitle><text>A Fuzzed Book</text></docTitle>\n<navMap>\n"
  "<navPoint id=\"n1\" playOrder=\"1\"><navLabel><text>Chapter I. The First</text></navLabel>"
  "<content src=\"chapter1.xhtml#c1\"/>\n"
  "<navPoint id=\"n2\" playOrder=\"2\"><navLabel><text>Part Two</text></navLabel>"
  "<content src=\"chapter1.xhtml#c2\"/></navPoint></navPoint>\n"
  "<navPoint id=\"n3\" playOrder=\"3\"><navLabel><text>Chapter II. The Second</text></navLabel>"
  "<content src=\"chapter2.xhtml\"/></navPoint>\n"
  "</navMap>\n</ncx>\n";

static const char nav_xhtml[] =
  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
  "<html xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:epub=\"http://www.idpf.org/2007/ops\">\n"
  "<head><title>Contents</title></head>\n<body>\n<nav epub:type=\"toc\" id=\"toc\"><ol>\n"
  "<li><a href=\"chapter1.xhtml#c1\">Chapter I. The First</a>"
  "<ol><li><a href=\"chapter1.xhtml#c2\">Part Two</a></li></ol></li>\n"
  "<li><a href=\"chapter2.xhtml\">Chapter II. The Second</a></li>\n"
  "</ol></nav>\n</body>\n</html>\n";

static const char chapter1_xhtml[] =
  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
  "<html xmlns=\"http://www.w3.org/1999/xhtml\">\n<head><title>Chapter I</title></head>\n<body>\n"
  "<h2 id=\"c1\">Chapter I. The First</h2>\n"
  "<p>It was a dark and stormy night. The rain fell in torrents, except at occasional "
  "intervals.</p>\n<p>Nobody <em>knew</em> why; nobody asked.</p>\n"
  "<h3 id=\"c2\">Part Two</h3>\n<p>Then the morning came, and with it the post.</p>\n"
  "</body>\n</html>\n";

static const char chapter2_xhtml[] =
  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
  "<html xmlns=\"http://www.w3.org/1999/xhtml\">\n<head><title>Chapter II</title></head>\n"
  "<body>\n<h2>Chapter II. The Second</h2>\n"
  "<p>The second chapter is short. It ends here.</p>\n</body>\n</html>\n";

static const char *const part_names[] = {
  "META-INF/container.xml", "OEBPS/content.opf",    "OEBPS/toc.ncx",
  "OEBPS/nav.xhtml",        "OEBPS/chapter1.xhtml",
};

const char *
fuzz_epub_get_document (FuzzEpubFlavour flavour, FuzzEpubPart part)
{
  switch (part)
    {
    case FUZZ_EPUB_CONTAINER:
      return container_xml;
    case FUZZ_EPUB_OPF:
      return flavour == FUZZ_EPUB_2 ? opf_ncx : flavour == FUZZ_EPUB_3 ? opf_nav : opf_both;
    case FUZZ_EPUB_NCX:
      return toc_ncx;
    case FUZZ_EPUB_NAV:
      return nav_xhtml;
    case FUZZ_EPUB_XHTML:
      return chapter1_xhtml;
    case FUZZ_EPUB_NONE:
    default:
      return NULL;
    }
}

static gboolean
add_entry (struct archive *zip, const char *name, const void *data, gsize size, gboolean store)
{
  struct archive_entry *entry = archive_entry_new ();
  gboolean ok;

  archive_entry_set_pathname (entry, name);
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_perm (entry, 0644);
  archive_entry_set_size (entry, size);
  /* The EPUB container rule: mimetype first and stored, not deflated. */
  ok = (store ? archive_write_zip_set_compression_store (zip)
              : archive_write_zip_set_compression_deflate (zip)) == ARCHIVE_OK &&
       archive_write_header (zip, entry) == ARCHIVE_OK &&
       (size == 0 || archive_write_data (zip, data, size) == (la_ssize_t) size);
  archive_entry_free (entry);
  return ok;
}

gboolean
fuzz_epub_write (FuzzEpubFlavour flavour,
                 FuzzEpubPart part,
                 const guint8 *document,
                 gsize size,
                 gboolean deflate,
                 GByteArray *out)
{
  static const char mimetype[] = "application/epub+zip";
  /* Big enough for the fixed documents, the given one and the zip's own
   * headers, even when deflate does not shrink the given one. */
  gsize capacity = 64 * 1024 + size * 2;
  size_t used = 0;
  struct archive *zip = archive_write_new ();
  gboolean ok;

  g_byte_array_set_size (out, capacity);
  ok = archive_write_set_format_zip (zip) == ARCHIVE_OK &&
       archive_write_open_memory (zip, out->data, capacity, &used) == ARCHIVE_OK &&
       add_entry (zip, "mimetype", mimetype, strlen (mimetype), TRUE);
  for (FuzzEpubPart p = 0; ok && p < FUZZ_EPUB_N_PARTS; p++)
    {
      const char *text = fuzz_epub_get_document (flavour, p);

      if (p == part)
        ok = add_entry (zip, part_names[p], document, size, FALSE);
      else
        ok = add_entry (zip, part_names[p], text, strlen (text), FALSE);
    }
  ok =
    ok && add_entry (zip, "OEBPS/chapter2.xhtml", chapter2_xhtml, strlen (chapter2_xhtml), FALSE);
  ok = ok && archive_write_close (zip) == ARCHIVE_OK;
  if (!ok)
    fprintf (stderr, "fuzz: cannot write the EPUB: %s\n", archive_error_string (zip));
  archive_write_free (zip);
  g_byte_array_set_size (out, used);
  return ok;
}
