/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* http: each item sent to a web API (an OpenAI-compatible chat model, or
 * any JSON endpoint), many requests in flight on one libcurl multi handle,
 * with the server's rate limits honoured. */

#include "http-retry.h"
#include "http-template.h"
#include "json-pointer.h"

#include <sutra/sutra.h>

#include <curl/curl.h>
#include <string.h>
#include <time.h>

typedef struct
{
  const char *mode;
  const char *url;
  const char *model;
  const char *system_prompt;
  const char *api_key_env;
  const char *request;
  const char *result;
  gint64 max_tokens;
  double temperature;
  gint64 max_in_flight;
  gint64 request_timeout_ms;
  gint64 max_attempts;
  gint64 backoff_ms;
  gint64 max_wait_ms;
} HttpSettings;

static const char *const http_modes[] = { "chat", "json", NULL };

static const SutraParamInfo http_params[] = {
  SUTRA_PARAM_ROW_ENUM ("mode",
                        HttpSettings,
                        mode,
                        "chat",
                        http_modes,
                        0,
                        "chat: an OpenAI-compatible chat-completions API (the item's text as "
                        "the user message); json: any JSON API, the body made from `request`."),
  SUTRA_PARAM_ROW_STRING ("url",
                          HttpSettings,
                          url,
                          NULL,
                          SUTRA_PARAM_REQUIRED,
                          "The endpoint (https://api.example.com/v1/chat/completions)."),
  SUTRA_PARAM_ROW_STRING ("model", HttpSettings, model, NULL, 0, "chat: the model's name."),
  SUTRA_PARAM_ROW_STRING ("system_prompt",
                          HttpSettings,
                          system_prompt,
                          NULL,
                          0,
                          "chat: the system message sent before each item's text."),
  SUTRA_PARAM_ROW_STRING ("api_key_env",
                          HttpSettings,
                          api_key_env,
                          NULL,
                          0,
                          "The environment variable holding the API key (sent as a bearer "
                          "token); the key itself never goes in a pipeline file."),
  SUTRA_PARAM_ROW_STRING ("request",
                          HttpSettings,
                          request,
                          NULL,
                          0,
                          "json: the request body, JSON text with ${text}, ${id} and "
                          "${meta.NAME} placeholders."),
  SUTRA_PARAM_ROW_STRING ("result",
                          HttpSettings,
                          result,
                          NULL,
                          0,
                          "A JSON pointer to the result in the response (chat: "
                          "/choices/0/message/content; json: the whole response)."),
  SUTRA_PARAM_ROW_INT ("max_tokens",
                       HttpSettings,
                       max_tokens,
                       0,
                       0,
                       G_MAXINT,
                       0,
                       "chat: the longest reply in tokens (0: the API's default)."),
  SUTRA_PARAM_ROW_DOUBLE ("temperature",
                          HttpSettings,
                          temperature,
                          -1,
                          -1,
                          2,
                          0,
                          "chat: the sampling temperature (-1: the API's default)."),
  SUTRA_PARAM_ROW_INT ("max_in_flight",
                       HttpSettings,
                       max_in_flight,
                       0,
                       0,
                       1024,
                       0,
                       "Requests in flight at once per worker (on one connection pool, "
                       "without a thread per request); 0: as many as the stage's "
                       "max_in_flight lets the worker have (all of its batch), or 16 when "
                       "the stage sets none."),
  SUTRA_PARAM_ROW_INT ("request_timeout_ms",
                       HttpSettings,
                       request_timeout_ms,
                       120000,
                       0,
                       G_MAXINT,
                       0,
                       "How long one request may take (0: no limit); a timed-out request "
                       "is retried."),
  SUTRA_PARAM_ROW_INT ("max_attempts",
                       HttpSettings,
                       max_attempts,
                       6,
                       1,
                       100,
                       0,
                       "Attempts per request in all, for 429, 5xx, time-outs and broken "
                       "connections; past them the batch fails (and the stage's retry "
                       "takes over)."),
  SUTRA_PARAM_ROW_INT ("backoff_ms",
                       HttpSettings,
                       backoff_ms,
                       1000,
                       0,
                       G_MAXINT,
                       0,
                       "The first wait before retrying a 5xx or a time-out; it doubles for "
                       "each attempt, with jitter."),
  SUTRA_PARAM_ROW_INT ("max_wait_ms",
                       HttpSettings,
                       max_wait_ms,
                       600000,
                       0,
                       G_MAXINT,
                       0,
                       "The longest single wait a server's Retry-After or rate-limit reset "
                       "may ask for; longer asks are cut to it."),
  SUTRA_PARAM_ROW_END
};

typedef struct
{
  const HttpSettings *settings;
  char *api_key; /* nullable; never logged */
  char *authorization;
  JsonNode *template_root; /* json mode */
  const char *result_pointer;
  CURLM *multi;
  guint max_in_flight;  /* the parameter, or what the stage's bound implies */
  gint64 interval_us;   /* between request starts at the stage's rate; 0: none */
  gint64 next_start_us; /* monotonic: the earliest the next request may start */
} Http;

/* One item's request across its attempts. */
typedef struct
{
  guint index;
  char *body;
  gsize body_length;
  CURL *easy;
  struct curl_slist *headers;
  GByteArray *response;
  gint64 retry_after_ms; /* from the last response's headers, or -1 */
  guint attempts;
  gint64 not_before_us; /* monotonic: when it may be sent again */
  gboolean done;
  GBytes *result;
  const char *result_type;
  JsonObject *usage;
  char *model;
} Request;

static void
request_clear (Request *request)
{
  g_free (request->body);
  if (request->easy != NULL)
    curl_easy_cleanup (request->easy);
  curl_slist_free_all (request->headers);
  if (request->response != NULL)
    g_byte_array_unref (request->response);
  g_clear_pointer (&request->result, g_bytes_unref);
  g_clear_pointer (&request->usage, json_object_unref);
  g_free (request->model);
}

static gpointer
curl_init_once (gpointer data)
{
  return GINT_TO_POINTER (curl_global_init (CURL_GLOBAL_DEFAULT));
}

static void
http_destroy (gpointer instance)
{
  Http *self = instance;

  if (self->multi != NULL)
    curl_multi_cleanup (self->multi);
  if (self->api_key != NULL)
    memset (self->api_key, 0, strlen (self->api_key));
  g_free (self->api_key);
  if (self->authorization != NULL)
    memset (self->authorization, 0, strlen (self->authorization));
  g_free (self->authorization);
  g_clear_pointer (&self->template_root, json_node_unref);
  g_free (self);
}

static gpointer
http_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  static GOnce curl_once = G_ONCE_INIT;
  const HttpSettings *s = settings;
  g_autoptr (GError) local = NULL;
  Http *self;

  if (GPOINTER_TO_INT (g_once (&curl_once, curl_init_once, NULL)) != CURLE_OK)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "libcurl could not be initialised");
      return NULL;
    }
  if (!g_str_has_prefix (s->url, "http://") && !g_str_has_prefix (s->url, "https://"))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "\"url\": “%s” is not an http:// or https:// address", s->url);
      return NULL;
    }
  self = g_new0 (Http, 1);
  self->settings = s;
  if (s->api_key_env != NULL)
    {
      const char *key = g_getenv (s->api_key_env);

      if (key == NULL || key[0] == '\0')
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "\"api_key_env\": the environment variable %s is not set (export it "
                       "with the API key before running)",
                       s->api_key_env);
          http_destroy (self);
          return NULL;
        }
      self->api_key = g_strdup (key);
      self->authorization = g_strconcat ("Authorization: Bearer ", key, NULL);
    }
  if (g_str_equal (s->mode, "json"))
    {
      g_autoptr (JsonParser) parser = json_parser_new_immutable ();

      if (s->request == NULL)
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "\"mode\": \"json\" needs \"request\", the body's template (for "
                       "example {\"input\": \"${text}\"})");
          http_destroy (self);
          return NULL;
        }
      if (!json_parser_load_from_data (parser, s->request, -1, &local))
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "\"request\" is not valid JSON: %s", local->message);
          http_destroy (self);
          return NULL;
        }
      self->template_root = json_node_copy (json_parser_get_root (parser));
      self->result_pointer = s->result != NULL ? s->result : "";
    }
  else
    self->result_pointer = s->result != NULL ? s->result : "/choices/0/message/content";
  if (!json_pointer_is_valid (self->result_pointer))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "\"result\": “%s” is not a JSON pointer (it starts with / and escapes ~ "
                   "and / as ~0 and ~1)",
                   self->result_pointer);
      http_destroy (self);
      return NULL;
    }
  /* The engine bounds the requests of all workers together (the stage's
   * max_in_flight) by never handing a worker more items than it may have
   * in flight: then a batch's requests may all go at once, and the user
   * sets the bound in one place. */
  if (s->max_in_flight > 0)
    self->max_in_flight = (guint) s->max_in_flight;
  else if (context->max_in_flight > 0)
    self->max_in_flight = context->max_in_flight;
  else
    self->max_in_flight = 16;
  /* The engine spaces batches at the stage's rate_limit but reserves a
   * whole batch at once, so a batch sent at once is a burst of its size,
   * which a server's bucket of one second's worth refuses in part once a
   * batch nears the rate. Spacing the requests themselves spreads a batch
   * over the time the engine reserved for it. */
  if (context->requests_per_second > 0)
    self->interval_us = (gint64) (G_USEC_PER_SEC / context->requests_per_second) + 1; /* up */
  self->multi = curl_multi_init ();
  curl_multi_setopt (self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) self->max_in_flight);
  return self;
}

/* A message safe to show: the API key, should a server echo it, is
 * blanked. */
static char *
redact (Http *self, const char *text)
{
  g_auto (GStrv) parts = NULL;

  if (self->api_key == NULL || strstr (text, self->api_key) == NULL)
    return g_strdup (text);
  parts = g_strsplit (text, self->api_key, -1);
  return g_strjoinv ("[api key]", parts);
}

static char *
build_body (Http *self, SutraItem *item, gsize *length, GError **error)
{
  gsize size;
  const guint8 *data = sutra_item_get_data (item, &size);
  g_autofree char *text = NULL;
  g_autoptr (JsonNode) root = NULL;
  const char *bad;

  if (!g_utf8_validate ((const char *) data, size, &bad))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "not UTF-8 at byte offset %" G_GSIZE_FORMAT ", so it cannot go in a JSON "
                   "request",
                   (gsize) (bad - (const char *) data));
      return NULL;
    }
  text = g_strndup ((const char *) data, size);
  if (self->template_root != NULL)
    {
      root = http_template_fill (self->template_root, item, text, error);
      if (root == NULL)
        return NULL;
    }
  else
    {
      const HttpSettings *s = self->settings;
      g_autoptr (JsonBuilder) builder = json_builder_new ();

      json_builder_begin_object (builder);
      if (s->model != NULL)
        {
          json_builder_set_member_name (builder, "model");
          json_builder_add_string_value (builder, s->model);
        }
      json_builder_set_member_name (builder, "messages");
      json_builder_begin_array (builder);
      if (s->system_prompt != NULL)
        {
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "role");
          json_builder_add_string_value (builder, "system");
          json_builder_set_member_name (builder, "content");
          json_builder_add_string_value (builder, s->system_prompt);
          json_builder_end_object (builder);
        }
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "role");
      json_builder_add_string_value (builder, "user");
      json_builder_set_member_name (builder, "content");
      json_builder_add_string_value (builder, text);
      json_builder_end_object (builder);
      json_builder_end_array (builder);
      if (s->max_tokens > 0)
        {
          json_builder_set_member_name (builder, "max_tokens");
          json_builder_add_int_value (builder, s->max_tokens);
        }
      if (s->temperature >= 0)
        {
          json_builder_set_member_name (builder, "temperature");
          json_builder_add_double_value (builder, s->temperature);
        }
      json_builder_end_object (builder);
      root = json_builder_get_root (builder);
    }
  return sutra_json_to_data (root, FALSE, length);
}

static size_t
on_body (char *data, size_t size, size_t n, void *user_data)
{
  Request *request = user_data;

  g_byte_array_append (request->response, (const guint8 *) data, size * n);
  return size * n;
}

/* Notes the waits a 429's headers ask for. */
static size_t
on_header (char *data, size_t size, size_t n, void *user_data)
{
  Request *request = user_data;
  gsize length = size * n;
  g_autofree char *line = g_strndup (data, length);
  char *colon = strchr (line, ':');
  gint64 wait = -1;

  if (colon == NULL)
    return length;
  *colon = '\0';
  g_strstrip (colon + 1);
  if (g_ascii_strcasecmp (line, "Retry-After") == 0)
    wait = http_retry_after_ms (colon + 1, g_get_real_time () / G_USEC_PER_SEC, G_MAXINT64 / 4);
  else if (g_ascii_strcasecmp (line, "x-ratelimit-reset-requests") == 0 ||
           g_ascii_strcasecmp (line, "x-ratelimit-reset-tokens") == 0 ||
           g_ascii_strcasecmp (line, "x-ratelimit-reset") == 0)
    wait = http_ratelimit_reset_ms (colon + 1, G_MAXINT64 / 4);
  if (wait >= 0 && g_ascii_strcasecmp (line, "Retry-After") == 0)
    request->retry_after_ms = wait; /* Retry-After wins over the others */
  else if (wait >= 0 && request->retry_after_ms < 0)
    request->retry_after_ms = wait;
  return length;
}

static void
request_start (Http *self, Request *request)
{
  const HttpSettings *s = self->settings;

  if (request->easy == NULL)
    {
      request->easy = curl_easy_init ();
      request->headers = curl_slist_append (NULL, "Content-Type: application/json");
      request->headers = curl_slist_append (request->headers, "Accept: application/json");
      if (self->authorization != NULL)
        request->headers = curl_slist_append (request->headers, self->authorization);
    }
  else
    curl_easy_reset (request->easy);
  g_clear_pointer (&request->response, g_byte_array_unref);
  request->response = g_byte_array_new ();
  request->retry_after_ms = -1;
  curl_easy_setopt (request->easy, CURLOPT_URL, s->url);
  curl_easy_setopt (request->easy, CURLOPT_HTTPHEADER, request->headers);
  curl_easy_setopt (request->easy, CURLOPT_POSTFIELDS, request->body);
  curl_easy_setopt (request->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) request->body_length);
  curl_easy_setopt (request->easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (request->easy, CURLOPT_WRITEDATA, request);
  curl_easy_setopt (request->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (request->easy, CURLOPT_HEADERDATA, request);
  curl_easy_setopt (request->easy, CURLOPT_TIMEOUT_MS, (long) s->request_timeout_ms);
  curl_easy_setopt (request->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (request->easy, CURLOPT_PRIVATE, request);
  curl_easy_setopt (request->easy, CURLOPT_ACCEPT_ENCODING, "");
  request->attempts++;
  curl_multi_add_handle (self->multi, request->easy);
}

/* The wait before attempt @attempts + 1 of a failure the server did not
 * time: exponential from backoff_ms, capped, with jitter. */
static gint64
backoff_ms (const HttpSettings *s, guint attempts)
{
  gint64 wait = s->backoff_ms;

  for (guint i = 1; i < attempts && wait < s->max_wait_ms; i++)
    wait *= 2;
  wait = MIN (wait, s->max_wait_ms);
  return wait + (wait > 1 ? g_random_int_range (0, (gint32) MIN (wait / 4 + 1, G_MAXINT32)) : 0);
}

/* Takes the result out of a 2xx response. */
static gboolean
request_parse (Http *self, Request *request, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local = NULL;
  JsonNode *root;
  JsonNode *result;

  if (!json_parser_load_from_data (parser, (const char *) request->response->data,
                                   request->response->len, &local))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "the response is not JSON: %s", local->message);
      return FALSE;
    }
  root = json_parser_get_root (parser);
  result = json_pointer_get (root, self->result_pointer);
  if (result == NULL || JSON_NODE_HOLDS_NULL (result))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "the response has nothing at “%s” (set \"result\" to the JSON pointer of "
                   "the answer)",
                   self->result_pointer);
      return FALSE;
    }
  if (JSON_NODE_HOLDS_VALUE (result) && json_node_get_value_type (result) == G_TYPE_STRING)
    {
      const char *text = json_node_get_string (result);

      request->result = g_bytes_new (text, strlen (text));
      request->result_type = SUTRA_MEDIA_TEXT_PLAIN;
    }
  else
    {
      gsize length;
      char *json = sutra_json_to_data (result, FALSE, &length);

      request->result = g_bytes_new_take (json, length);
      request->result_type = "application/json";
    }
  if (JSON_NODE_HOLDS_OBJECT (root))
    {
      JsonObject *object = json_node_get_object (root);
      JsonNode *usage = json_object_get_member (object, "usage");
      JsonNode *model = json_object_get_member (object, "model");

      if (usage != NULL && JSON_NODE_HOLDS_OBJECT (usage))
        request->usage = json_object_ref (json_node_get_object (usage));
      if (model != NULL && JSON_NODE_HOLDS_VALUE (model) &&
          json_node_get_value_type (model) == G_TYPE_STRING)
        request->model = g_strdup (json_node_get_string (model));
    }
  return TRUE;
}

/* Handles one finished transfer: done, to be retried (*@retry_at_us set,
 * and for a 429 *@pause_all_us too), or a failure of the batch. */
static gboolean
request_finished (Http *self,
                  Request *request,
                  CURLcode code,
                  SutraItem *item,
                  gint64 *pause_all_us,
                  GError **error)
{
  const HttpSettings *s = self->settings;
  long status = 0;
  gboolean retryable;
  g_autofree char *why = NULL;
  gint64 wait_ms;

  curl_multi_remove_handle (self->multi, request->easy);
  curl_easy_getinfo (request->easy, CURLINFO_RESPONSE_CODE, &status);
  if (code == CURLE_OK && status >= 200 && status < 300)
    {
      g_autoptr (GError) local = NULL;

      if (!request_parse (self, request, &local))
        {
          g_autofree char *message = redact (self, local->message);

          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                       "item “%s”: %s (HTTP %ld)", sutra_item_get_id (item), message, status);
          return FALSE;
        }
      request->done = TRUE;
      return TRUE;
    }
  retryable = code != CURLE_OK || status == 429 || status == 408 || status >= 500;
  if (code != CURLE_OK)
    why = g_strdup_printf ("%s", curl_easy_strerror (code));
  else
    {
      g_autofree char *excerpt =
        g_strndup ((const char *) request->response->data, MIN (request->response->len, 300));

      g_strdelimit (excerpt, "\r\n", ' ');
      why = g_strdup_printf ("HTTP %ld: %s", status, excerpt);
    }
  if (!retryable || request->attempts >= (guint) s->max_attempts)
    {
      g_autofree char *message = redact (self, why);

      if (retryable)
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                     "item “%s”: the API failed %u times; the last: %s", sutra_item_get_id (item),
                     request->attempts, message);
      else
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                     "item “%s”: the API refused the request (not retried): %s",
                     sutra_item_get_id (item), message);
      return FALSE;
    }
  /* A server that says how long to wait is believed (up to max_wait_ms);
   * a 429 pauses every request of the batch, not just this one. */
  if (request->retry_after_ms >= 0)
    wait_ms = MIN (request->retry_after_ms, s->max_wait_ms);
  else
    wait_ms = backoff_ms (s, request->attempts);
  request->not_before_us = g_get_monotonic_time () + wait_ms * 1000;
  if (status == 429)
    *pause_all_us = MAX (*pause_all_us, request->not_before_us);
  return TRUE;
}

static gboolean
http_process (gpointer instance,
              SutraItem *const *items,
              guint n_items,
              SutraOutput *output,
              GError **error)
{
  Http *self = instance;
  g_autofree Request *requests = g_new0 (Request, n_items);
  guint n_done = 0;
  guint n_running = 0;
  gint64 pause_all_us = 0;
  gboolean ok = TRUE;

  for (guint i = 0; i < n_items && ok; i++)
    {
      g_autoptr (GError) local = NULL;

      requests[i].index = i;
      requests[i].body = build_body (self, items[i], &requests[i].body_length, &local);
      if (requests[i].body == NULL)
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                      "item “%s”: ", sutra_item_get_id (items[i]));
          ok = FALSE;
        }
    }

  while (ok && n_done < n_items)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 next_wake = G_MAXINT64;
      int still_running = 0;
      int timeout_ms;
      CURLMsg *message;
      int n_messages;

      /* Start what may start: in id order, up to max_in_flight. */
      for (guint i = 0; i < n_items && n_running < self->max_in_flight; i++)
        {
          Request *request = &requests[i];
          gint64 start_at = MAX (MAX (request->not_before_us, pause_all_us), self->next_start_us);

          if (request->done || (request->attempts > 0 && request->not_before_us == 0))
            continue;
          if (start_at > now)
            {
              next_wake = MIN (next_wake, start_at);
              continue;
            }
          request->not_before_us = 0;
          request_start (self, request);
          n_running++;
          /* Retries go through here too, so they take their turn in the
           * spacing. A start a little late (wake-ups come in whole
           * milliseconds, on a busy machine later) keeps the schedule, or
           * the batch would fall behind the window the engine reserved for
           * it; after a longer gap (a pause for a 429, the engine's wait
           * between batches) the schedule starts afresh from now, so that
           * lost time is never made up with a burst. */
          if (self->interval_us > 0)
            self->next_start_us =
              (now - self->next_start_us < self->interval_us ? self->next_start_us : now) +
              self->interval_us;
        }
      curl_multi_perform (self->multi, &still_running);
      while ((message = curl_multi_info_read (self->multi, &n_messages)) != NULL)
        {
          Request *request = NULL;

          if (message->msg != CURLMSG_DONE)
            continue;
          curl_easy_getinfo (message->easy_handle, CURLINFO_PRIVATE, (char **) &request);
          n_running--;
          if (!request_finished (self, request, message->data.result, items[request->index],
                                 &pause_all_us, error))
            {
              ok = FALSE;
              break;
            }
          if (request->done)
            n_done++;
        }
      if (!ok || n_done == n_items)
        break;
      if (sutra_output_is_cancelled (output))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the run is stopping");
          ok = FALSE;
          break;
        }
      now = g_get_monotonic_time ();
      /* Rounded up: rounded down, a wait under a millisecond would spin. */
      timeout_ms =
        next_wake == G_MAXINT64 ? 1000 : (int) CLAMP ((next_wake - now + 999) / 1000, 0, 1000);
      if (n_running > 0)
        curl_multi_poll (self->multi, NULL, 0, timeout_ms, NULL);
      else if (timeout_ms > 0)
        g_usleep ((gulong) timeout_ms * 1000);
    }

  for (guint i = 0; i < n_items; i++)
    if (requests[i].easy != NULL && !requests[i].done)
      curl_multi_remove_handle (self->multi, requests[i].easy);
  if (ok)
    for (guint i = 0; i < n_items; i++)
      {
        Request *request = &requests[i];
        SutraItem *answer =
          sutra_item_new_derived (items[i], request->result_type, g_bytes_ref (request->result));
        JsonObject *meta = sutra_item_ensure_meta (answer);

        if (request->usage != NULL)
          {
            static const char *const counts[] = { "prompt_tokens", "completion_tokens",
                                                  "total_tokens" };

            for (guint k = 0; k < G_N_ELEMENTS (counts); k++)
              if (json_object_has_member (request->usage, counts[k]))
                json_object_set_int_member (meta, counts[k],
                                            json_object_get_int_member (request->usage, counts[k]));
          }
        if (request->model != NULL)
          json_object_set_string_member (meta, "model", request->model);
        json_object_set_int_member (meta, "http_attempts", request->attempts);
        sutra_output_push (output, answer);
      }
  for (guint i = 0; i < n_items; i++)
    request_clear (&requests[i]);
  return ok;
}

static const char *const http_input_types[] = { "text/*", NULL };
static const char *const http_output_types[] = { SUTRA_MEDIA_TEXT_PLAIN, "application/json", NULL };
static const char *const http_meta_keys[] = {
  "prompt_tokens", "completion_tokens", "total_tokens", "model", "http_attempts", "*", NULL
};

static const SutraStageInfo http_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "http",
    .kind = SUTRA_STAGE_MAP,
    .summary = "Sends each item to a web API (chat completions or any JSON API) and keeps "
               "the answer",
    .params = http_params,
    .settings_size = sizeof (HttpSettings),
    .threading = SUTRA_THREADING_PER_WORKER,
    .devices = SUTRA_DEVICE_CPU,
    .create = http_create,
    .process = http_process,
    .destroy = http_destroy,
    .input_media_types = http_input_types,
    .output_media_types = http_output_types,
    .meta_keys = http_meta_keys,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo http_plugin = {
  .name = "http",
  .version = "1.0.0",
  .summary = "Web APIs and model APIs over HTTP (libcurl)",
  .stages = http_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (http_plugin)
