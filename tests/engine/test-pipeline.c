/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-pipeline.c: loading, --set, ${var}, validation. */

/*
 * Every bad input of a pipeline file is a row of bad_cases: the text, the
 * --set assignments, the error code, how many problems the message lists
 * and substrings it must hold: the file, the line:column of the offending
 * key, the stage, the key and the valid choices or a "did you mean".
 *
 * Texts are built from the lines below so that columns are easy to check:
 * line 4 is "read", line 5 "pass", line 6 "write"; in PASS (extra) the first
 * extra key starts at column 54, in READ_PARAMS the first parameter at 52.
 */

#include "sutra-json-locations.h"
#include "sutra-pipeline.h"
#include "sutra-test-util.h"

#include <glib/gstdio.h>
#include <pthread.h>
#include <unistd.h>

static SutraRegistry *registry;
static char *registry_problem;

#define HEAD "{\n  \"sutra\": 1,\n  \"stages\": {\n"
#define TAIL "  }\n}\n"
#define READ_PARAMS(params) \
  "    \"read\": { \"plugin\": \"text-source\", \"params\": { " params " } },\n"
#define READ READ_PARAMS ("\"path\": \"${in}\"")
#define PASS(extra) "    \"pass\": { \"plugin\": \"identity\", \"input\": \"read\"" extra " },\n"
#define STAGE(name, rest) "    \"" name "\": { " rest " },\n"
#define WRITE_PATH(path)                                                                       \
  "    \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"pass\", \"params\": { \"path\": " \
  "\"" path "\" } }\n"
#define WRITE WRITE_PATH ("${out}")
#define LAST(name, rest) "    \"" name "\": { " rest " }\n"

typedef struct
{
  const char *name;
  const char *text;
  const char *sets[4];
  int code;
  guint n_problems;
  const char *needles[8];
} BadCase;

static const BadCase bad_cases[] = {
  /* Syntax. */
  { "syntax/trailing-comma",
    HEAD "    \"a\": { \"plugin\": \"identity\", }\n" TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_SYNTAX,
    1,
    { "bad.json:4:", "not valid JSON" } },
  { "syntax/unterminated",
    HEAD READ,
    { NULL },
    SUTRA_PIPELINE_ERROR_SYNTAX,
    1,
    { "bad.json:", "not valid JSON" } },
  { "syntax/not-an-object",
    "[1, 2]\n",
    { NULL },
    SUTRA_PIPELINE_ERROR_SYNTAX,
    1,
    { "bad.json: a pipeline file is a JSON object with “sutra” and “stages” keys" } },
  { "syntax/empty", "", { NULL }, SUTRA_PIPELINE_ERROR_SYNTAX, 1, { "bad.json" } },

  /* Version. */
  { "version/missing",
    "{\n  \"stages\": {\n" READ PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_VERSION,
    1,
    { "bad.json: missing “sutra”", "add \"sutra\": 1" } },
  { "version/wrong",
    "{\n  \"sutra\": 2,\n  \"stages\": {\n" READ PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_VERSION,
    1,
    { "bad.json:2:3: “sutra” must be 1, got an integer (2)" } },
  { "version/string",
    "{\n  \"sutra\": \"1\",\n  \"stages\": {\n" READ PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_VERSION,
    1,
    { "bad.json:2:3: “sutra” must be 1, got a string (“1”)" } },

  /* Unknown keys, with did-you-mean and the valid keys. */
  { "unknown-key/stage",
    HEAD READ PASS (", \"wokers\": 2") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_UNKNOWN_KEY,
    1,
    { "bad.json:5:54: stage “pass”: unknown stage key “wokers”; did you mean “workers”?",
      "Valid keys: “plugin”, “input”, “params”, “workers”, “queue”, “queue_mb”, “batch”",
      "“rate_limit”, “comment”, “cache” or “max_in_flight”" } },
  { "unknown-key/top-level",
    "{\n  \"sutra\": 1,\n  \"author\": \"me\",\n  \"stages\": {\n" READ PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_UNKNOWN_KEY,
    1,
    { "bad.json:3:3: unknown top-level key “author”. Valid keys: “sutra”, “name”, "
      "“description”, “vars” or “stages”" } },
  { "unknown-key/top-level-typo",
    "{\n  \"sutra\": 1,\n  \"nme\": \"x\",\n  \"stages\": {\n" READ PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_UNKNOWN_KEY,
    1,
    { "bad.json:3:3: unknown top-level key “nme”; did you mean “name”?" } },
  { "unknown-key/retry",
    HEAD READ PASS (", \"retry\": { \"attempt\": 3 }") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_UNKNOWN_KEY,
    1,
    { "bad.json:5:65: stage “pass”: unknown key “retry.attempt”; did you mean “retry.attempts”?",
      "Valid keys: “attempts”, “backoff_ms” or “max_backoff_ms”" } },

  /* Plugins. */
  { "unknown-plugin/typo",
    HEAD READ STAGE ("pass", "\"plugin\": \"identiy\", \"input\": \"read\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_UNKNOWN_PLUGIN,
    1,
    { "bad.json:5:15: stage “pass”: unknown plugin “identiy”; did you mean “identity”?",
      "Known plugins: ", "“fault”", "“jsonl-sink”", "“text-source”" } },
  { "unknown-plugin/far",
    HEAD READ STAGE ("pass", "\"plugin\": \"no-such-thing\", \"input\": \"read\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_UNKNOWN_PLUGIN,
    1,
    { "bad.json:5:15: stage “pass”: unknown plugin “no-such-thing”. Known plugins: ", "“identity”",
      "--plugin-path" } },
  { "unknown-plugin/missing",
    HEAD READ STAGE ("pass", "\"input\": \"read\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_UNKNOWN_PLUGIN,
    1,
    { "bad.json:5:5: stage “pass”: missing “plugin” (a string). Known plugins: ", "“text-join”" } },

  /* Inputs and the graph. */
  { "missing-input/typo",
    HEAD READ STAGE ("pass", "\"plugin\": \"identity\", \"input\": \"raed\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_MISSING_INPUT,
    1,
    { "bad.json:5:37: stage “pass”: input “raed” names no stage; did you mean “read”?",
      "Stages: “read” or “write”" } },
  { "missing-input/far",
    HEAD READ STAGE ("pass", "\"plugin\": \"identity\", \"input\": [\"read\", \"elsewhere\"]")
      WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_MISSING_INPUT,
    1,
    { "bad.json:5:37: stage “pass”: input “elsewhere” names no stage. Stages: " } },
  { "cycle/two",
    HEAD STAGE ("a", "\"plugin\": \"identity\", \"input\": \"b\"")
      LAST ("b", "\"plugin\": \"identity\", \"input\": \"a\"") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_CYCLE,
    1,
    { "bad.json:4:34: stage “a”: the stages form a cycle: a → b → a",
      "remove one of these inputs" } },
  { "cycle/three-behind-a-source",
    HEAD READ STAGE ("x", "\"plugin\": \"identity\", \"input\": [\"read\", \"z\"]")
      STAGE ("y", "\"plugin\": \"identity\", \"input\": \"x\"")
        LAST ("z", "\"plugin\": \"identity\", \"input\": \"y\"") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_CYCLE,
    1,
    { "stage “x”: the stages form a cycle: x → y → z → x" } },
  /* Every cycle, not only the first. */
  { "cycle/two-separate",
    HEAD STAGE ("a", "\"plugin\": \"identity\", \"input\": \"b\"")
      STAGE ("b", "\"plugin\": \"identity\", \"input\": \"a\"")
        STAGE ("c", "\"plugin\": \"identity\", \"input\": \"d\"")
          LAST ("d", "\"plugin\": \"identity\", \"input\": \"c\"") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_CYCLE,
    2,
    { "bad.json: 2 problems:\n", "stage “a”: the stages form a cycle: a → b → a",
      "stage “c”: the stages form a cycle: c → d → c" } },
  { "cycle/sharing-a-stage",
    HEAD STAGE ("a", "\"plugin\": \"identity\", \"input\": [\"b\", \"c\"]")
      STAGE ("b", "\"plugin\": \"identity\", \"input\": \"a\"")
        LAST ("c", "\"plugin\": \"identity\", \"input\": \"a\"") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_CYCLE,
    2,
    { "stage “a”: the stages form a cycle: a → b → a",
      "stage “a”: the stages form a cycle: a → c → a" } },
  { "cycle/self",
    HEAD READ LAST ("loop", "\"plugin\": \"identity\", \"input\": \"loop\"") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_CYCLE,
    1,
    { "bad.json:5:", "stage “loop”: the stages form a cycle: loop → loop" } },
  { "graph/gather-without-split",
    HEAD READ STAGE ("pass", "\"plugin\": \"text-join\", \"input\": \"read\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_GRAPH,
    1,
    { "bad.json:5:38: stage “pass”: plugin “text-join” is a gather, but no split lies "
      "upstream of it" } },
  { "graph/sink-feeds-stage",
    HEAD READ STAGE ("write",
                     "\"plugin\": \"jsonl-sink\", \"input\": \"read\", \"params\": { \"path\": "
                     "\"${out}\" }") LAST ("pass", "\"plugin\": \"identity\", \"input\": \"write\"")
      TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_GRAPH,
    1,
    { "bad.json:6:37: stage “pass”: input “write” is a sink (plugin “jsonl-sink”), and a "
      "sink feeds no stage" } },
  { "graph/source-with-input",
    HEAD READ STAGE ("again",
                     "\"plugin\": \"text-source\", \"input\": \"read\", \"params\": { \"path\": "
                     "\"${in}\" }") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_GRAPH,
    1,
    { "bad.json:5:5: stage “again”: plugin “text-source” is a source and takes no “input”" } },
  { "graph/media-types-disjoint",
    HEAD STAGE ("read", "\"plugin\": \"media-audio-source\"")
      LAST ("split", "\"plugin\": \"text-split\", \"input\": \"read\"") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_GRAPH,
    1,
    { "bad.json:5:", "stage “split”: input “read” produces audio/x-raw-f32, and plugin "
                     "“text-split” takes none of these (it takes text/*)" } },
  { "graph/media-types-through-a-map",
    HEAD STAGE ("read", "\"plugin\": \"media-audio-source\"")
      STAGE ("pass", "\"plugin\": \"identity\", \"input\": \"read\"")
        LAST ("split", "\"plugin\": \"text-split\", \"input\": \"pass\"") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_GRAPH,
    1,
    { "stage “split”: input “pass” produces audio/x-raw-f32, and plugin “text-split” takes "
      "none" } },
  { "graph/media-types-text-into-audio",
    HEAD READ LAST ("hear", "\"plugin\": \"media-audio-map\", \"input\": \"read\"") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_GRAPH,
    1,
    { "stage “hear”: input “read” produces text/plain, text/markdown, application/epub+zip, "
      "application/zip, and plugin “media-audio-map” takes none of these (it takes audio/*)" } },
  { "graph/map-without-input",
    HEAD READ STAGE ("pass", "\"plugin\": \"identity\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_GRAPH,
    1,
    { "bad.json:5:5: stage “pass”: plugin “identity” is a map and needs an “input”" } },
  { "graph/input-not-a-name",
    HEAD READ PASS ("") STAGE ("more",
                               "\"plugin\": \"identity\", "
                               "\"input\": 5") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:6:", "stage “more”: key “input”: expected a stage name or an array",
      "got an integer (" } },
  { "graph/input-array-not-names",
    HEAD READ PASS ("") STAGE ("more",
                               "\"plugin\": \"identity\", "
                               "\"input\": [\"pass\", 1]") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:6:", "stage “more”: input[1]: expected a stage name, got " } },

  /* Parameters, checked against the stage's table. */
  { "param/wrong-type",
    HEAD READ PASS (", \"params\": { \"sleep_us\": \"slow\" }") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    1,
    { "bad.json:5:66: stage “pass”: parameter “sleep_us”: expected an integer, got a string" } },
  { "param/fraction-for-integer",
    HEAD READ PASS (", \"params\": { \"sleep_us\": 1.5 }") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    1,
    { "bad.json:5:66: stage “pass”: parameter “sleep_us”: expected an integer, got a number" } },
  { "param/out-of-range",
    HEAD READ PASS (", \"params\": { \"sleep_us\": -5 }") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    1,
    { "bad.json:5:66: stage “pass”: parameter “sleep_us”: -5 is out of range: it must lie "
      "between 0 and 2147483647" } },
  { "param/bool-expected",
    HEAD READ_PARAMS ("\"path\": \"${in}\", \"count_lines\": 1") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    1,
    { "bad.json:4:69: stage “read”: parameter “count_lines”: expected a boolean (true or "
      "false), got an integer" } },
  { "param/missing-required",
    HEAD STAGE ("read", "\"plugin\": \"text-source\"") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    1,
    { "bad.json:4:5: stage “read”: required parameter “path” is missing (string: A file" } },
  { "param/bad-enum-typo",
    HEAD READ_PARAMS ("\"path\": \"${in}\", \"format\": \"line\"") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    1,
    { "bad.json:4:69: stage “read”: parameter “format”: “line” is not a valid choice; did you "
      "mean “lines”? Valid choices: “lines”, “jsonl” or “document”" } },
  { "param/bad-enum-far",
    HEAD READ_PARAMS ("\"path\": \"${in}\", \"format\": \"xml\"") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    1,
    { "stage “read”: parameter “format”: “xml” is not a valid choice. Valid choices: "
      "“lines”, “jsonl” or “document”" } },
  { "param/unknown",
    HEAD READ PASS (", \"params\": { \"sleep_ms\": 5 }") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    1,
    { "bad.json:5:66: stage “pass”: unknown parameter “sleep_ms”; did you mean “sleep_us”? "
      "Parameters of “identity”: “sleep_us”" } },
  { "param/params-not-an-object",
    HEAD READ PASS (", \"params\": [1]") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    1,
    { "bad.json:5:54: stage “pass”: key “params”: expected an object, got an array" } },

  /* Variables. */
  { "variable/unresolved",
    HEAD READ_PARAMS ("\"path\": \"${nosuch}\"") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_UNRESOLVED_VARIABLE,
    1,
    { "bad.json:4:52: stage “read”: unresolved variable ${nosuch}: give it a value with --set "
      "nosuch=VALUE, or a default in the file's \"vars\"" } },
  { "variable/unresolved-setting",
    HEAD READ PASS (", \"workers\": \"${n}\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_UNRESOLVED_VARIABLE,
    1,
    { "bad.json:5:54: stage “pass”: unresolved variable ${n}" } },
  { "variable/malformed",
    HEAD READ_PARAMS ("\"path\": \"${in put}\"") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_UNRESOLVED_VARIABLE,
    1,
    { "bad.json:4:52: stage “read”: malformed variable reference “${in put}”" } },
  { "variable/vars-not-an-object",
    "{\n  \"sutra\": 1,\n  \"vars\": [\"x\"],\n  \"stages\": {\n" READ PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:3:3: “vars” must be an object of default values, got an array" } },
  { "variable/default-not-a-scalar",
    "{\n  \"sutra\": 1,\n  \"vars\": { \"x\": [1] },\n  \"stages\": {\n" READ PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:3:13: variable defaults are strings, numbers or booleans; “x” is an array" } },

  /* Files the stages will read and write. */
  { "input-file/missing",
    HEAD READ_PARAMS ("\"path\": \"${dir}/nosuch.txt\"") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_INPUT_FILE,
    1,
    { "bad.json:4:52: stage “read”: parameter “path”: input file “",
      "/nosuch.txt” does not exist" } },
  { "input-file/directory",
    HEAD READ_PARAMS ("\"path\": \"${dir}\"") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_INPUT_FILE,
    1,
    { "bad.json:4:52: stage “read”: parameter “path”: input “",
      "” is a directory: name a file, or a glob" } },
  { "input-file/glob-matches-nothing",
    HEAD READ_PARAMS ("\"path\": \"${dir}/*.nomatch\"") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_INPUT_FILE,
    1,
    { "bad.json:4:52: stage “read”: parameter “path”: input “", "/*.nomatch” matches no file" } },
  { "output-dir/missing",
    HEAD READ PASS ("") WRITE_PATH ("${dir}/nodir/out.jsonl") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "bad.json:6:69: stage “write”: parameter “path”: cannot write “",
      "/nodir/out.jsonl”: directory “", "/nodir” does not exist" } },
  { "output-dir/is-a-directory",
    HEAD READ PASS ("") WRITE_PATH ("${dir}") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "bad.json:6:69: stage “write”: parameter “path”: output “",
      "” is a directory: name a file inside it" } },
  { "output-dir/inside-a-file",
    HEAD READ PASS ("") WRITE_PATH ("${in}/out.jsonl") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "bad.json:6:69: stage “write”: parameter “path”: cannot write “", "/in.txt/out.jsonl”: “",
      "/in.txt” is a file, not a directory" } },
  { "output-dir/names-a-directory",
    HEAD READ PASS ("") WRITE_PATH ("${dir}/new/") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "bad.json:6:69: stage “write”: parameter “path”: output “",
      "/new/” names a directory: name a file inside it" } },
  { "output-dir/dot",
    HEAD READ PASS ("") WRITE_PATH (".") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "bad.json:6:69: stage “write”: parameter “path”: output “.” names a directory" } },

  /* Paths that name nothing (issue 15: an empty output path ran the whole
   * pipeline, then failed to rename “.part” to “”, leaving the .part). */
  { "empty-path/output",
    HEAD READ PASS ("") WRITE_PATH ("") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "bad.json:6:69: stage “write”: parameter “path” is empty: name the file to write, or "
      "“-” for standard output" } },
  { "empty-path/output-blank",
    HEAD READ PASS ("") WRITE_PATH (" \\t ") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "bad.json:6:69: stage “write”: parameter “path” is blank" } },
  { "empty-path/output-from-a-variable",
    HEAD READ PASS ("") WRITE TAIL,
    { "out=" },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "bad.json:6:69: stage “write”: parameter “path” is empty" } },
  { "empty-path/input",
    HEAD READ_PARAMS ("\"path\": \"\"") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_INPUT_FILE,
    1,
    { "bad.json:4:52: stage “read”: parameter “path” is empty: name the input file, a glob "
      "such as “books/*.txt”, or “-” for standard input" } },
  { "empty-path/input-blank",
    HEAD READ PASS ("") WRITE TAIL,
    { "in=  " },
    SUTRA_PIPELINE_ERROR_INPUT_FILE,
    1,
    { "bad.json:4:52: stage “read”: parameter “path” is blank" } },
  { "empty-path/output-dir",
    HEAD READ PASS ("") LAST ("files",
                              "\"plugin\": \"file-sink\", \"input\": \"pass\", "
                              "\"params\": { \"dir\": \"\" }") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "bad.json:6:68: stage “files”: parameter “dir” is empty: name the directory to write" } },

  /* Files shared between stages. */
  { "shared-file/output-is-the-input",
    HEAD READ PASS ("") WRITE_PATH ("${dir}/../work/in.txt") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "bad.json:6:69: stage “write”: parameter “path”: output “",
      "/in.txt” is the file stage “read” reads (parameter “path”): the run would overwrite its "
      "own input" } },
  { "shared-file/output-matches-the-input-pattern",
    HEAD READ_PARAMS ("\"path\": \"${dir}/*.txt\"") PASS ("") WRITE_PATH ("${dir}/out.txt") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "bad.json:6:69: stage “write”: parameter “path”: output “", "/out.txt” matches the pattern “",
      "/*.txt” that stage “read” reads (parameter “path”)" } },
  { "shared-file/two-sinks",
    HEAD READ PASS ("") STAGE ("write",
                               "\"plugin\": \"jsonl-sink\", \"input\": \"pass\", "
                               "\"params\": { \"path\": \"${out}\" }")
      LAST ("again",
            "\"plugin\": \"jsonl-sink\", \"input\": \"read\", "
            "\"params\": { \"path\": \"${dir}/./out.jsonl\" }") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "bad.json:7:69: stage “again”: parameter “path”: output “",
      "/./out.jsonl” is the file stage “write” writes too (parameter “path”): one would "
      "overwrite the other" } },
  { "shared-file/two-sinks-on-standard-output",
    HEAD READ PASS ("") STAGE ("write",
                               "\"plugin\": \"jsonl-sink\", \"input\": \"pass\", "
                               "\"params\": { \"path\": \"-\" }")
      LAST ("again",
            "\"plugin\": \"jsonl-sink\", \"input\": \"read\", "
            "\"params\": { \"path\": \"-\" }") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_OUTPUT_DIR,
    1,
    { "stage “again”: parameter “path”: stage “write” writes standard output too" } },

  /* Stage settings. */
  { "setting/workers-zero",
    HEAD READ PASS (", \"workers\": 0") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “workers”: 0 is out of range: it must lie between 1 "
      "and 1024" } },
  { "setting/workers-string",
    HEAD READ PASS (", \"workers\": \"many\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “workers”: expected an integer between 1 and 1024, got "
      "a string (“many”)" } },
  { "setting/workers-fraction",
    HEAD READ PASS (", \"workers\": 2.5") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “workers”: expected an integer between 1 and 1024, got "
      "a number (2.5)" } },
  { "setting/queue-zero",
    HEAD READ PASS (", \"queue\": 0") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “queue”: 0 is out" } },
  { "setting/batch-too-large",
    HEAD READ PASS (", \"batch\": 70000") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “batch”: 70000 is out of range: it must lie between 1 "
      "and 65536" } },
  { "setting/on-error",
    HEAD READ PASS (", \"on_error\": \"ignore\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “on_error”: expected one of “fail” or “skip”, got a "
      "string (“ignore”)" } },
  { "setting/on-error-typo",
    HEAD READ PASS (", \"on_error\": \"skpi\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “on_error”: expected one of “fail” or “skip”, got a "
      "string (“skpi”); did you mean “skip”?" } },
  { "setting/on-missing",
    HEAD READ PASS (", \"on_missing\": true") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “on_missing”: expected one of “fail” or “skip”, got a "
      "boolean (true)" } },
  { "setting/retry-attempts-zero",
    HEAD READ PASS (", \"retry\": { \"attempts\": 0 }") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:65: stage “pass”: key “retry.attempts”: 0 is out of range: it must lie "
      "between 1 and 100" } },
  { "setting/retry-backoff-string",
    HEAD READ PASS (", \"retry\": { \"attempts\": 2, \"backoff_ms\": \"fast\" }") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:80: stage “pass”: key “retry.backoff_ms”: expected an integer between 0 and "
      "3600000, got a string (“fast”)" } },
  { "setting/retry-not-an-object",
    HEAD READ PASS (", \"retry\": \"often\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “retry”: expected a number of attempts or an object",
      "got a string (“often”)" } },
  { "setting/process-streaming-gather",
    HEAD READ STAGE ("split", "\"plugin\": \"text-split\", \"input\": \"read\"")
      STAGE ("pass",
             "\"plugin\": \"text-join\", \"input\": \"split\", \"isolation\": "
             "\"process\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "stage “pass”: plugin “text-join” streams its gather groups, which worker processes do "
      "not carry yet",
      "remove \"isolation\": \"process\" from this stage" } },
  { "setting/timeout-without-process",
    HEAD READ PASS (", \"timeout_ms\": 500") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “timeout_ms” needs \"isolation\": \"process\"",
      "add \"isolation\": \"process\" or remove timeout_ms" } },
  { "setting/timeout-negative",
    HEAD READ PASS (", \"isolation\": \"process\", \"timeout_ms\": -1") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:78: stage “pass”: key “timeout_ms”: -1 is out of range: it must lie between 0 "
      "and 86400000" } },
  { "setting/timeout-string",
    HEAD READ PASS (", \"isolation\": \"process\", \"timeout_ms\": \"5s\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "stage “pass”: key “timeout_ms”: expected an integer between 0 and 86400000, got a "
      "string (“5s”)" } },
  { "setting/single-threaded-sink-process-workers",
    HEAD READ PASS ("") LAST ("write",
                              "\"plugin\": \"jsonl-sink\", \"input\": \"pass\", "
                              "\"isolation\": \"process\", \"workers\": 2, \"params\": { "
                              "\"path\": \"${out}\" }") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "stage “write”: plugin “jsonl-sink” is not thread-safe (or writes one ordered output)",
      "set workers to 1" } },
  { "setting/isolation-unknown",
    HEAD READ PASS (", \"isolation\": \"fork\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “isolation”: expected one of “thread” or “process”, got "
      "a string (“fork”)" } },
  { "setting/checkpoint",
    HEAD READ PASS (", \"checkpoint\": \"yes\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “checkpoint”: expected true or false, got a string "
      "(“yes”)" } },
  { "setting/cache",
    HEAD READ PASS (", \"cache\": \"lines\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "stage “pass”: key “cache”: expected one of “content” or “batch”, got a string "
      "(“lines”)" } },
  { "setting/cache-not-a-map",
    HEAD READ PASS ("") LAST ("write",
                              "\"plugin\": \"jsonl-sink\", \"input\": \"pass\", "
                              "\"cache\": \"content\", \"params\": { \"path\": \"${out}\" }") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "stage “write”: key “cache”: only a map caches its items by content" } },
  { "setting/rate-limit",
    HEAD READ PASS (", \"rate_limit\": 0") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “rate_limit”: expected items per second (a number)",
      "got an integer (0)" } },
  { "setting/max-in-flight-zero",
    HEAD READ PASS (", \"max_in_flight\": 0") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “max_in_flight”: 0 is out of range: it must lie between "
      "1 and 65536" } },
  { "setting/max-in-flight-string",
    HEAD READ PASS (", \"max_in_flight\": \"8\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “max_in_flight”: expected an integer between 1 and "
      "65536, got a string (“8”)" } },
  { "setting/max-in-flight-source",
    HEAD STAGE ("read",
                "\"plugin\": \"text-source\", \"max_in_flight\": 2, \"params\": { "
                "\"path\": \"${in}\" }") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:4:40: stage “read”: a source has no items in flight (it makes them, in one "
      "call); remove max_in_flight" } },
  { "setting/source-workers",
    HEAD STAGE ("read",
                "\"plugin\": \"text-source\", \"workers\": 2, \"params\": { \"path\": "
                "\"${in}\" }") PASS ("") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:4:40: stage “read”: a source runs one worker; set workers to 1" } },
  { "setting/single-threaded-workers",
    HEAD READ PASS ("") LAST ("write",
                              "\"plugin\": \"jsonl-sink\", \"input\": \"pass\", "
                              "\"workers\": 4, \"params\": { \"path\": \"${out}\" }") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:6:57: stage “write”: plugin “jsonl-sink” is not thread-safe",
      "set workers to 1" } },
  { "setting/devices-not-an-array",
    HEAD READ PASS (", \"devices\": \"cpu\"") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:54: stage “pass”: key “devices”: expected \"auto\" or an array",
      "got a string (“cpu”)" } },
  { "setting/device-name",
    HEAD READ PASS (", \"devices\": [\"gpu0\"]") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_DEVICE,
    1,
    { "bad.json:5:54: stage “pass”: devices[0]: expected “cpu” or “cuda:N”, got a string "
      "(“gpu0”)" } },
  { "setting/device-cpu-only-plugin",
    HEAD READ PASS (", \"devices\": [\"cuda:0\"]") WRITE TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_DEVICE,
    1,
    { "bad.json:5:54: stage “pass”: plugin “identity” runs on the CPU only, not on “cuda:0”" } },
  { "stages/empty",
    "{\n  \"sutra\": 1,\n  \"stages\": {}\n}\n",
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:3:3: “stages” must be an object with at least one stage, got an empty object" } },
  { "stages/missing",
    "{\n  \"sutra\": 1\n}\n",
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json: “stages” must be an object with at least one stage, got nothing" } },
  { "stages/not-an-object",
    HEAD READ PASS ("") "    \"oops\": 5\n" TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:6:5: stage “oops”: expected an object with at least a “plugin” key, got an "
      "integer (5)" } },

  /* --set. */
  { "set/missing-stage",
    HEAD READ PASS ("") WRITE TAIL,
    { "nosuch.workers=2" },
    SUTRA_PIPELINE_ERROR_BAD_OVERRIDE,
    1,
    { "bad.json: --set “nosuch.workers=2”: no stage named “nosuch”. Stages: “read”, “pass” or "
      "“write”" } },
  { "set/malformed",
    HEAD READ PASS ("") WRITE TAIL,
    { "workers" },
    SUTRA_PIPELINE_ERROR_BAD_OVERRIDE,
    1,
    { "bad.json: --set “workers”: expected NAME=VALUE or STAGE.KEY=VALUE" } },
  { "set/no-name",
    HEAD READ PASS ("") WRITE TAIL,
    { "=5" },
    SUTRA_PIPELINE_ERROR_BAD_OVERRIDE,
    1,
    { "--set “=5”: expected NAME=VALUE" } },
  { "set/bad-setting",
    HEAD READ PASS ("") WRITE TAIL,
    { "pass.workers=0" },
    SUTRA_PIPELINE_ERROR_BAD_VALUE,
    1,
    { "bad.json:5:5: stage “pass”: key “workers”: 0 is out of range" } },
  { "set/bad-param",
    HEAD READ PASS ("") WRITE TAIL,
    { "pass.sleep_us=-1" },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    1,
    { "stage “pass”: parameter “sleep_us”: -1 is out of range" } },
  { "set/unknown-param",
    HEAD READ PASS ("") WRITE TAIL,
    { "pass.sleep_ms=3" },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    1,
    { "stage “pass”: unknown parameter “sleep_ms”; did you mean “sleep_us”?" } },
  { "set/bad-enum",
    HEAD READ PASS ("") WRITE TAIL,
    { "read.format=json" },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    1,
    { "stage “read”: parameter “format”: “json” is not a valid choice; did you mean “jsonl”?" } },

  /* Several problems, reported together; the code is the first one's. */
  { "several/three",
    HEAD READ_PARAMS ("\"path\": \"${in}\", \"format\": \"line\"") PASS (", \"wokers\": 2")
      LAST ("write",
            "\"plugin\": \"jsonl-sink\", \"input\": \"pas\", \"params\": { \"path\": "
            "\"${out}\" }") TAIL,
    { NULL },
    SUTRA_PIPELINE_ERROR_BAD_PARAM,
    3,
    { "bad.json: 3 problems:\n", "bad.json:4:69: stage “read”: parameter “format”",
      "\nbad.json:5:54: stage “pass”: unknown stage key “wokers”",
      "\nbad.json:6:40: stage “write”: input “pas” names no stage; did you mean “pass”?" } },
  { "several/seven",
    "{\n  \"sutra\": 3,\n  \"stages\": {\n" READ_PARAMS ("\"path\": \"${nosuch}\"")
      PASS (", \"workers\": 0, \"params\": { \"sleep_us\": true }")
        STAGE ("join", "\"plugin\": \"text-join\", \"input\": \"pass\"")
          LAST ("write",
                "\"plugin\": \"jsonl-sink\", \"input\": \"pass\", \"params\": { \"path\": "
                "\"${dir}/none/x\" }") TAIL,
    { "ghost.queue=2" },
    SUTRA_PIPELINE_ERROR_VERSION,
    7,
    { "bad.json: 7 problems:\n", "bad.json:2:3: “sutra” must be 1", "no stage named “ghost”",
      "bad.json:4:52: stage “read”: unresolved variable ${nosuch}",
      "bad.json:5:54: stage “pass”: key “workers”: 0 is out of range",
      "bad.json:5:80: stage “pass”: parameter “sleep_us”: expected an integer, got a boolean",
      "/none” does not exist", "stage “join”: plugin “text-join” is a gather, but no split" } },
};

/* The per-test directory, an input file in it, and --set for ${in}, ${out}
 * and ${dir}. */
typedef struct
{
  char *dir;
  char *input;
  GPtrArray *sets;
} Fixture;

static void
fixture_init (Fixture *fixture, const char *const *extra_sets)
{
  fixture->dir = sutra_test_dir ();
  fixture->input = sutra_test_write (fixture->dir, "in.txt", "one\ntwo\nthree\n", -1);
  fixture->sets = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (fixture->sets, g_strconcat ("in=", fixture->input, NULL));
  g_ptr_array_add (fixture->sets, g_strconcat ("out=", fixture->dir, "/out.jsonl", NULL));
  g_ptr_array_add (fixture->sets, g_strconcat ("dir=", fixture->dir, NULL));
  for (guint i = 0; extra_sets != NULL && extra_sets[i] != NULL; i++)
    g_ptr_array_add (fixture->sets, g_strdup (extra_sets[i]));
  g_ptr_array_add (fixture->sets, NULL);
}

static void
fixture_clear (Fixture *fixture)
{
  g_free (fixture->dir);
  g_free (fixture->input);
  g_ptr_array_unref (fixture->sets);
}

static SutraPipeline *
load (const char *text, const char *const *extra_sets, GError **error)
{
  Fixture fixture;
  SutraPipeline *pipeline;

  fixture_init (&fixture, extra_sets);
  pipeline = sutra_pipeline_load_from_data ("bad.json", text, -1, registry,
                                            (const char *const *) fixture.sets->pdata, error);
  fixture_clear (&fixture);
  return pipeline;
}

static void
test_pipeline_rejects (gconstpointer data)
{
  const BadCase *row = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_auto (GStrv) lines = NULL;

  g_test_summary ("A bad pipeline file is refused before anything runs, with a message "
                  "naming the file, line:column, stage, key and the valid choices");
  pipeline = load (row->text, row->sets, &error);
  g_assert_null (pipeline);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, row->code);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, "bad.json"));
  for (guint i = 0; i < G_N_ELEMENTS (row->needles) && row->needles[i] != NULL; i++)
    sutra_assert_contains (error->message, row->needles[i]);
  /* One line per problem, after a heading when there are several. */
  lines = g_strsplit (error->message, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, row->n_problems + (row->n_problems > 1 ? 1 : 0));
  for (guint i = 0; lines[i] != NULL; i++)
    g_assert_true (g_str_has_prefix (lines[i], "bad.json"));
}

static void
test_pipeline_media_types_that_meet (void)
{
  static const char *const valid[] = {
    /* A converter between them. */
    HEAD STAGE ("read", "\"plugin\": \"media-audio-source\"")
      STAGE ("text", "\"plugin\": \"media-transcribe\", \"input\": \"read\"")
        LAST ("split", "\"plugin\": \"text-split\", \"input\": \"text\"") TAIL,
    /* A map that declares no output pushes what it takes: audio. */
    HEAD STAGE ("read", "\"plugin\": \"media-audio-source\"")
      STAGE ("pass", "\"plugin\": \"identity\", \"input\": \"read\"")
        LAST ("hear", "\"plugin\": \"media-audio-map\", \"input\": \"pass\"") TAIL,
    /* text/plain is one of the text types text-split takes. */
    HEAD READ LAST ("split", "\"plugin\": \"text-split\", \"input\": \"read\"") TAIL,
  };

  g_test_summary ("Stages whose declared media types meet (exactly, by a wildcard, or "
                  "through a map that pushes what it takes) validate");
  for (gsize i = 0; i < G_N_ELEMENTS (valid); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (SutraPipeline) pipeline = load (valid[i], NULL, &error);

      g_assert_no_error (error);
      g_assert_nonnull (pipeline);
    }
}

static void
test_pipeline_rejects_unreadable_input (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *secret = sutra_test_write (dir, "secret.txt", "x\n", -1);
  g_autofree char *set_in = g_strconcat ("in=", secret, NULL);
  const char *sets[] = { set_in, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;

  g_test_summary ("An input file that exists but cannot be read is refused");
  g_assert_cmpint (g_chmod (secret, 0), ==, 0);
  if (access (secret, R_OK) == 0)
    {
      /* root reads whatever the mode bits say: access() and open() agree,
       * so there is nothing to refuse. */
      g_test_skip ("the test runs as a user who can read a file with mode 000 (root)");
      return;
    }
  pipeline = load (HEAD READ PASS ("") WRITE TAIL, sets, &error);
  g_assert_null (pipeline);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_INPUT_FILE);
  sutra_assert_contains (error->message, "stage “read”: parameter “path”: input file “");
  sutra_assert_contains (error->message, "secret.txt” cannot be read");
}

static void
test_pipeline_rejects_unwritable_output_dir (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *locked = g_build_filename (dir, "locked", NULL);
  g_autofree char *set_out = g_strconcat ("out=", locked, "/out.jsonl", NULL);
  const char *sets[] = { set_out, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;

  g_test_summary ("An output directory that cannot be written is refused");
  g_assert_cmpint (g_mkdir (locked, 0500), ==, 0);
  if (access (locked, W_OK) == 0)
    {
      g_test_skip ("the test runs as a user who can write a directory with mode 500 (root)");
      return;
    }
  pipeline = load (HEAD READ PASS ("") WRITE TAIL, sets, &error);
  g_assert_null (pipeline);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_OUTPUT_DIR);
  sutra_assert_contains (error->message, "is not writable");
}

/* HEAD READ, then "pass" whose "comment" is @open repeated @depth times
 * around "1" and closed again. */
static char *
nested_pipeline (const char *open, const char *close, guint depth)
{
  g_autoptr (GString) text = g_string_new (HEAD READ "    \"pass\": { \"plugin\": \"identity\", "
                                                     "\"input\": \"read\", \"comment\": ");

  for (guint i = 0; i < depth; i++)
    g_string_append (text, open);
  g_string_append (text, "1");
  for (guint i = 0; i < depth; i++)
    g_string_append (text, close);
  g_string_append (text, " },\n" WRITE TAIL);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
test_pipeline_rejects_deep_nesting (void)
{
  /* The document, "stages" and the stage are three levels: a comment of
   * 61 arrays reaches level 64, 62 goes past it. */
  g_autofree char *at_limit = nested_pipeline ("[", "]", SUTRA_JSON_MAX_DEPTH - 3);
  g_autofree char *past_limit = nested_pipeline ("[", "]", SUTRA_JSON_MAX_DEPTH - 2);
  g_autofree char *arrays = nested_pipeline ("[", "]", 100000);
  g_autofree char *objects = nested_pipeline ("{\"a\": ", "}", 40000);
  g_autofree char *expected = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;

  g_test_bug ("15");
  g_test_summary ("A file nested deeper than 64 levels is refused before json-glib parses it "
                  "(100,000 arrays crashed it; 40,000 objects took more than 20 s), naming "
                  "the line and column of the first bracket past the limit, and the limit");
  pipeline = load (at_limit, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&pipeline, sutra_pipeline_free);

  /* "    \"pass\": { \"plugin\": \"identity\", \"input\": \"read\", \"comment\": " is
   * 64 characters, so the 62nd bracket is at column 64 + 62. */
  expected =
    g_strdup_printf ("bad.json:5:%u: nested deeper than %u levels", 64 + 62, SUTRA_JSON_MAX_DEPTH);
  pipeline = load (past_limit, NULL, &error);
  g_assert_null (pipeline);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_TOO_LARGE);
  sutra_assert_contains (error->message, expected);
  g_clear_error (&error);

  pipeline = load (arrays, NULL, &error);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_TOO_LARGE);
  sutra_assert_contains (error->message, expected);
  g_clear_error (&error);

  pipeline = load (objects, NULL, &error);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_TOO_LARGE);
  sutra_assert_contains (error->message, "bad.json:5:");
  sutra_assert_contains (error->message, "nested deeper than 64 levels");
}

static void
test_pipeline_rejects_huge_file (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *path = g_build_filename (dir, "huge.json", NULL);
  g_autoptr (GString) text = g_string_new (HEAD READ PASS ("") WRITE TAIL);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autofree char *expected = NULL;
  guint line, column;

  g_test_bug ("15");
  g_test_summary ("A file larger than 16 MiB is refused, naming the line and column where "
                  "the limit falls, and the limit; one of exactly 16 MiB is read");
  /* A valid pipeline, lines of blanks, and blanks up to 16 MiB. */
  while (text->len + 1024 <= SUTRA_JSON_MAX_BYTES)
    g_string_append_printf (text, "%1023s\n", "");
  g_string_append_printf (text, "%*s", (int) (SUTRA_JSON_MAX_BYTES - text->len), "");
  g_assert_cmpuint (text->len, ==, SUTRA_JSON_MAX_BYTES);
  line = sutra_test_count (text->str, "\n") + 1;
  column = text->str + text->len - strrchr (text->str, '\n');
  g_file_set_contents (path, text->str, text->len, &error);
  g_assert_no_error (error);
  pipeline = sutra_pipeline_load (path, registry, NULL, &error);
  /* Read and validated: only its ${in} and ${out} are unset. */
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_UNRESOLVED_VARIABLE);
  g_clear_error (&error);

  g_string_append (text, " ");
  g_file_set_contents (path, text->str, text->len, &error);
  g_assert_no_error (error);
  pipeline = sutra_pipeline_load (path, registry, NULL, &error);
  g_assert_null (pipeline);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_TOO_LARGE);
  expected = g_strdup_printf ("huge.json:%u:%u: the file goes on past 16 MiB", line, column);
  sutra_assert_contains (error->message, expected);
}

static void
test_pipeline_rejects_deep_set (void)
{
  g_autoptr (GString) deep = g_string_new ("pass.comment=");
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  const char *sets[] = { NULL, NULL };

  g_test_bug ("15");
  g_test_summary ("A --set value is JSON when it reads as JSON, within the same nesting "
                  "limit: a deep one is refused, not parsed; a deep ${var} value stays text");
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  sets[0] = deep->str;
  pipeline = load (HEAD READ PASS ("") WRITE TAIL, sets, &error);
  g_assert_null (pipeline);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_BAD_OVERRIDE);
  sutra_assert_contains (error->message, "--set “pass.comment=[[[");
  sutra_assert_contains (error->message, "…”: the value nests arrays and objects too deep");
  sutra_assert_contains (error->message, "column 61 of the value");
  g_clear_error (&error);

  /* The same as a variable: ${n} stands for text; "workers" says so. */
  g_string_overwrite (deep, 0, "n=");
  g_string_erase (deep, 2, strlen ("pass.comment=") - 2);
  sets[0] = deep->str;
  pipeline = load (HEAD READ PASS (", \"workers\": \"${n}\"") WRITE TAIL, sets, &error);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_BAD_VALUE);
  sutra_assert_contains (error->message, "workers");
  g_clear_error (&error);

  /* Arrays and objects within the limit are JSON. */
  sets[0] = "pass.devices=[\"cpu\"]";
  pipeline = load (HEAD READ PASS ("") WRITE TAIL, sets, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sutra_pipeline_get_stage (pipeline, "pass")->devices[0], ==, "cpu");
}

static void
test_pipeline_structure_only (void)
{
  /* No --set at all: ${in}, ${out} and ${n} have no value. */
  static const char text[] = HEAD READ PASS (", \"workers\": \"${n}\"") WRITE_PATH ("${out}") TAIL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autofree char *dot = NULL;

  g_test_summary ("SUTRA_PIPELINE_LOAD_STRUCTURE_ONLY (sutra graph) loads a pipeline whose "
                  "${vars} are unset and whose files do not exist; the graph's own problems "
                  "are still refused");
  pipeline = sutra_pipeline_load_from_data ("g.json", text, -1, registry, NULL, &error);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_UNRESOLVED_VARIABLE);
  g_clear_error (&error);

  pipeline = sutra_pipeline_load_from_data_full ("g.json", text, -1, registry, NULL,
                                                 SUTRA_PIPELINE_LOAD_STRUCTURE_ONLY, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pipeline->stages->len, ==, 3);
  dot = sutra_pipeline_to_dot (pipeline);
  sutra_assert_contains (dot, "\"read\" -> \"pass\"");
  sutra_assert_contains (dot, "\"pass\" -> \"write\"");
  g_clear_pointer (&pipeline, sutra_pipeline_free);

  /* Missing files are not looked at; an empty path is still no path. */
  pipeline =
    sutra_pipeline_load_from_data_full ("g.json",
                                        HEAD READ_PARAMS ("\"path\": \"/nonexistent/in.txt\"")
                                          PASS ("") WRITE_PATH ("/nonexistent/out.jsonl") TAIL,
                                        -1, registry, NULL, SUTRA_PIPELINE_LOAD_STRUCTURE_ONLY,
                                        &error);
  g_assert_no_error (error);
  g_clear_pointer (&pipeline, sutra_pipeline_free);
  pipeline =
    sutra_pipeline_load_from_data_full ("g.json", HEAD READ PASS ("") WRITE_PATH ("") TAIL, -1,
                                        registry, NULL, SUTRA_PIPELINE_LOAD_STRUCTURE_ONLY, &error);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_OUTPUT_DIR);
  g_clear_error (&error);

  /* The graph itself must be right. */
  pipeline =
    sutra_pipeline_load_from_data_full ("g.json",
                                        HEAD READ PASS (", \"input\": \"raed\"") WRITE TAIL, -1,
                                        registry, NULL, SUTRA_PIPELINE_LOAD_STRUCTURE_ONLY, &error);
  g_assert_null (pipeline);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_MISSING_INPUT);
  g_clear_error (&error);
  pipeline =
    sutra_pipeline_load_from_data_full ("g.json",
                                        HEAD READ_PARAMS ("\"path\": \"${}\"") PASS ("") WRITE TAIL,
                                        -1, registry, NULL, SUTRA_PIPELINE_LOAD_STRUCTURE_ONLY,
                                        &error);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_UNRESOLVED_VARIABLE);
  sutra_assert_contains (error->message, "malformed variable reference");
}

static void
test_pipeline_to_dot_escapes (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autofree char *dot = NULL;

  g_test_summary ("Quotes and backslashes in names are escaped in the DOT graph");
  pipeline = load ("{\n  \"sutra\": 1,\n  \"name\": \"a \\\"b\\\" \\\\c\",\n  \"stages\": {\n" READ
                     LAST ("say \\\"hi\\\"", "\"plugin\": \"jsonl-sink\", \"input\": \"read\", "
                                             "\"params\": { \"path\": \"${out}\" }") TAIL,
                   NULL, &error);
  g_assert_no_error (error);
  dot = sutra_pipeline_to_dot (pipeline);
  g_assert_true (g_str_has_prefix (dot, "digraph \"a \\\"b\\\" \\\\c\" {"));
  sutra_assert_contains (dot, "\"read\" -> \"say \\\"hi\\\"\"");
}

typedef struct
{
  const char *text;
  SutraPipeline *pipeline;
  GError *error;
} LoadJob;

static gpointer
load_job_run (gpointer data)
{
  LoadJob *job = data;

  job->pipeline = load (job->text, NULL, &job->error);
  return NULL;
}

static void
test_pipeline_many_stages (void)
{
  /* A chain of 200,000 stages crashed validation (a recursive search for
   * cycles ran out of stack), and ordering them took quadratic time. A
   * thread with a stack of 512 KiB shows the recursion with fewer stages. */
  const guint n_stages = 20000;
  g_autoptr (GString) text = g_string_new (HEAD READ);
  g_autoptr (SutraPipeline) pipeline = NULL;
  LoadJob job = { NULL, NULL, NULL };
  pthread_attr_t attributes;
  pthread_t thread;

  g_test_summary ("A pipeline of 20,000 stages in a chain, listed last to first, loads and is "
                  "put in order on a thread with a small stack: validation does not recurse "
                  "per stage");
  /* Last to first, so that the file's order is the reverse of the run's. */
  for (guint i = n_stages; i > 1; i--)
    g_string_append_printf (text,
                            "    \"s%u\": { \"plugin\": \"identity\", \"input\": \"s%u\" },\n", i,
                            i - 1);
  g_string_append (text, "    \"s1\": { \"plugin\": \"identity\", \"input\": \"read\" },\n");
  g_string_append_printf (text,
                          "    \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"s%u\", "
                          "\"params\": { \"path\": \"${out}\" } }\n" TAIL,
                          n_stages);
  job.text = text->str;
  g_assert_cmpint (pthread_attr_init (&attributes), ==, 0);
  g_assert_cmpint (pthread_attr_setstacksize (&attributes, 512 * 1024), ==, 0);
  g_assert_cmpint (pthread_create (&thread, &attributes, load_job_run, &job), ==, 0);
  g_assert_cmpint (pthread_join (thread, NULL), ==, 0);
  pthread_attr_destroy (&attributes);
  pipeline = job.pipeline;
  g_assert_no_error (job.error);
  g_assert_cmpuint (pipeline->stages->len, ==, n_stages + 2);
  g_assert_cmpstr (((SutraStageSpec *) pipeline->stages->pdata[0])->name, ==, "read");
  g_assert_cmpstr (((SutraStageSpec *) pipeline->stages->pdata[1])->name, ==, "s1");
  g_assert_cmpstr (((SutraStageSpec *) pipeline->stages->pdata[n_stages + 1])->name, ==, "write");
}

static void
test_pipeline_many_problems (void)
{
  g_autoptr (GString) text = g_string_new (HEAD READ);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_auto (GStrv) lines = NULL;

  g_test_summary ("Thousands of problems: the first 100 are shown, with the count of all; "
                  "long lists of choices are cut");
  for (guint i = 0; i < 3000; i++)
    g_string_append_printf (text,
                            "    \"s%u\": { \"plugin\": \"identity\", \"input\": \"nowhere\" },\n",
                            i);
  g_string_append (text, "    \"last\": { \"plugin\": \"identity\", \"input\": \"read\" }\n" TAIL);
  pipeline = load (text->str, NULL, &error);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_MISSING_INPUT);
  lines = g_strsplit (error->message, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 1 + 100 + 1);
  g_assert_cmpstr (lines[0], ==, "bad.json: 3000 problems (the first 100 follow):");
  sutra_assert_contains (lines[1], "stage “s0”: input “nowhere” names no stage. Stages: “read”, "
                                   "“s1”, “s2”");
  sutra_assert_contains (lines[1], "“s19”, … (3001 in all)");
  g_assert_cmpstr (lines[101], ==, "bad.json: … and 2900 more problems");
}

static void
test_pipeline_snapshot_reads_back (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autoptr (SutraPipeline) again = NULL;

  g_test_summary ("The resolved text (the job snapshot, which resume reads) writes doubles as "
                  "short decimals and reads back as the same pipeline: json-glib wrote 1e20 "
                  "as 1e+20.0, which it cannot read");
  pipeline =
    load (HEAD READ PASS (", \"rate_limit\": 1e20")
            STAGE ("slow", "\"plugin\": \"identity\", \"input\": \"pass\", \"rate_limit\": 0.1")
              LAST ("write", "\"plugin\": \"jsonl-sink\", \"input\": \"slow\", "
                             "\"params\": { \"path\": \"${out}\" }") TAIL,
          NULL, &error);
  g_assert_no_error (error);
  sutra_assert_contains (pipeline->resolved_json, "\"rate_limit\" : 1e+20\n");
  sutra_assert_contains (pipeline->resolved_json, "\"rate_limit\" : 0.1\n");
  again = sutra_pipeline_load_from_data ("snapshot.json", pipeline->resolved_json, -1, registry,
                                         NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again->resolved_json, ==, pipeline->resolved_json);
  g_assert_cmpfloat (sutra_pipeline_get_stage (again, "pass")->rate_limits.requests_per_second, ==,
                     1e20);
  g_assert_cmpfloat (sutra_pipeline_get_stage (again, "slow")->rate_limits.requests_per_second, ==,
                     0.1);
}

static void
test_pipeline_max_in_flight_caps_batch (void)
{
  static const struct
  {
    const char *settings;
    guint max_in_flight;
    guint batch;
  } rows[] = {
    { "", 0, 256 },
    { ", \"max_in_flight\": 64", 64, 64 },
    { ", \"max_in_flight\": 64, \"workers\": 2", 64, 32 },
    { ", \"max_in_flight\": 8, \"workers\": 3", 8, 3 },
    { ", \"max_in_flight\": 1, \"workers\": 4", 1, 1 },
    { ", \"max_in_flight\": 100, \"batch\": 16", 100, 16 },
  };

  g_test_summary ("max_in_flight is read, and caps a stage's batches to each worker's share of "
                  "it (rounded up), so that a batch always fits the bound");
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *text = NULL;
      g_autoptr (SutraPipeline) pipeline = NULL;
      SutraStageSpec *pass;

      text = g_strdup_printf (HEAD READ PASS ("%s") WRITE TAIL, rows[i].settings);
      pipeline = load (text, NULL, &error);
      g_assert_no_error (error);
      pass = sutra_pipeline_get_stage (pipeline, "pass");
      g_assert_cmpuint (pass->max_in_flight, ==, rows[i].max_in_flight);
      g_assert_cmpuint (pass->batch, ==, rows[i].batch);
    }
}

static const char *
stage_names (SutraPipeline *pipeline, GString *out)
{
  g_string_truncate (out, 0);
  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];

      g_assert_cmpuint (spec->index, ==, i);
      g_string_append_printf (out, "%s%s", i > 0 ? "," : "", spec->name);
    }
  return out->str;
}

static void
test_pipeline_loads_valid (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = load (HEAD READ PASS ("") WRITE TAIL, NULL, &error);
  g_autoptr (GString) names = g_string_new (NULL);
  SutraStageSpec *pass;

  g_test_summary ("A valid file loads with the documented defaults for every setting");
  g_assert_no_error (error);
  g_assert_nonnull (pipeline);
  g_assert_cmpstr (pipeline->path, ==, "bad.json");
  g_assert_cmpstr (pipeline->name, ==, "pipeline");
  g_assert_cmpstr (stage_names (pipeline, names), ==, "read,pass,write");
  pass = sutra_pipeline_get_stage (pipeline, "pass");
  g_assert_nonnull (pass);
  g_assert_null (sutra_pipeline_get_stage (pipeline, "nosuch"));
  g_assert_cmpstr (pass->plugin_name, ==, "identity");
  g_assert_cmpstr (pass->plugin->info->name, ==, "identity");
  g_assert_cmpint (pass->info->kind, ==, SUTRA_STAGE_MAP);
  g_assert_cmpuint (pass->workers, ==, 1);
  g_assert_cmpint (pass->isolation, ==, SUTRA_ISOLATION_THREAD);
  g_assert_cmpuint (pass->timeout_ms, ==, 0);
  g_assert_cmpuint (pass->queue, ==, 1024);
  g_assert_cmpuint (pass->batch, ==, 256);
  g_assert_cmpuint (pass->retry_attempts, ==, 1);
  g_assert_cmpuint (pass->retry_backoff_ms, ==, 100);
  g_assert_cmpuint (pass->retry_max_backoff_ms, ==, 10000);
  g_assert_cmpint (pass->on_error, ==, SUTRA_ON_ERROR_FAIL);
  g_assert_cmpint (pass->on_missing, ==, SUTRA_ON_ERROR_FAIL);
  g_assert_true (pass->checkpoint);
  g_assert_cmpfloat (pass->rate_limits.requests_per_second, ==, 0);
  g_assert_null (pass->devices);
  g_assert_cmpuint (pass->inputs->len, ==, 1);
  g_assert_true (pass->inputs->pdata[0] == sutra_pipeline_get_stage (pipeline, "read"));
  g_assert_cmpuint (pass->outputs->len, ==, 1);
  g_assert_true (pass->outputs->pdata[0] == sutra_pipeline_get_stage (pipeline, "write"));
  g_assert_cmpint (json_object_get_int_member (pass->resolved_params, "sleep_us"), ==, 0);
}

static void
test_pipeline_settings (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  SutraStageSpec *pass;

  g_test_summary ("Stage settings given in the file are read");
  pipeline =
    load (HEAD READ PASS (", \"workers\": 3, \"queue\": 16, \"batch\": 7, \"on_error\": "
                          "\"skip\", \"on_missing\": \"skip\", \"checkpoint\": false, "
                          "\"rate_limit\": 2.5, \"devices\": [\"cpu\"], \"comment\": \"x\", "
                          "\"retry\": { \"attempts\": 4, \"backoff_ms\": 5, "
                          "\"max_backoff_ms\": 50 }, \"isolation\": \"process\", "
                          "\"timeout_ms\": 2500") WRITE TAIL,
          NULL, &error);
  g_assert_no_error (error);
  pass = sutra_pipeline_get_stage (pipeline, "pass");
  g_assert_cmpuint (pass->workers, ==, 3);
  g_assert_cmpint (pass->isolation, ==, SUTRA_ISOLATION_PROCESS);
  g_assert_cmpuint (pass->timeout_ms, ==, 2500);
  g_assert_cmpuint (pass->queue, ==, 16);
  g_assert_cmpuint (pass->batch, ==, 7);
  g_assert_cmpint (pass->on_error, ==, SUTRA_ON_ERROR_SKIP);
  g_assert_cmpint (pass->on_missing, ==, SUTRA_ON_ERROR_SKIP);
  g_assert_false (pass->checkpoint);
  g_assert_cmpfloat (pass->rate_limits.requests_per_second, ==, 2.5);
  g_assert_nonnull (pass->devices);
  g_assert_cmpstr (pass->devices[0], ==, "cpu");
  g_assert_null (pass->devices[1]);
  g_assert_cmpuint (pass->retry_attempts, ==, 4);
  g_assert_cmpuint (pass->retry_backoff_ms, ==, 5);
  g_assert_cmpuint (pass->retry_max_backoff_ms, ==, 50);

  g_clear_pointer (&pipeline, sutra_pipeline_free);
  pipeline = load (HEAD READ PASS (", \"retry\": 3") WRITE TAIL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sutra_pipeline_get_stage (pipeline, "pass")->retry_attempts, ==, 3);
}

static void
test_pipeline_topological_order (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autoptr (GString) names = g_string_new (NULL);
  SutraStageSpec *join;

  g_test_summary ("Stages run in topological order; among stages that are ready, the "
                  "file's order; a fan-in keeps its inputs in the file's order");
  pipeline = load (HEAD STAGE ("sink", "\"plugin\": \"jsonl-sink\", \"input\": \"join\", "
                                       "\"params\": { \"path\": \"${out}\" }")
                     STAGE ("join", "\"plugin\": \"identity\", \"input\": [\"b\", \"a\"]")
                       STAGE ("b", "\"plugin\": \"identity\", \"input\": \"src\"")
                         STAGE ("a", "\"plugin\": \"identity\", \"input\": \"src\"")
                           LAST ("src", "\"plugin\": \"text-source\", \"params\": { \"path\": "
                                        "\"${in}\" }") TAIL,
                   NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (stage_names (pipeline, names), ==, "src,b,a,join,sink");
  join = sutra_pipeline_get_stage (pipeline, "join");
  g_assert_cmpuint (join->inputs->len, ==, 2);
  g_assert_cmpstr (((SutraStageSpec *) join->inputs->pdata[0])->name, ==, "b");
  g_assert_cmpstr (((SutraStageSpec *) join->inputs->pdata[1])->name, ==, "a");
  g_assert_cmpuint (sutra_pipeline_get_stage (pipeline, "src")->outputs->len, ==, 2);

  g_clear_pointer (&pipeline, sutra_pipeline_free);
  pipeline =
    load (HEAD WRITE_PATH ("${out}") ",\n" PASS ("") LAST ("read", "\"plugin\": "
                                                                   "\"text-source\", \"params\": "
                                                                   "{ \"path\": \"${in}\" }") TAIL,
          NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (stage_names (pipeline, names), ==, "read,pass,write");
}

static void
test_pipeline_vars_defaults (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  const char *text = "{\n  \"sutra\": 1,\n  \"name\": \"vars\",\n"
                     "  \"vars\": { \"n\": 3, \"r\": 0.25, \"flag\": false, \"label\": \"x\" },\n"
                     "  \"stages\": {\n" READ_PARAMS ("\"path\": \"${in}\", \"count_lines\": "
                                                      "\"${flag}\"")
                       PASS (", \"workers\": \"${n}\", \"rate_limit\": \"${r}\", \"comment\": "
                             "\"${label}-${n}\"") WRITE TAIL;
  const char *more[] = { "n=5", "label=y", NULL };
  SutraStageSpec *pass;
  g_autofree char *comment = NULL;

  g_test_summary ("\"vars\" gives defaults for ${var}; a value that is just ${var} takes "
                  "the variable's type; --set name=value overrides a default");
  pipeline = load (text, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (pipeline->name, ==, "vars");
  pass = sutra_pipeline_get_stage (pipeline, "pass");
  g_assert_cmpuint (pass->workers, ==, 3);
  g_assert_cmpfloat (pass->rate_limits.requests_per_second, ==, 0.25);
  g_assert_false (
    json_object_get_boolean_member (sutra_pipeline_get_stage (pipeline, "read")->resolved_params,
                                    "count_lines"));
  sutra_assert_contains (pipeline->resolved_json, "\"comment\" : \"x-3\"");
  /* The snapshot is the resolved document: no "vars", no ${...}. */
  sutra_assert_not_contains (pipeline->resolved_json, "\"vars\" :");
  sutra_assert_not_contains (pipeline->resolved_json, "${");

  g_clear_pointer (&pipeline, sutra_pipeline_free);
  pipeline = load (text, more, &error);
  g_assert_no_error (error);
  pass = sutra_pipeline_get_stage (pipeline, "pass");
  g_assert_cmpuint (pass->workers, ==, 5);
  sutra_assert_contains (pipeline->resolved_json, "\"comment\" : \"y-5\"");
  comment = g_strdup (pipeline->resolved_json);
  g_assert_cmpuint (sutra_test_count (comment, "\"workers\" : 5"), ==, 1);
}

typedef struct
{
  const char *name;
  const char *set;
  const char *stage;
  guint workers;
  gint64 sleep_us;
} SetCase;

static const SetCase set_cases[] = {
  { "stage-setting", "pass.workers=4", "pass", 4, 0 },
  { "stage-param", "pass.sleep_us=250", "pass", 1, 250 },
  { "stage-param-explicit", "pass.params.sleep_us=7", "pass", 1, 7 },
  { "stage-param-replaces-file-value", "busy.sleep_us=9", "busy", 2, 9 },
  { "stage-setting-replaces-file-value", "busy.workers=6", "busy", 6, 100 },
};

static void
test_pipeline_set_override (gconstpointer data)
{
  const SetCase *row = data;
  const char *sets[] = { row->set, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  SutraStageSpec *spec;

  g_test_summary ("--set stage.key=value sets a stage setting, or else a parameter, and "
                  "overrides the file");
  pipeline =
    load (HEAD READ PASS ("") STAGE ("busy", "\"plugin\": \"identity\", \"input\": "
                                             "\"pass\", \"workers\": 2, \"params\": { "
                                             "\"sleep_us\": 100 }") WRITE_PATH ("${out}") TAIL,
          sets, &error);
  g_assert_no_error (error);
  spec = sutra_pipeline_get_stage (pipeline, row->stage);
  g_assert_cmpuint (spec->workers, ==, row->workers);
  g_assert_cmpint (json_object_get_int_member (spec->resolved_params, "sleep_us"), ==,
                   row->sleep_us);
  g_assert_cmpint (G_STRUCT_MEMBER (gint64, sutra_settings_get_data (spec->settings), 0), ==,
                   row->sleep_us);
}

static void
test_pipeline_set_stage_settings (void)
{
  const char *sets[] = { "pass.on_error=skip", "pass.retry=3", "pass.queue=8",
                         "pass.checkpoint=false", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = load (HEAD READ PASS ("") WRITE TAIL, sets, &error);
  SutraStageSpec *pass;

  g_test_summary ("--set converts text that reads as a number or boolean");
  g_assert_no_error (error);
  pass = sutra_pipeline_get_stage (pipeline, "pass");
  g_assert_cmpint (pass->on_error, ==, SUTRA_ON_ERROR_SKIP);
  g_assert_cmpuint (pass->retry_attempts, ==, 3);
  g_assert_cmpuint (pass->queue, ==, 8);
  g_assert_false (pass->checkpoint);
}

static void
test_pipeline_fingerprint (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  SutraStageSpec *a, *b, *c, *d;

  g_test_summary ("A stage's fingerprint depends on its plugin and resolved parameters, "
                  "not on its name, workers or batch");
  pipeline = load (HEAD READ PASS ("")
                     STAGE ("again", "\"plugin\": \"identity\", \"input\": \"pass\", \"workers\": "
                                     "4, \"batch\": 3, \"params\": { \"sleep_us\": 0 }")
                       STAGE ("slow", "\"plugin\": \"identity\", \"input\": \"again\", \"params\": "
                                      "{ \"sleep_us\": 1 }")
                         STAGE ("faulty", "\"plugin\": \"fault\", \"input\": \"slow\"")
                           LAST ("write", "\"plugin\": \"jsonl-sink\", \"input\": \"faulty\", "
                                          "\"params\": { \"path\": \"${out}\" }") TAIL,
                   NULL, &error);
  g_assert_no_error (error);
  a = sutra_pipeline_get_stage (pipeline, "pass");
  b = sutra_pipeline_get_stage (pipeline, "again");
  c = sutra_pipeline_get_stage (pipeline, "slow");
  d = sutra_pipeline_get_stage (pipeline, "faulty");
  g_assert_cmpmem (a->fingerprint, 32, b->fingerprint, 32);
  g_assert_true (memcmp (a->fingerprint, c->fingerprint, 32) != 0);
  g_assert_true (memcmp (a->fingerprint, d->fingerprint, 32) != 0);
}

static void
test_pipeline_to_dot (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autofree char *dot = NULL;

  g_test_summary ("The DOT graph shows each stage with its plugin, kind, workers and batch, "
                  "and each edge with the queue of the stage it feeds");
  pipeline = load ("{\n  \"sutra\": 1,\n  \"name\": \"demo\",\n  \"stages\": {\n" READ PASS (
                     ", \"workers\": 2, \"batch\": 7, \"queue\": 16") WRITE TAIL,
                   NULL, &error);
  g_assert_no_error (error);
  dot = sutra_pipeline_to_dot (pipeline);
  g_assert_true (g_str_has_prefix (dot, "digraph \"demo\" {"));
  g_assert_true (g_str_has_suffix (dot, "}\n"));
  sutra_assert_contains (dot, "\"read\" [shape=invhouse");
  sutra_assert_contains (dot, "\"pass\" [shape=box, label=\"pass\\nidentity (map)\\nworkers 2, "
                              "batch 7\"]");
  sutra_assert_contains (dot, "\"write\" [shape=house");
  sutra_assert_contains (dot, "\"read\" -> \"pass\" [label=\"queue 16\"]");
  sutra_assert_contains (dot, "\"pass\" -> \"write\" [label=\"queue 1024\"]");
  g_assert_cmpuint (sutra_test_count (dot, " -> "), ==, 2);
}

static void
test_pipeline_load_file (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *input = sutra_test_write (dir, "in.txt", "a\n", -1);
  g_autofree char *path = sutra_test_write (dir, "p.json", HEAD READ PASS ("") WRITE TAIL, -1);
  g_autofree char *missing = g_build_filename (dir, "nosuch.json", NULL);
  g_autofree char *set_in = g_strconcat ("in=", input, NULL);
  g_autofree char *set_out = g_strconcat ("out=", dir, "/o.jsonl", NULL);
  const char *sets[] = { set_in, set_out, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;

  g_test_summary ("Files load from disk; a file that cannot be read is a READ error "
                  "naming it");
  pipeline = sutra_pipeline_load (path, registry, sets, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (pipeline->path, ==, path);
  g_clear_pointer (&pipeline, sutra_pipeline_free);

  pipeline = sutra_pipeline_load (missing, registry, sets, &error);
  g_assert_null (pipeline);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_READ);
  sutra_assert_contains (error->message, "cannot read pipeline file");
  sutra_assert_contains (error->message, missing);
  g_clear_error (&error);

  /* Messages about a file on disk name it by the path it was given. */
  g_assert_true (
    g_file_set_contents (path, HEAD READ PASS (", \"wokers\": 1") WRITE TAIL, -1, NULL));
  pipeline = sutra_pipeline_load (path, registry, sets, &error);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_UNKNOWN_KEY);
  g_assert_true (g_str_has_prefix (error->message, path));
  sutra_assert_contains (error->message, "p.json:5:54:");
}

static void
test_pipeline_demo_file (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *demo =
    g_build_filename (g_getenv ("SUTRA_SOURCE_ROOT"), "pipelines", "demo.json", NULL);
  g_autofree char *set_in =
    g_strconcat ("input=", g_getenv ("SUTRA_SOURCE_ROOT"), "/data/sample-book.txt", NULL);
  g_autofree char *set_out = g_strconcat ("output=", dir, "/demo.jsonl", NULL);
  const char *sets[] = { set_in, set_out, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;

  g_test_summary ("pipelines/demo.json validates with its input and output set");
  pipeline = sutra_pipeline_load (demo, registry, sets, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (pipeline->name, ==, "demo");
  g_assert_cmpuint (pipeline->stages->len, ==, 4);
}

static void
test_pipeline_columns_count_characters (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;

  g_test_summary ("Columns count characters, not bytes, after non-ASCII text");
  /* "dhātu …" is 10 bytes but 7 characters: "wokers" starts at column 76. */
  pipeline =
    load (HEAD READ PASS (", \"comment\": \"dhātu …\", \"wokers\": 1") WRITE TAIL, NULL, &error);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_UNKNOWN_KEY);
  sutra_assert_contains (error->message, "bad.json:5:76: stage “pass”: unknown stage key");
}

static void
test_pipeline_keys_with_escapes (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;

  g_test_summary ("A string with an escaped quote does not throw the positions off");
  pipeline =
    load (HEAD READ PASS (", \"comment\": \"say \\\"hi\\\", \\\\\", \"wokers\": 1") WRITE TAIL,
          NULL, &error);
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_UNKNOWN_KEY);
  sutra_assert_contains (error->message, "bad.json:5:83: stage “pass”: unknown stage key");
}

static void
test_pipeline_plugins_load (void)
{
  g_test_summary ("The built-in plugins these tests use load without a problem");
  g_assert_cmpstr (registry_problem, ==, NULL);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  registry = sutra_registry_new ();
  if (!sutra_registry_load_default (registry, NULL, &error))
    registry_problem = g_strdup (error->message);
  g_clear_error (&error);
  {
    /* Stages that declare media types, for the graph/media-types cases. */
    g_autofree char *media = g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "tests", "engine",
                                               "plugins", "media." G_MODULE_SUFFIX, NULL);

    if (!sutra_registry_load_file (registry, media, &error) && registry_problem == NULL)
      registry_problem = g_strdup (error->message);
    g_clear_error (&error);
  }
  g_test_add_func ("/engine/pipeline/plugins-load", test_pipeline_plugins_load);
  g_test_add_func ("/engine/pipeline/max-in-flight-caps-batch",
                   test_pipeline_max_in_flight_caps_batch);
  g_test_add_func ("/engine/pipeline/media-types-that-meet", test_pipeline_media_types_that_meet);

  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/pipeline/rejects/%s", bad_cases[i].name);

      g_test_add_data_func (path, &bad_cases[i], test_pipeline_rejects);
    }
  g_test_add_func ("/engine/pipeline/rejects-unreadable-input",
                   test_pipeline_rejects_unreadable_input);
  g_test_add_func ("/engine/pipeline/rejects-unwritable-output-dir",
                   test_pipeline_rejects_unwritable_output_dir);
  g_test_add_func ("/engine/pipeline/rejects-deep-nesting", test_pipeline_rejects_deep_nesting);
  g_test_add_func ("/engine/pipeline/rejects-huge-file", test_pipeline_rejects_huge_file);
  g_test_add_func ("/engine/pipeline/rejects-deep-set", test_pipeline_rejects_deep_set);
  g_test_add_func ("/engine/pipeline/many-stages", test_pipeline_many_stages);
  g_test_add_func ("/engine/pipeline/many-problems", test_pipeline_many_problems);
  g_test_add_func ("/engine/pipeline/snapshot-reads-back", test_pipeline_snapshot_reads_back);
  g_test_add_func ("/engine/pipeline/loads-valid", test_pipeline_loads_valid);
  g_test_add_func ("/engine/pipeline/settings", test_pipeline_settings);
  g_test_add_func ("/engine/pipeline/topological-order", test_pipeline_topological_order);
  g_test_add_func ("/engine/pipeline/vars-defaults", test_pipeline_vars_defaults);
  for (gsize i = 0; i < G_N_ELEMENTS (set_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/pipeline/set/%s", set_cases[i].name);

      g_test_add_data_func (path, &set_cases[i], test_pipeline_set_override);
    }
  g_test_add_func ("/engine/pipeline/set-stage-settings", test_pipeline_set_stage_settings);
  g_test_add_func ("/engine/pipeline/fingerprint", test_pipeline_fingerprint);
  g_test_add_func ("/engine/pipeline/to-dot", test_pipeline_to_dot);
  g_test_add_func ("/engine/pipeline/to-dot-escapes", test_pipeline_to_dot_escapes);
  g_test_add_func ("/engine/pipeline/structure-only", test_pipeline_structure_only);
  g_test_add_func ("/engine/pipeline/load-file", test_pipeline_load_file);
  g_test_add_func ("/engine/pipeline/demo-file", test_pipeline_demo_file);
  g_test_add_func ("/engine/pipeline/columns-count-characters",
                   test_pipeline_columns_count_characters);
  g_test_add_func ("/engine/pipeline/keys-with-escapes", test_pipeline_keys_with_escapes);

  status = g_test_run ();
  sutra_registry_free (registry);
  g_free (registry_problem);
  return status;
}
