/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* WAV, RF64 and FLAC through libsndfile, 16-bit. WAV is opened as RF64
 * with libsndfile's auto-downgrade: a file that stays under 4 GB is closed
 * as plain RIFF WAV, one that grows past it stays RF64 (the 34-hour book),
 * so no tool sees a wrapped 32-bit size. */

#include "ac.h"

#include <errno.h>

struct _AcSndWriter
{
  SNDFILE *file;
  char *path;
};

AcSndWriter *
ac_snd_writer_open (const char *path,
                    AcFormat format,
                    int sample_rate,
                    int channels,
                    const AcTags *tags,
                    GError **error)
{
  SF_INFO info = { 0 };
  AcSndWriter *self;
  SNDFILE *file;

  info.samplerate = sample_rate;
  info.channels = channels;
  switch (format)
    {
    case AC_FORMAT_WAV:
    case AC_FORMAT_RF64:
      info.format = SF_FORMAT_RF64 | SF_FORMAT_PCM_16;
      break;
    case AC_FORMAT_FLAC:
      info.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
      break;
    default:
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "%s is not a libsndfile format", ac_format_name (format));
      return NULL;
    }
  file = sf_open (path, SFM_WRITE, &info);
  if (file == NULL)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot write %s: %s", path,
                   sf_strerror (NULL));
      return NULL;
    }
  if (format == AC_FORMAT_WAV)
    sf_command (file, SFC_RF64_AUTO_DOWNGRADE, NULL, SF_TRUE);
  /* Samples past full scale are clipped, not wrapped. */
  sf_command (file, SFC_SET_CLIPPING, NULL, SF_TRUE);
  /* The PEAK chunk holds a timestamp: leave it out, for byte-identical runs. */
  sf_command (file, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
  if (tags != NULL)
    {
      if (tags->title != NULL)
        sf_set_string (file, SF_STR_TITLE, tags->title);
      if (tags->artist != NULL)
        sf_set_string (file, SF_STR_ARTIST, tags->artist);
      if (tags->album != NULL)
        sf_set_string (file, SF_STR_ALBUM, tags->album);
      if (tags->genre != NULL)
        sf_set_string (file, SF_STR_GENRE, tags->genre);
      if (tags->description != NULL)
        sf_set_string (file, SF_STR_COMMENT, tags->description);
      if (tags->date != NULL)
        sf_set_string (file, SF_STR_DATE, tags->date);
    }
  self = g_new0 (AcSndWriter, 1);
  self->file = file;
  self->path = g_strdup (path);
  return self;
}

gboolean
ac_snd_writer_write (gpointer writer, const float *frames, gsize n_frames, GError **error)
{
  AcSndWriter *self = writer;
  sf_count_t written = sf_writef_float (self->file, frames, (sf_count_t) n_frames);

  if (written != (sf_count_t) n_frames)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO, "cannot write %s: %s", self->path,
                   sf_strerror (self->file));
      return FALSE;
    }
  return TRUE;
}

gboolean
ac_snd_writer_close (AcSndWriter *self, GError **error)
{
  int ret = sf_close (self->file);

  self->file = NULL;
  if (ret != 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO, "cannot finish %s: %s", self->path,
                   sf_error_number (ret));
      return FALSE;
    }
  return TRUE;
}

void
ac_snd_writer_free (AcSndWriter *self)
{
  if (self == NULL)
    return;
  if (self->file != NULL)
    sf_close (self->file);
  g_free (self->path);
  g_free (self);
}
