#!/usr/bin/env bash
# submit_step.sh: upload mapper.py and reducer.py to S3 and run them as a Hadoop Streaming step on
# Amazon EMR, after checking everything that would make the step fail. Needs bash and the AWS CLI.
if [ -z "${BASH_VERSION:-}" ]; then  # started as `sh submit_step.sh`
  echo "submit_step.sh: run it with bash: ./submit_step.sh or bash submit_step.sh" >&2
  exit 2
fi
set -euo pipefail
# ${var//pattern/$replacement} takes $replacement literally in every bash, 3.2 to 5.2+ (where
# patsub_replacement would otherwise give & and \ a meaning there).
shopt -u patsub_replacement 2>/dev/null || true

PROG="submit_step.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
  cat <<'USAGE'
Usage: submit_step.sh --cluster-id j-XXXX --input S3URI... --output S3URI --code S3PREFIX
                      [-r N] [-c] [--wait] [--dry-run] [--name NAME] [-- JOB FLAGS]
       submit_step.sh --create-cluster [--yes] --input ... --output ... --code ... [-- JOB FLAGS]

Uploads mapper.py and reducer.py (from this script's folder, byte for byte) to --code and adds a
Hadoop Streaming step that runs them. Everything is checked before anything is uploaded.

  --cluster-id ID      the EMR cluster to run on (the step gets ActionOnFailure=CONTINUE)
  --create-cluster     instead: create a small cluster for this one step, with logging to S3, that
                       terminates itself afterwards; says what it costs and asks first (unless --yes)
  --input S3URI        Firehose data, repeatable:
                         a prefix (s3://b/2017/02/ or s3://b/): turned into the glob at the depth
                           of the objects (s3://b/2017/02/*/*/*), since Hadoop does not recurse;
                         a glob or an object: passed through unchanged
  --from DATE --to DATE   with --input at the root of the Firehose tree: only the delivery hours
                       in this range (inclusive); DATE is YYYY-MM-DD or YYYY-MM-DDTHH (UTC)
  --output S3URI       where Hadoop writes the result; must not exist yet
  --code S3PREFIX      where the scripts go; must not be inside an input
  -r, --reducers N     number of reduce tasks (-numReduceTasks N)
  -c, --combiner       run reducer.py --combine as a combiner
  -D KEY=VALUE         a Hadoop property for the job, repeatable (e.g. -D mapreduce.map.memory.mb=2048)
  --name NAME          the step's name (default: firehose-mr and the job flags)
  --wait               wait for the step; show the first output rows, or the cause of a failure
  --dry-run            check, then print the AWS CLI commands instead of running them
  --profile NAME, --region REGION   passed to every aws command (the CLI's own settings,
                       AWS_PROFILE, AWS_DEFAULT_REGION and AWS_ENDPOINT_URL work as usual)

  With --create-cluster:
  --yes                do not ask before creating the cluster
  --release-label L    EMR release (default emr-7.1.0)
  --instance-type T    (default m5.xlarge)    --instance-count N   (default 3: 1 primary, 2 core)
  --log-uri S3PREFIX   the cluster's log URI (default: CODE/logs/)

  With --wait:
  --poll SECONDS       seconds between status checks (default 30)
  --log-wait SECONDS   how long to wait for EMR to push the logs of a failed step (default 600)

Everything after -- goes to mapper.py as job flags, exactly as typed (see mapper.py --help).

Exit status: 0 done, 1 a check or the step failed, 2 bad usage.
USAGE
}

# ---------------------------------------------------------------------------------------------
# Messages and small helpers

die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit 1
}

usage_error() {
  printf '%s: %s\n(see %s --help)\n' "$PROG" "$*" "$PROG" >&2
  exit 2
}

note() {
  printf '%s\n' "$*" >&2
}

# Quote one word for a POSIX shell, only when it needs it (for the commands we print).
shell_quote() {
  local word="$1"
  if [[ -n "$word" && "$word" != *[!A-Za-z0-9_./:=@%+,#-]* ]]; then
    printf '%s' "$word"
  else
    local quote="'" escaped="'\\''"
    printf "'%s'" "${word//$quote/$escaped}"
  fi
}

shell_join() {
  local word sep=""
  for word in "$@"; do
    printf '%s' "$sep"
    shell_quote "$word"
    sep=" "
  done
}

# A JSON string literal. Control characters are refused earlier, so only \ and " need escapes.
json_string() {
  local text="$1"
  local backslash="\\\\" quote="\\\""
  text=${text//\\/$backslash}
  text=${text//\"/$quote}
  printf '"%s"' "$text"
}

json_string_array() {
  local item sep=""
  printf '['
  for item in "$@"; do
    printf '%s' "$sep"
    json_string "$item"
    sep=","
  done
  printf ']'
}

# ASCII control characters (the C locale's [:cntrl:]), whatever the user's locale.
has_control_chars() {
  local LC_ALL=C
  [[ "$1" == *[[:cntrl:]]* ]]
}

# Quote one job flag for Hadoop's PipeMapRed.splitArgs, which splits the -mapper string itself:
# spaces separate words, a pair of ' or " groups (quotes never nest, no backslash escapes), and
# an opening quote also ends the word before it. A word with both kinds of quote, or an empty
# word, cannot be carried at all.
hadoop_quote() {
  local flag="$1"
  if [[ -z "$flag" ]]; then
    printf '%s: an empty job flag cannot reach mapper.py: Hadoop drops empty words\n' "$PROG" >&2
    return 1
  fi
  if has_control_chars "$flag"; then
    printf '%s: job flag %s holds a control character (TAB, newline, ...): not supported\n' \
      "$PROG" "$(shell_quote "$flag")" >&2
    return 1
  fi
  case "$flag" in
    *\'*\"* | *\"*\'*)
      printf '%s: job flag %s holds both kinds of quote: Hadoop splits the mapper command itself, without escapes, so it cannot carry it\n' \
        "$PROG" "$(shell_quote "$flag")" >&2
      return 1 ;;
    *\"*) printf "'%s'" "$flag" ;;
    *\'* | *" "*) printf '"%s"' "$flag" ;;
    *) printf '%s' "$flag" ;;
  esac
}

# $1 without the start of a UTF-8 character cut off at its end. EMR takes 256 characters of a
# step's name, and bash cuts in characters under a UTF-8 locale but in bytes under another (C).
whole_utf8() (
  local text="$1"
  LC_ALL=C
  if [[ "$text" == *[$'\xc0'-$'\xff'] ]]; then text="${text%?}"
  elif [[ "$text" == *[$'\xe0'-$'\xff'][$'\x80'-$'\xbf'] ]]; then text="${text%??}"
  elif [[ "$text" == *[$'\xf0'-$'\xff'][$'\x80'-$'\xbf'][$'\x80'-$'\xbf'] ]]; then text="${text%???}"
  fi
  printf '%s' "$text"
)

# The -mapper command for these job flags: python3 mapper.py FLAGS, quoted for splitArgs.
mapper_command() {
  local command="python3 mapper.py" flag quoted
  for flag in "$@"; do
    quoted="$(hadoop_quote "$flag")" || return 1
    command+=" $quoted"
  done
  printf '%s' "$command"
}

# ---------------------------------------------------------------------------------------------
# The AWS CLI

aws_opts=()
aws_out=""
aws_err=""
tmp=""

aws_cli() {
  aws ${aws_opts[@]+"${aws_opts[@]}"} "$@"
}

# Run an aws command; its stdout goes to $aws_out, its stderr to $aws_err. Returns its status.
aws_capture() {
  local status=0
  aws_out="$(aws_cli "$@" 2>"$tmp/aws.err")" || status=$?
  aws_err="$(cat "$tmp/aws.err")"
  return "$status"
}

# Die with a clear message for an aws failure ($1 says what we were doing).
aws_die() {
  local doing="$1" said
  said="$(printf '%s' "$aws_err" | sed -e '/^[[:space:]]*$/d' | tail -n 3)"
  case "$aws_err" in
    *"Unable to locate credentials"* | *"NoCredentialProviders"* | *"InvalidClientTokenId"* | \
    *"InvalidAccessKeyId"* | *"SignatureDoesNotMatch"* | *"ExpiredToken"* | \
    *"UnrecognizedClientException"* | *"The config profile"*"could not be found"* | \
    *"Error when retrieving token from sso"* | *"Token has expired"*)
      die "no usable AWS credentials while $doing. Configure them (aws configure, aws sso login, --profile NAME or AWS_PROFILE) and try again. The AWS CLI said: $said" ;;
    *"You must specify a region"* | *"NoRegionError"*)
      die "no AWS region while $doing: pass --region REGION, set AWS_DEFAULT_REGION, or configure one (aws configure). The AWS CLI said: $said" ;;
    *)
      die "failed while $doing. The AWS CLI said: $said" ;;
  esac
}

need_aws() {
  command -v aws >/dev/null 2>&1 ||
    die "the AWS CLI (aws) is not on PATH: install it (v1 or v2) from https://aws.amazon.com/cli/"
}

# ---------------------------------------------------------------------------------------------
# S3 URIs

s3_bucket=""
s3_key=""

# Split s3://bucket/key into $s3_bucket and $s3_key; $2 names the option for messages.
split_s3() {
  local uri="$1" what="$2" rest
  case "$uri" in
    s3://?*) ;;
    s3n://* | s3a://*) usage_error "$what $uri: write it as s3://${uri#*://} (EMR reads s3:// through EMRFS)" ;;
    *) usage_error "$what $uri: not an S3 URI (s3://BUCKET/KEY)" ;;
  esac
  rest="${uri#s3://}"
  s3_bucket="${rest%%/*}"
  if [[ "$rest" == */* ]]; then s3_key="${rest#*/}"; else s3_key=""; fi
  [[ -n "$s3_bucket" ]] || usage_error "$what $uri: no bucket name"
  if has_control_chars "$uri"; then usage_error "$what: control characters in $(shell_quote "$uri")"; fi
}

# Does the S3 URI hold a glob character (Hadoop's: * ? [ {)?
is_glob() {
  [[ "$1" == *[\*\?\[\{]* ]]
}

# The part of a URI before its first glob character.
static_part() {
  local uri="$1"
  printf '%s' "${uri%%[\*\?\[\{]*}"
}

# Does a comma sit outside {...} (Hadoop splits -input values on those)?
has_bare_comma() {
  local text="$1" depth=0 i char
  for ((i = 0; i < ${#text}; i++)); do
    char="${text:i:1}"
    case "$char" in
      "{") depth=$((depth + 1)) ;;
      "}") ((depth > 0)) && depth=$((depth - 1)) ;;
      ",") ((depth == 0)) && return 0 ;;
    esac
  done
  return 1
}

# Keys under s3://bucket/prefix into the file $4, one a line: at most $5 of them (the AWS CLI
# fetches them a page of 1000 at a time), and with $6 only the keys that sort after it.
list_keys() {
  local bucket="$1" prefix="$2" what="$3" dest="$4" most="$5" after="${6:-}"
  local -a from=()
  [[ -n "$after" ]] && from=(--start-after "$after")
  aws_capture s3api list-objects-v2 --bucket "$bucket" --prefix "$prefix" --max-items "$most" \
    ${from[@]+"${from[@]}"} --query 'Contents[].[Key]' --output text || aws_die "$what"
  printf '%s\n' "$aws_out" | sed -e '/^None$/d' -e '/^$/d' >"$dest"
}

# How many objects under a prefix are looked at for one deeper than the Firehose layout. Without
# an error prefix, Firehose writes its error output to processing-failed/YYYY/MM/DD/HH/ at the
# bucket's root: beside dated folders there, and listed after all of them. So the check reads
# every key, up to this many (100 requests).
DEPTH_CHECK_KEYS=100000

# Sub-folders of s3://bucket/prefix (full prefixes, ending in /) into the file $4, one a line.
list_folders() {
  local bucket="$1" prefix="$2" what="$3" dest="$4"
  aws_capture s3api list-objects-v2 --bucket "$bucket" --prefix "$prefix" --delimiter / \
    --query 'CommonPrefixes[].[Prefix]' --output text || aws_die "$what"
  printf '%s\n' "$aws_out" | sed -e '/^None$/d' -e '/^$/d' >"$dest"
}

# ---------------------------------------------------------------------------------------------
# Inputs: prefixes, globs, objects, date ranges

# How many date folders (YYYY, MM, DD, HH) end this key prefix (which ends in / or is empty)?
trailing_date_depth() {
  local prefix="${1%/}" n
  local -a parts
  IFS=/ read -r -a parts <<<"$prefix"
  n=${#parts[@]}
  local yyyy='^[0-9]{4}$' mm='^(0[1-9]|1[0-2])$' dd='^(0[1-9]|[12][0-9]|3[01])$' hh='^([01][0-9]|2[0-3])$'
  if ((n >= 4)) && [[ "${parts[n - 4]}" =~ $yyyy && "${parts[n - 3]}" =~ $mm && "${parts[n - 2]}" =~ $dd && "${parts[n - 1]}" =~ $hh ]]; then
    echo 4
  elif ((n >= 3)) && [[ "${parts[n - 3]}" =~ $yyyy && "${parts[n - 2]}" =~ $mm && "${parts[n - 1]}" =~ $dd ]]; then
    echo 3
  elif ((n >= 2)) && [[ "${parts[n - 2]}" =~ $yyyy && "${parts[n - 1]}" =~ $mm ]]; then
    echo 2
  elif ((n >= 1)) && [[ "${parts[n - 1]}" =~ $yyyy ]]; then
    echo 1
  else
    echo 0
  fi
}

glob_stars() {
  local count="$1" stars="*"
  while ((count > 1)); do
    stars+="/*"
    count=$((count - 1))
  done
  printf '%s' "$stars"
}

input_globs=()

add_input_glob() {
  input_globs+=("$1")
}

# A Firehose prefix: the glob that matches its objects, after checking there are some and none
# deeper (a deeper object means the glob matches a folder: Hadoop reads the objects in it as input
# too, and fails with "Not a file" on a folder in it).
resolve_prefix() {
  local uri="$1" bucket="$2" prefix="$3" depth levels glob prefix_slashes matched deeper
  depth="$(trailing_date_depth "$prefix")"
  levels=$((5 - depth))
  glob="s3://$bucket/$prefix$(glob_stars "$levels")"
  list_keys "$bucket" "$prefix" "listing the input $uri" "$tmp/keys" "$DEPTH_CHECK_KEYS"
  prefix_slashes="${prefix//[!\/]/}"
  # Folder markers aside, count the keys with as many slashes as an object at the glob's depth,
  # and name the first one with more (awk: a bash loop takes seconds for 100,000 keys).
  {
    read -r matched
    IFS= read -r deeper
  } < <(awk -v depth="$((${#prefix_slashes} + levels - 1))" '
    /\/$/ || /_\$folder\$$/ { next }
    { slashes = gsub("/", "/") }
    slashes == depth { matched++ }
    slashes > depth && deeper == "" { deeper = $0 }
    END { print matched + 0; print deeper }' "$tmp/keys")
  if (($(wc -l <"$tmp/keys") >= DEPTH_CHECK_KEYS)); then
    note "input $uri: looked at the first $DEPTH_CHECK_KEYS objects only for one deeper than the Firehose layout"
  fi
  if [[ -n "$deeper" ]]; then
    die_deeper "$uri" "s3://$bucket/$deeper" "the glob $glob" "Give a deeper prefix or an explicit glob."
  fi
  if ((matched == 0)); then
    die "input $uri: no objects at the Firehose depth ($glob matches nothing), and Hadoop fails on an input that matches nothing. Check the prefix (aws s3 ls --recursive $uri); for another layout (a custom prefix such as year=2017/month=02/), give a glob that matches the objects, such as s3://$bucket/${prefix}*/*."
  fi
  check_formats "$uri" "$bucket" "$tmp/keys"
  note "input $uri -> $glob"
  add_input_glob "$glob"
}

# Firehose names its objects by its settings, and Hadoop decompresses by name and reads the rest
# as lines of text. So a ZIP archive (ZIP compression) or a Parquet or ORC file (record format
# conversion) would give nothing but malformed records, and so would gzip data under another name
# (GZIP with a custom file extension such as .json). A .snappy object is read by SnappyCodec:
# right for Firehose's HADOOP_SNAPPY, but its SNAPPY is the framing format (it starts with
# ff 06 00 00 "sNaPpY"), from which Hadoop reads no records at all, or fails with
# OutOfMemoryError (it takes the header for a block length). Refuse those, naming a key: any
# key of the list in file $3 with such an extension; and, read 10 bytes each, the first and the
# last objects and the first and the last .snappy ones (Firehose changes the settings of new
# objects only, and names them in time order).
SNAPPY_FRAMING_START="ff 06 00 00 73 4e 61 50 70 59"
GZIP_START="1f 8b"

check_formats() {
  local uri="$1" bucket="$2" keys="$3" unreadable sample kind
  {
    IFS= read -r unreadable
    while IFS= read -r sample; do
      [[ -n "$sample" ]] || continue
      check_object_start "$uri" "$bucket" "$sample"
    done
  } < <(awk '
    /\/$/ || /_\$folder\$$/ { next }
    /\.(zip|parquet|orc)$/ && unreadable == "" { unreadable = $0 }
    { if (first == "") first = $0; last = $0 }
    /\.snappy$/ { if (first_snappy == "") first_snappy = $0; last_snappy = $0 }
    END {
      print unreadable
      n = split(first "\n" last "\n" first_snappy "\n" last_snappy, picked, "\n")
      for (i = 1; i <= n; i++) if (picked[i] != "" && !(picked[i] in shown)) { shown[picked[i]]; print picked[i] }
    }' "$keys")
  [[ -n "$unreadable" ]] || return 0
  case "$unreadable" in
    *.zip) kind="a ZIP archive (Firehose's ZIP compression)" ;;
    *.parquet) kind="a Parquet file (Firehose's record format conversion)" ;;
    *) kind="an ORC file (Firehose's record format conversion)" ;;
  esac
  die "input $uri: s3://$bucket/$unreadable is $kind. Hadoop Streaming reads it as lines of text, so its records would all count as malformed. Deliver the stream as JSON with GZIP or Hadoop-compatible Snappy compression, or leave these objects out with a glob."
}

check_object_start() {
  local uri="$1" bucket="$2" key="$3" start
  if ! aws_capture s3api get-object --bucket "$bucket" --key "$key" --range bytes=0-9 "$tmp/start"; then
    [[ "$aws_err" == *InvalidRange* ]] && return 0  # an empty object
    aws_die "reading the start of s3://$bucket/$key"
  fi
  start="$(od -An -tx1 "$tmp/start" | tr -s ' \n' '  ')"
  start="${start# }"
  if [[ "$key" == *.snappy && "$start" == "$SNAPPY_FRAMING_START"* ]]; then
    die "input $uri: s3://$bucket/$key is Snappy in its framing format (Firehose's SNAPPY compression), which Hadoop's SnappyCodec does not read: the step would read no records from it, or fail with OutOfMemoryError. Deliver the stream with Hadoop-compatible Snappy (HADOOP_SNAPPY) or GZIP, or decompress these objects first."
  fi
  if [[ "$key" != *.gz && "$start" == "$GZIP_START"* ]]; then
    die "input $uri: s3://$bucket/$key is gzip data under a name Hadoop does not decompress (it goes by the .gz ending; Firehose's GZIP with a custom file extension does this): it would be read as lines of text, all malformed. Give the objects a name ending in .gz (in Firehose: a file extension such as .json.gz), or decompress them first."
  fi
}

# The keys (one a line on stdin) that Hadoop reads for the glob $1 (a key, without s3://bucket/):
# those it matches, and those in a folder it matches. The glob becomes an awk regular expression
# as Hadoop's GlobPattern makes it a Java one, but for its paths: * and ? never match a /. awk
# works on bytes here (LC_ALL=C), so ? and [!...] take a whole UTF-8 character where they match
# one ([...] is taken as ASCII).
keys_in_reach() {
  GLOB="$1" LC_ALL=C awk '
    function literal(c) { return index(".[]()*+?{}|^$\\", c) ? "\\" c : c }
    BEGIN {
      glob = ENVIRON["GLOB"]; n = length(glob); re = ""; curly = 0
      for (i = 1; i <= n; i++) {
        c = substr(glob, i, 1)
        if (c == "\\" && i < n) { re = re literal(substr(glob, ++i, 1)) }
        else if (c == "*") { re = re "[^/]*" }
        else if (c == "?") { re = re "([^/\200-\377]|[\300-\377][\200-\277]+)" }
        else if (c == "{") { re = re "("; curly++ }
        else if (c == "," && curly) { re = re "|" }
        else if (c == "}" && curly) { re = re ")"; curly-- }
        else if (c == "[") {
          negated = index("!^", substr(glob, ++i, 1)) > 0
          i += negated
          members = substr(glob, i, 1) == "]" ? substr(glob, i++, 1) : ""
          while (i <= n && substr(glob, i, 1) != "]") members = members substr(glob, i++, 1)
          if (negated) re = re "([^" members "/\200-\377]|[\300-\377][\200-\277]+)"
          else re = re "[" members "]"
        }
        else { re = re literal(c) }
      }
      re = "^" re "(/.*)?$"
    }
    $0 ~ re'
}

# An object below the Firehose depth: the input's glob ($3) would match a folder.
die_deeper() {
  local uri="$1" object="$2" glob_words="$3" remedy="$4"
  die "input $uri: $object is deeper than the Firehose layout YYYY/MM/DD/HH/object, so $glob_words would match a folder: Hadoop would read what is in it as input too (or fail with 'Not a file' on a folder in it). $remedy"
}

resolve_input() {
  local uri="$1" bucket key
  split_s3 "$uri" "--input"
  bucket="$s3_bucket"
  key="$s3_key"
  if has_bare_comma "$uri"; then
    usage_error "--input $uri: Hadoop splits input paths at commas (outside {...}): give each path its own --input"
  fi
  if is_glob "$uri"; then
    local static
    static="$(static_part "$key")"
    list_keys "$bucket" "$static" "listing the input $uri" "$tmp/listed" "$DEPTH_CHECK_KEYS"
    if [[ ! -s "$tmp/listed" ]]; then
      die "input $uri: nothing in S3 starts with s3://$bucket/$static, so the glob matches nothing and Hadoop would fail"
    fi
    keys_in_reach "$key" <"$tmp/listed" >"$tmp/keys"
    check_formats "$uri" "$bucket" "$tmp/keys"
    add_input_glob "$uri"
  elif [[ -z "$key" || "$key" == */ ]]; then
    resolve_prefix "$uri" "$bucket" "$key"
  elif aws_capture s3api head-object --bucket "$bucket" --key "$key"; then
    printf '%s\n' "$key" >"$tmp/keys"
    check_formats "$uri" "$bucket" "$tmp/keys"
    add_input_glob "$uri"
  elif [[ "$aws_err" == *"Not Found"* || "$aws_err" == *"404"* || "$aws_err" == *"NoSuchKey"* ]]; then
    note "input $uri is no object: taking it as the prefix $uri/"
    resolve_prefix "$uri/" "$bucket" "$key/"
  else
    aws_die "looking for the input $uri"
  fi
}

# --- date ranges -------------------------------------------------------------------------------

days_in_month() {
  local year=$((10#$1)) month=$((10#$2))
  case "$month" in
    2) if ((year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))); then echo 29; else echo 28; fi ;;
    4 | 6 | 9 | 11) echo 30 ;;
    *) echo 31 ;;
  esac
}

# YYYY-MM-DD or YYYY-MM-DDTHH as the number YYYYMMDDHH ($2: the hour to use without THH).
parse_date() {
  local text="$1" default_hour="$2" what="$3"
  local pattern='^([0-9]{4})-([0-9]{2})-([0-9]{2})(T([0-9]{2}))?$'
  [[ "$text" =~ $pattern ]] || usage_error "$what $text: expected YYYY-MM-DD or YYYY-MM-DDTHH (UTC)"
  local year="${BASH_REMATCH[1]}" month="${BASH_REMATCH[2]}" day="${BASH_REMATCH[3]}" hour="${BASH_REMATCH[5]:-$default_hour}"
  if ((10#$month < 1 || 10#$month > 12 || 10#$day < 1 || 10#$hour > 23)) ||
    ((10#$day > $(days_in_month "$year" "$month"))); then
    usage_error "$what $text: no such date or hour"
  fi
  echo $((10#$year * 1000000 + 10#$month * 10000 + 10#$day * 100 + 10#$hour))
}

range_from=""
range_to=""
range_globs=()

# Emit the globs for the folders under $prefix (level: 1 year .. 4 hour) that overlap the range,
# using whole-folder globs where the range covers a folder completely. Only existing folders are
# used: Hadoop fails the whole job when one input glob matches nothing.
range_walk() {
  local bucket="$1" prefix="$2" level="$3" year="$4" month="$5" day="$6" folder name first last
  local -a patterns=('' '^[0-9]{4}$' '^(0[1-9]|1[0-2])$' '^(0[1-9]|[12][0-9]|3[01])$' '^([01][0-9]|2[0-3])$')
  list_folders "$bucket" "$prefix" "listing the Firehose folders under s3://$bucket/$prefix" "$tmp/folders.$level"
  while IFS= read -r folder; do
    name="${folder#"$prefix"}"
    name="${name%/}"
    [[ "$name" =~ ${patterns[level]} ]] || continue
    case "$level" in
      1) first=$((10#$name * 1000000 + 10100)); last=$((10#$name * 1000000 + 123123)) ;;
      2) first=$((10#$year * 1000000 + 10#$name * 10000 + 100))
         last=$((10#$year * 1000000 + 10#$name * 10000 + $(days_in_month "$year" "$name") * 100 + 23)) ;;
      3) first=$((10#$year * 1000000 + 10#$month * 10000 + 10#$name * 100)); last=$((first + 23)) ;;
      4) first=$((10#$year * 1000000 + 10#$month * 10000 + 10#$day * 100 + 10#$name)); last=$first ;;
    esac
    ((first <= range_to && last >= range_from)) || continue
    if ((first >= range_from && last <= range_to)); then
      range_globs+=("s3://$bucket/$folder$(glob_stars $((5 - level)))")
    else
      case "$level" in
        1) range_walk "$bucket" "$folder" 2 "$name" "" "" ;;
        2) range_walk "$bucket" "$folder" 3 "$year" "$name" "" ;;
        3) range_walk "$bucket" "$folder" 4 "$year" "$month" "$name" ;;
      esac
    fi
  done <"$tmp/folders.$level"
}

resolve_range_input() {
  local uri="$1" bucket key glob folder count=0
  split_s3 "$uri" "--input"
  bucket="$s3_bucket"
  key="$s3_key"
  if is_glob "$uri" || [[ -n "$key" && "$key" != */ ]]; then
    usage_error "--input $uri with --from/--to: give the root of the Firehose tree (the prefix above the YYYY/ folders, ending in /)"
  fi
  if (($(trailing_date_depth "$key") > 0)); then
    usage_error "--input $uri with --from/--to: give the root of the Firehose tree (above the YYYY/ folders), not a date folder"
  fi
  range_globs=()
  range_walk "$bucket" "$key" 1 "" "" ""
  ((${#range_globs[@]} > 0)) || die "input $uri: no Firehose folders YYYY/MM/DD/HH/ between $from_text and $to_text under it, so there is nothing to read"
  range_keys "$uri" "$bucket" "$key"
  check_formats "$uri" "$bucket" "$tmp/keys"
  for glob in "${range_globs[@]}"; do
    folder="${glob%%\**}"
    if ((range_listed)) && ! awk -v folder="${folder#"s3://$bucket/"}" \
      'index($0, folder) == 1 { found = 1; exit } END { exit !found }' "$tmp/keys"; then
      note "input $uri: no objects in $folder (an empty folder): left out, as Hadoop fails on a glob that matches nothing"
      continue
    fi
    add_input_glob "$glob"
    note "input $uri -> $glob"
    count=$((count + 1))
  done
  ((count > 0)) || die "input $uri: no objects in the Firehose folders YYYY/MM/DD/HH/ between $from_text and $to_text under it, so there is nothing to read"
}

# The objects of the range under the tree at s3://bucket/root into $tmp/keys, up to
# DEPTH_CHECK_KEYS of them: S3 lists keys in order, and the layout sorts them by hour, so the
# listing starts after the first hour's folder name and the keys past the last hour are dropped.
# As for a prefix, an object deeper than the layout is refused. range_listed says whether the
# listing went past the range (else it stopped at DEPTH_CHECK_KEYS, somewhere inside it).
range_listed=0

range_keys() {
  local uri="$1" bucket="$2" root="$3" first last deeper
  first="$(hour_folder "$range_from")"
  last="$(hour_folder "$range_to")"
  list_keys "$bucket" "$root" "listing the input $uri" "$tmp/keys.all" "$DEPTH_CHECK_KEYS" "$root$first"
  {
    IFS= read -r range_listed
    IFS= read -r deeper
  } < <(awk -v root="$root" -v last="$last" -v keys="$tmp/keys" -v most="$DEPTH_CHECK_KEYS" '
    BEGIN { printf "" > keys }
    /\/$/ || /_\$folder\$$/ { next }
    { hour = substr($0, length(root) + 1, 13); rest = substr($0, length(root) + 14) }
    hour !~ /^[0-9][0-9][0-9][0-9]\/[0-9][0-9]\/[0-9][0-9]\/[0-9][0-9]$/ || hour > last { past = 1; next }
    rest ~ /^\/[^\/]+$/ { print > keys; next }
    rest ~ /^\// && deeper == "" { deeper = $0 }
    END { print (past || NR < most) ? 1 : 0; print deeper }' "$tmp/keys.all")
  if [[ -n "$deeper" ]]; then
    die_deeper "$uri" "s3://$bucket/$deeper" "the glob of its hour" "Give explicit globs instead of --from/--to."
  fi
  ((range_listed)) || note "input $uri: looked at the first $DEPTH_CHECK_KEYS objects of the range only"
}

# YYYYMMDDHH as the folders YYYY/MM/DD/HH.
hour_folder() {
  local hour
  printf -v hour '%010d' "$1"
  printf '%s/%s/%s/%s' "${hour:0:4}" "${hour:4:2}" "${hour:6:2}" "${hour:8:2}"
}

# ---------------------------------------------------------------------------------------------
# Output, code, cluster

# A JMESPath literal of the text $1 for a --query: JSON in backquotes, with a backquote written
# as \u0060. (A '...' literal cannot end in a backslash.)
jmespath_literal() {
  local backquote='`' escaped='\u0060'
  local json
  json="$(json_string "$1")"
  printf '%s%s%s' "$backquote" "${json//$backquote/$escaped}" "$backquote"
}

# Does Hadoop see s3://bucket/key as existing (an object, a folder marker, or objects under it)?
check_output_free() {
  local uri="$1" bucket="$2" key="${3%/}"
  local same marker folder
  same="$(jmespath_literal "$key")"
  marker="$(jmespath_literal "${key}_\$folder\$")"
  folder="$(jmespath_literal "$key/")"
  aws_capture s3api list-objects-v2 --bucket "$bucket" --prefix "$key" --delimiter / \
    --query "length([Contents[?Key==$same || Key==$marker || Key==$folder], CommonPrefixes[?Prefix==$folder]][])" \
    --output text || {
    case "$aws_err" in
      *NoSuchBucket*) die "--output $uri: the bucket $bucket does not exist (Hadoop writes into an existing bucket): create it first (aws s3 mb s3://$bucket)" ;;
      *) aws_die "checking that the output $uri does not exist" ;;
    esac
  }
  if [[ "$aws_out" != "0" ]]; then
    die "--output $uri already exists, and Hadoop aborts a job whose output exists. Choose a new --output, or delete the old one first: aws s3 rm --recursive s3://$bucket/$key/"
  fi
}

# Steps waiting or running on the cluster still need what they were given: the scripts under
# --code (EMR fetches -files when a step starts, so an upload now would change what an earlier
# step runs) and an --output of their own (the second job to write it fails). Refuse both.
check_waiting_steps() {
  local id="$1" step state args word next i code_user=""
  local -a words
  # shellcheck disable=SC2016  # `...` is a JMESPath literal
  aws_capture emr list-steps --cluster-id "$id" --step-states PENDING RUNNING \
    --query 'Steps[].[Id, Status.State, join(`"\u001f"`, Config.Args)]' --output text ||
    aws_die "listing the steps of cluster $id"
  while IFS=$'\t' read -r step state args; do
    [[ -n "$step" && "$step" != None ]] || continue
    IFS=$'\x1f' read -r -a words <<<"$args"
    for ((i = 0; i + 1 < ${#words[@]}; i++)); do
      word="${words[i]}" next="${words[i + 1]}"
      if [[ "$word" == -output && "$(s3_from_hadoop_uri "${next%/}")" == "$(s3_from_hadoop_uri "${output%/}")" ]]; then
        die "--output $output: step $step ($state) on cluster $id writes there already, and the second job to write an output fails: choose another --output"
      fi
      if [[ "$word" == -files && ("$next" == *"${code}mapper.py#"* || "$next" == *"${code}reducer.py#"*) ]]; then
        code_user="${code_user:-$step ($state)}"  # the first such step: the same --code for all of them
      fi
    done
  done <<<"$aws_out"
  [[ -z "$code_user" ]] || check_code_unchanged "$code_user"
}

# A step ("ID (STATE)") is to run the scripts under --code: uploading other ones there would
# change what it runs. The same bytes may go up again.
check_code_unchanged() {
  local step="$1" name
  for name in mapper.py reducer.py; do
    if ! aws_capture s3 cp "${code}$name" "$tmp/code-$name" --only-show-errors; then
      [[ "$aws_err" == *404* || "$aws_err" == *"does not exist"* ]] && continue  # gone: nothing to keep
      aws_die "reading ${code}$name"
    fi
    if ! cmp -s "$tmp/code-$name" "$HERE/$name"; then
      die "--code $code: step $step is to run the $name there, and this $name differs from it: uploading it would change what that step runs. Give another --code (such as ${code}v2/), or wait for the step to end"
    fi
  done
}

cluster_log_uri=""
cluster_state=""
cluster_release=""

check_cluster() {
  local id="$1"
  if ! aws_capture emr describe-cluster --cluster-id "$id" \
    --query 'Cluster.[Status.State, LogUri, ReleaseLabel]' --output text; then
    case "$aws_err" in
      *"is not valid"* | *InvalidRequestException* | *ClusterNotFound*)
        die "--cluster-id $id: no such cluster for these credentials in this region: check the id and the region (aws emr list-clusters --active; --region REGION)" ;;
      *) aws_die "looking up the cluster $id" ;;
    esac
  fi
  IFS=$'\t' read -r cluster_state cluster_log_uri cluster_release <<<"$aws_out"
  case "$cluster_state" in
    STARTING | BOOTSTRAPPING | RUNNING | WAITING) ;;
    *) die "--cluster-id $id: the cluster is $cluster_state and cannot run steps: use a running cluster or --create-cluster" ;;
  esac
  [[ "$cluster_log_uri" == "None" ]] && cluster_log_uri=""
  case "$cluster_release" in
    emr-4.* | emr-5.*)
      note "warning: cluster $id runs $cluster_release: mapper.py needs python3 >= 3.7 on every node (EMR 6 and 7 have it)" ;;
  esac
  cluster_log_uri="$(s3_from_hadoop_uri "$cluster_log_uri")"
  return 0
}

# EMR reports log URIs as s3n://...; the CLI wants s3://.
s3_from_hadoop_uri() {
  local uri="$1"
  case "$uri" in
    s3n://* | s3a://*) printf 's3://%s' "${uri#*://}" ;;
    *) printf '%s' "$uri" ;;
  esac
}

# Would the job flags be refused by mapper.py? Checked locally when python3 is here.
check_flags_locally() {
  command -v python3 >/dev/null 2>&1 || return 0
  local status=0
  # As in a map task: --time @arrival reads the input file's path from the environment.
  mapreduce_map_input_file="s3://bucket/2017/01/01/00/stream-1-2017-01-01-00-00-00-check" \
    python3 "$HERE/mapper.py" ${job_flags[@]+"${job_flags[@]}"} </dev/null >/dev/null 2>"$tmp/flags.err" || status=$?
  if ((status == 2)); then
    usage_error "mapper.py refuses these job flags: $(grep -v '^reporter:' "$tmp/flags.err" | tail -n 1)"
  fi
}

# ---------------------------------------------------------------------------------------------
# Cost of --create-cluster

# On-demand prices per instance-hour in us-east-1 (EC2 + EMR), as published by AWS in 2024.
instance_prices() {
  case "$1" in
    m5.xlarge) echo "0.192 0.048" ;;
    m5.2xlarge) echo "0.384 0.096" ;;
    m5.4xlarge) echo "0.768 0.192" ;;
    *) echo "" ;;
  esac
}

# Multiply a price with up to three decimals by a count, in cents (rounded up): no bc needed.
price_times() {
  local price="$1" count="$2" whole fraction
  whole="${price%.*}"
  fraction="${price#*.}000"
  fraction="${fraction:0:3}"
  local mills=$(((10#$whole * 1000 + 10#$fraction) * count))
  printf '%d.%03d' $((mills / 1000)) $((mills % 1000))
}

print_cost() {
  local prices ec2 emr
  prices="$(instance_prices "$instance_type")"
  note "This creates an EMR cluster ($release_label, Hadoop): $instance_count x $instance_type (1 primary, $((instance_count - 1)) core),"
  note "logging to $log_uri, that terminates itself after this step (and if the step fails)."
  if [[ -n "$prices" ]]; then
    read -r ec2 emr <<<"$prices"
    note "Estimated cost: about \$$(price_times "$(price_sum "$ec2" "$emr")" "$instance_count") per hour while it exists: $instance_count x (EC2 \$$ec2 + EMR \$$emr)"
    note "per $instance_type-hour on demand in us-east-1, billed per second with a one-minute minimum, from start-up"
    note "(about 5-10 minutes) until it terminates; other regions differ, EBS volumes and S3 requests add a little."
  else
    note "Estimated cost: unknown to $PROG for $instance_type: see https://aws.amazon.com/emr/pricing/ (EC2 + EMR per"
    note "instance-hour, x $instance_count instances, billed per second from start-up until it terminates)."
  fi
}

# The sum of two prices with up to three decimals.
price_sum() {
  local a="$1" b="$2" fa fb
  fa="${a#*.}000"
  fb="${b#*.}000"
  local mills=$(((10#${a%.*} + 10#${b%.*}) * 1000 + 10#${fa:0:3} + 10#${fb:0:3}))
  printf '%d.%03d' $((mills / 1000)) $((mills % 1000))
}

confirm_cost() {
  print_cost
  ((assume_yes)) && return 0
  ((dry_run)) && return 0
  if [[ -t 0 ]]; then
    local answer=""
    read -r -p "Create it? [y/N] " answer || true
    case "$answer" in
      y | Y | yes | YES) return 0 ;;
    esac
    die "not creating the cluster; nothing was uploaded or changed"
  fi
  die "not creating the cluster without confirmation: run again with --yes (nothing was uploaded or changed)"
}

# ---------------------------------------------------------------------------------------------
# Running or showing the commands

dry_run=0

# Run an aws command, or print it under --dry-run. Its stdout lands in $aws_out.
do_aws() {
  local doing="$1"
  shift
  if ((dry_run)); then
    printf '%s\n' "$(shell_join aws ${aws_opts[@]+"${aws_opts[@]}"} "$@")"
    aws_out=""
    return 0
  fi
  aws_capture "$@" || aws_die "$doing"
}

watch_hints() {
  local cluster="$1" step="$2" opts=""
  [[ ${#aws_opts[@]} -gt 0 ]] && opts=" $(shell_join "${aws_opts[@]}")"
  printf 'Step %s added to cluster %s.\n' "$step" "$cluster"
  printf 'Watch it:     aws%s emr describe-step --cluster-id %s --step-id %s --query Step.Status\n' "$opts" "$cluster" "$step"
  printf 'Wait for it:  aws%s emr wait step-complete --cluster-id %s --step-id %s\n' "$opts" "$cluster" "$step"
  if [[ -n "$cluster_log_uri" ]]; then
    printf 'Its logs:     %s/%s/steps/%s/ (EMR pushes them about every 5 minutes)\n' "${cluster_log_uri%/}" "$cluster" "$step"
  fi
  printf 'Output:       %s/\n' "${output%/}"
}

# ---------------------------------------------------------------------------------------------
# --wait

# Copy the files under an S3 prefix whose names match the patterns ($3...) into the local folder
# $2, with one aws s3 cp --recursive, and gunzip them (x.gz becomes x). Prints nothing.
fetch_logs() {
  local prefix_uri="$1" dest="$2" pattern file
  shift 2
  local -a filters=(--exclude "*")
  for pattern in "$@"; do filters+=(--include "$pattern"); done
  mkdir -p "$dest"
  if ! aws_capture s3 cp --recursive "$prefix_uri" "$dest" "${filters[@]}" --only-show-errors; then
    case "$aws_err" in  # not there yet is no error; a log bucket that cannot be read is
      *NoSuchBucket* | *AccessDenied* | *"Access Denied"* | *Forbidden* | *InvalidAccessKeyId* | \
        *ExpiredToken* | *"Unable to locate credentials"*) aws_die "reading the logs under $prefix_uri" ;;
    esac
    return 0
  fi
  while IFS= read -r file; do
    [[ -n "$file" ]] || continue
    gzip -dc "$file" >"${file%.gz}" 2>/dev/null || cp "$file" "${file%.gz}"
  done < <(find "$dest" -type f -name '*.gz')
  return 0
}

last_lines() {
  local title="$1" file="$2" count="$3"
  note ""
  note "--- $title (last $count lines) ---"
  tail -n "$count" "$file" >&2
  note "---"
}

# The exception line that ends the last Python traceback in a file.
python_error() {
  awk '/^Traceback \(most recent call last\):/ { inside = 1; next }
       inside && /^[^ \t]/ { line = $0; inside = 0 }
       END { print line }' "$1"
}

out_of_memory() {
  echo "a task ran out of memory: give it more (-D mapreduce.map.memory.mb=..., -D mapreduce.reduce.memory.mb=...); or, if a glob took in .snappy objects in Snappy's framing format (Firehose's SNAPPY compression), Hadoop cannot read those at all"
}

probable_cause() {
  local step_log="$1" task_log="$2" code program
  if grep -qE 'Output directory .* already exists|FileAlreadyExistsException' "$step_log"; then
    echo "the output already exists, and Hadoop will not overwrite it: choose a new --output, or delete it (aws s3 rm --recursive ${output%/}/)"
  elif grep -q 'Not a file:' "$step_log"; then
    echo "an input matched a folder, not files (Hadoop does not recurse): give --input as a Firehose prefix ending in / so that $PROG builds the glob at the depth of the objects, or make your glob deeper"
  elif grep -qE 'matches 0 files|Input path does not exist' "$step_log"; then
    echo "an input matches nothing: check the --input paths (aws s3 ls)"
  elif [[ -s "$task_log" ]] && grep -q '^Traceback (most recent call last):' "$task_log"; then
    echo "a Python error in the task: $(python_error "$task_log")"
  elif program="$(grep -ohE -m 1 'Cannot run program "[^"]*"' "$step_log" "$task_log" 2>/dev/null)"; then
    program="${program%%$'\n'*}"
    printf '%s\n' "the task could not start ${program#Cannot run program }: it is not installed on the nodes (EMR 7 has python3 but no 'python'; on other images install it with a bootstrap action)"
  elif grep -q 'subprocess failed with code 127' "$step_log" "$task_log" 2>/dev/null ||
    grep -qE "python3.*(not found|No such file or directory)|\\\\r': No such file" "$task_log" 2>/dev/null; then
    printf '%s\n' "exit code 127: the command was not found on the node: python3 is missing there (EMR 7 has python3 but no 'python'; install it with a bootstrap action on other images), or a script started through its #! line has CRLF line endings (env: 'python3\\r')"
  elif grep -qE 'Timed out after [0-9]+ secs' "$step_log" "$task_log" 2>/dev/null; then
    echo "a task was stopped after reporting no progress for mapreduce.task.timeout (600 s by default): a record that takes that long, or a script that hangs; raise it with -D mapreduce.task.timeout=MILLISECONDS if the work is real"
  elif grep -qE "OutOfMemoryError|beyond physical memory limits|beyond the 'PHYSICAL' memory limit|Container killed on request. Exit code is 137|subprocess failed with code 137" "$step_log" "$task_log" 2>/dev/null; then
    out_of_memory
  elif code="$(grep -ohE -m 1 'subprocess failed with code [0-9]+' "$step_log" "$task_log" 2>/dev/null)"; then
    code="${code%%$'\n'*}"
    code="${code##* }"
    if [[ "$code" == 2 ]]; then
      echo "the script exited with code 2: mapper.py or reducer.py refused its flags (the task's stderr says why)"
    else
      echo "the script exited with code $code (see the task's stderr above)"
    fi
  elif grep -q 'Container killed' "$step_log" "$task_log" 2>/dev/null; then
    out_of_memory
  else
    echo "unknown: read the logs above"
  fi
}

# After a failed step: EMR's reason, the last lines of the step's log and of the failed task's
# stderr (from the cluster's log URI), and the probable cause. Exits 1.
report_failure() {
  local cluster="$1" step="$2" state="$3" change_message="$4" reason="$5" message="$6" log_file="$7"
  local line step_dir deadline
  note "Step $step $state."
  for line in "$change_message" "$reason" "$message" "$log_file"; do
    [[ -n "$line" && "$line" != None ]] && note "EMR says: $line"
  done
  if [[ "$state" == CANCELLED || "$state" == INTERRUPTED ]]; then
    local cluster_said=""
    if aws_capture emr describe-cluster --cluster-id "$cluster" --query \
      'Cluster.Status.[State, StateChangeReason.Code, StateChangeReason.Message]' --output text; then
      cluster_said=" The cluster: $(printf '%s\n' "$aws_out" |
        awk -F'\t' '{ for (i = 1; i <= NF; i++) if ($i != "None") printf "%s%s", (n++ ? " " : ""), $i }')"
    fi
    [[ "$state" == CANCELLED ]] &&
      die "the step was cancelled (by someone, or because an earlier step failed or the cluster is terminating): nothing of its own went wrong.$cluster_said"
    die "the step was interrupted while it ran: the cluster stopped running it (it is terminating, or lost the node the step ran on), not the step's own error. Run it again on a running cluster.$cluster_said"
  fi
  if [[ -z "$cluster_log_uri" ]]; then
    die "the cluster has no log URI, so there are no task logs to read: look at the step in the EMR console, and create clusters with --log-uri"
  fi
  step_dir="${cluster_log_uri%/}/$cluster/steps/$step/"
  deadline=$((SECONDS + log_wait))
  while :; do
    fetch_logs "$step_dir" "$tmp/step" stderr.gz syslog.gz stderr syslog
    [[ -f "$tmp/step/stderr" || -f "$tmp/step/syslog" ]] && break
    ((SECONDS < deadline)) || die "no logs under $step_dir yet (EMR pushes them about every 5 minutes): look later with: aws s3 ls --recursive $step_dir"
    note "waiting for EMR to push the step's logs to $step_dir ..."
    sleep "$poll"
  done
  local step_log="$tmp/step.log" task_log="$tmp/task.log" name
  : >"$task_log"
  cat "$tmp/step/stderr" "$tmp/step/syslog" >"$step_log" 2>/dev/null || true
  for name in stderr syslog; do
    [[ -f "$tmp/step/$name" ]] && last_lines "the step's $name, $step_dir$name.gz" "$tmp/step/$name" 20
  done
  local app task=""
  app="$(grep -oE '(application|job)_[0-9]+_[0-9]+' "$step_log" | head -n 1 || true)"
  app="${app/#job_/application_}"
  if [[ -n "$app" ]]; then
    local app_dir="${cluster_log_uri%/}/$cluster/containers/$app/"
    while :; do  # EMR may push the containers' logs later than the step's
      fetch_logs "$app_dir" "$tmp/containers" "*/stderr.gz" "*/stderr"
      task="$(pick_task_log "$tmp/containers")"
      if [[ -n "$task" ]] || ((SECONDS >= deadline)); then break; fi
      note "waiting for EMR to push the task logs to $app_dir ..."
      sleep "$poll"
    done
    if [[ -n "$task" ]]; then
      cp "$tmp/containers/$task" "$task_log"
      last_lines "the failed task's stderr, $app_dir$task.gz" "$task_log" 30
    else
      note "(no task stderr under $app_dir yet)"
    fi
  fi
  note ""
  note "Probable cause: $(probable_cause "$step_log" "$task_log")"
  note "All logs: aws s3 ls --recursive ${cluster_log_uri%/}/$cluster/"
  exit 1
}

# The stderr (path under $1) of the task that failed, among the containers of an application:
# the one with a Python traceback, else one with a "not found" error, else the first non-empty
# task stderr that is not only counters. The application master (container ..._000001) is skipped.
pick_task_log() {
  local root="$1" file first=""
  while IFS= read -r file; do
    [[ -n "$file" && "$file" != *_000001/stderr ]] || continue
    if grep -q '^Traceback (most recent call last):' "$file"; then
      printf '%s' "${file#"$root"/}"
      return 0
    fi
    if [[ -z "$first" ]] && grep -qE 'not found|No such file or directory' "$file"; then
      first="$file"
    fi
  done < <(find "$root" -type f -name stderr 2>/dev/null | sort)
  if [[ -z "$first" ]]; then
    while IFS= read -r file; do
      [[ -n "$file" && "$file" != *_000001/stderr ]] || continue
      if grep -qv '^reporter:' "$file"; then first="$file"; break; fi
    done < <(find "$root" -type f -name stderr 2>/dev/null | sort)
  fi
  [[ -n "$first" ]] && printf '%s' "${first#"$root"/}"
  return 0
}

report_success() {
  local step="$1" bucket key part=""
  split_s3 "${output%/}/" "--output"
  bucket="$s3_bucket"
  key="$s3_key"
  printf 'Step %s COMPLETED.\n' "$step"
  printf 'Output: %s/\n' "${output%/}"
  aws_capture s3api list-objects-v2 --bucket "$bucket" --prefix "$key" \
    --query "Contents[?Size > \`0\`].[Key]" --output text || aws_die "listing the output"
  local count=0 first=""
  while IFS= read -r part; do
    case "$part" in "" | None | */_* ) continue ;; esac
    count=$((count + 1))
    [[ -z "$first" ]] && first="$part"
  done <<<"$aws_out"
  printf '%d non-empty part file(s).\n' "$count"
  [[ -n "$first" ]] || return 0
  case "$first" in
    *.gz | *.bz2 | *.deflate | *.snappy | *.zst | *.lz4)
      printf 'The output is compressed (%s): aws s3 cp s3://%s/%s - | ...\n' "${first##*.}" "$bucket" "$first"
      return 0 ;;
  esac
  aws_capture s3api get-object --bucket "$bucket" --key "$first" --range bytes=0-65535 "$tmp/first_rows" ||
    aws_die "reading s3://$bucket/$first"
  printf 'First rows of s3://%s/%s:\n' "$bucket" "$first"
  head -n 10 "$tmp/first_rows"
}

wait_for_step() {
  local cluster="$1" step="$2" state="" last="" change_message reason message log_file
  # shellcheck disable=SC2064  # the ids are known now
  trap "note 'stopped waiting: step $step keeps running on cluster $cluster (to stop it: aws emr cancel-steps --cluster-id $cluster --step-ids $step)'; exit 130" INT
  while :; do
    aws_capture emr describe-step --cluster-id "$cluster" --step-id "$step" \
      --query 'Step.Status.[State, StateChangeReason.Message, FailureDetails.Reason, FailureDetails.Message, FailureDetails.LogFile]' \
      --output text || aws_die "watching the step $step"
    IFS=$'\t' read -r state change_message reason message log_file <<<"$aws_out" || true
    if [[ "$state" != "$last" ]]; then
      note "$(date -u +%H:%M:%S) step $step: $state"
      last="$state"
    fi
    case "$state" in
      COMPLETED) report_success "$step"; return 0 ;;
      FAILED | CANCELLED | INTERRUPTED)
        report_failure "$cluster" "$step" "$state" "$change_message" "$reason" "$message" "$log_file" ;;
    esac
    sleep "$poll"
  done
}

# ---------------------------------------------------------------------------------------------
# Main

cluster_id=""
create_cluster=0
assume_yes=0
inputs=()
output=""
code=""
reducers=""
combiner=0
wait_step=0
step_name=""
job_flags=()
hadoop_props=()
from_text=""
to_text=""
release_label="emr-7.1.0"
instance_type="m5.xlarge"
instance_count=3
log_uri=""
poll=30
log_wait=600

parse_args() {
  local option
  while (($# > 0)); do
    option="$1"
    case "$option" in
      -h | --help) usage; exit 0 ;;
      --) shift; job_flags=("$@"); return 0 ;;
      -c | --combiner) combiner=1; shift; continue ;;
      --wait) wait_step=1; shift; continue ;;
      --dry-run) dry_run=1; shift; continue ;;
      --create-cluster) create_cluster=1; shift; continue ;;
      --yes) assume_yes=1; shift; continue ;;
    esac
    case "$option" in
      --cluster-id | --input | --output | --code | -r | --reducers | -D | --name | --from | --to | \
        --profile | --region | --release-label | --instance-type | --instance-count | --log-uri | \
        --poll | --log-wait) ;;
      *) usage_error "unknown option $option (each input goes after --input; job flags for mapper.py after --)" ;;
    esac
    (($# >= 2)) || usage_error "$option needs a value"
    [[ "$2" != --* ]] || usage_error "$option needs a value (got $2)"
    case "$option" in
      --cluster-id) cluster_id="$2" ;;
      --input) inputs+=("$2") ;;
      --output) output="$2" ;;
      --code) code="$2" ;;
      -r | --reducers) reducers="$2" ;;
      -D) hadoop_props+=("$2") ;;
      --name) step_name="$2" ;;
      --from) from_text="$2" ;;
      --to) to_text="$2" ;;
      --profile) aws_opts+=(--profile "$2") ;;
      --region) aws_opts+=(--region "$2") ;;
      --release-label) release_label="$2" ;;
      --instance-type) instance_type="$2" ;;
      --instance-count) instance_count="$2" ;;
      --log-uri) log_uri="$2" ;;
      --poll) poll="$2" ;;
      --log-wait) log_wait="$2" ;;
    esac
    shift 2
  done
}

validate_args() {
  if ((create_cluster)); then
    [[ -z "$cluster_id" ]] || usage_error "give --cluster-id or --create-cluster, not both"
  else
    [[ -n "$cluster_id" ]] || usage_error "--cluster-id is required (or --create-cluster)"
    [[ "$cluster_id" =~ ^j-[A-Z0-9]+$ ]] || usage_error "--cluster-id $cluster_id: not an EMR cluster id (j-XXXXXXXXXXXXX; see aws emr list-clusters --active)"
  fi
  ((${#inputs[@]} > 0)) || usage_error "--input is required"
  [[ -n "$output" ]] || usage_error "--output is required"
  [[ -n "$code" ]] || usage_error "--code is required"
  [[ -z "$reducers" || "$reducers" =~ ^[0-9]+$ ]] || usage_error "-r $reducers: not a number"
  if [[ "$reducers" == 0 ]]; then
    note "warning: -r 0 makes a map-only job: the output is mapper.py's intermediate lines, not rows"
  fi
  [[ "$instance_count" =~ ^[1-9][0-9]*$ ]] || usage_error "--instance-count $instance_count: not a number"
  [[ "$poll" =~ ^[0-9]+([.][0-9]+)?$ ]] || usage_error "--poll $poll: not a number of seconds"
  [[ ! "$poll" =~ ^0*([.]0*)?$ ]] || usage_error "--poll $poll: give at least a second or so (EMR throttles a constant stream of requests)"
  [[ "$log_wait" =~ ^[0-9]+$ ]] || usage_error "--log-wait $log_wait: not a whole number of seconds"
  if [[ -n "$from_text$to_text" ]]; then
    [[ -n "$from_text" && -n "$to_text" ]] || usage_error "--from and --to go together"
    range_from="$(parse_date "$from_text" 00 --from)"
    range_to="$(parse_date "$to_text" 23 --to)"
    ((range_from <= range_to)) || usage_error "--from $from_text is after --to $to_text"
  fi
  local item
  for item in ${hadoop_props[@]+"${hadoop_props[@]}"}; do
    [[ "$item" == ?*=* ]] || usage_error "-D $item: expected KEY=VALUE"
    if has_control_chars "$item"; then usage_error "-D: control characters in $(shell_quote "$item")"; fi
  done
  if has_control_chars "$step_name"; then usage_error "--name: control characters"; fi

  split_s3 "$output" "--output"
  is_glob "$output" && usage_error "--output $output: no glob characters in an output"
  has_bare_comma "$output" && usage_error "--output $output: Hadoop cannot take a comma here"
  [[ -n "$s3_key" && "$s3_key" != / ]] || usage_error "--output $output: give a folder inside the bucket"
  split_s3 "$code" "--code"
  case "$code" in
    *[,#\*\?\[\{\ ]*) usage_error "--code $code: no commas, #, spaces or glob characters here (-files cannot carry them)" ;;
  esac
  # -files reads each entry as a java.net.URI: %XX would be decoded, and | ^ " < > \ ` } or a
  # space are refused; // in the path is made /, so the scripts would not be found where they went.
  local uri_safe='^s3://[A-Za-z0-9._~!$&()+;=:@/-]+$'
  if [[ ! "$code" =~ $uri_safe || "${code#s3://}" == *//* ]]; then
    usage_error "--code $code: use letters, digits and . _ - / (Hadoop reads -files entries as URIs: %, quotes, | ^ < > \\ \` } and // do not survive)"
  fi
  code="${code%/}/"
  [[ "$code" != "s3://$s3_bucket/" ]] || usage_error "--code $code: give a folder inside the bucket"
  if ((create_cluster)); then
    [[ -n "$log_uri" ]] || log_uri="${code}logs/"
    split_s3 "$log_uri" "--log-uri"
    log_uri="${log_uri%/}/"
  fi
}

# The script's own pieces: mapper.py and reducer.py next to it, readable, LF endings.
check_scripts() {
  local name
  for name in mapper.py reducer.py; do
    [[ -f "$HERE/$name" && -r "$HERE/$name" ]] ||
      die "$HERE/$name is missing: $PROG uploads mapper.py and reducer.py from its own folder (restore it, e.g. git checkout -- $name)"
    if grep -q $'\r' "$HERE/$name"; then
      die "$HERE/$name has CRLF line endings: convert it to LF first (e.g. sed -i 's/\\r\$//' $name)"
    fi
  done
}

# Where an input's data can be: its S3 URI up to the first glob character; a folder for a prefix
# (or an object name, which may turn out to be one).
input_static() {
  local uri="$1"
  if is_glob "$uri"; then
    static_part "$uri"
  elif [[ "$uri" == */ ]]; then
    printf '%s' "$uri"
  else
    printf '%s/' "$uri"
  fi
}

# Could the input's glob match the object at this URI? A Firehose prefix becomes a glob of one
# depth (see resolve_prefix; a date range's globs have the same), so an object at another depth,
# such as s3://b/firehose-mr/mapper.py beside a tree at s3://b/, is out of its reach. Globs and
# objects: yes, to be safe.
glob_may_reach() {
  local input="$1" uri="$2" prefix depth prefix_slashes uri_slashes
  is_glob "$input" && return 0
  [[ "$input" == */ ]] || return 0
  prefix="${input#s3://*/}"
  [[ "$prefix" != "$input" ]] || return 0
  depth="$(trailing_date_depth "$prefix")"
  prefix_slashes="${prefix//[!\/]/}"
  uri_slashes="${uri#s3://*/}"
  uri_slashes="${uri_slashes//[!\/]/}"
  ((${#uri_slashes} == ${#prefix_slashes} + 5 - depth - 1))
}

# Checked before any request: the code (and a new cluster's logs) must not be inside an input or
# the output, and no input inside another (Hadoop would read its objects twice).
check_placement() {
  local input static codeuri="$code" outdir="${output%/}/" other
  for input in "${inputs[@]}"; do
    static="$(input_static "$input")"
    if [[ "$codeuri" == "$static"* ]] && glob_may_reach "$input" "${codeuri}mapper.py"; then
      die "--code $code is inside the input $input: the job would read its own scripts as data. Put the code under a prefix outside every input (another folder or bucket)"
    fi
    if ((create_cluster)) && [[ "$log_uri" == "$static"* ]]; then
      die "--log-uri $log_uri is inside the input $input: the job would read the cluster's logs as data. Give a --log-uri outside every input"
    fi
    if [[ "$outdir" == "$static"* ]]; then
      note "warning: --output $output is inside the input $input: a later run over the same input would read it"
    fi
    for other in "${inputs[@]}"; do
      [[ "$other" != "$input" && "$(input_static "$other")" == "$static"* ]] || continue
      if is_glob "$input" || is_glob "$other"; then
        note "warning: the inputs $input and $other may overlap: Hadoop reads an object that both match twice"
      else
        usage_error "--input $other is inside --input $input: Hadoop would read its objects twice, and count them twice"
      fi
    done
  done
  if [[ "$(printf '%s\n' "${inputs[@]}" | sort | uniq -d)" ]]; then
    usage_error "an --input is given twice: Hadoop would read its objects twice, and count them twice"
  fi
  if [[ "$codeuri" == "$outdir"* ]]; then
    die "--code $code is inside --output $output: uploading the scripts would create the output, and Hadoop refuses an existing output"
  fi
  if ((create_cluster)) && [[ "$log_uri" == "$outdir"* ]]; then
    die "--log-uri $log_uri is inside --output $output: the cluster's logs would create the output before the step runs, and Hadoop refuses an existing output"
  fi
}

main() {
  parse_args "$@"
  validate_args
  check_scripts
  local mapper_cmd
  mapper_cmd="$(mapper_command ${job_flags[@]+"${job_flags[@]}"})" || exit 2
  check_placement
  need_aws
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/submit_step.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  check_flags_locally

  # Pre-flight: read-only requests only, before anything is uploaded or started.
  if ((create_cluster)); then
    cluster_log_uri="$log_uri"
  else
    check_cluster "$cluster_id"
    [[ -n "$cluster_log_uri" ]] || note "warning: cluster $cluster_id has no log URI: a failed step's task logs will not be in S3"
    check_waiting_steps "$cluster_id"
  fi
  split_s3 "$output" "--output"
  check_output_free "$output" "$s3_bucket" "$s3_key"
  local input
  for input in "${inputs[@]}"; do
    if [[ -n "$range_from" ]]; then resolve_range_input "$input"; else resolve_input "$input"; fi
  done

  # The step.
  local name="${step_name:-firehose-mr: $mapper_cmd}"
  name="$(whole_utf8 "${name:0:256}")"
  output="${output%/}"
  local -a args=(hadoop-streaming
    -files "${code}mapper.py#mapper.py,${code}reducer.py#reducer.py")
  local prop glob
  for prop in ${hadoop_props[@]+"${hadoop_props[@]}"}; do args+=(-D "$prop"); done
  for glob in "${input_globs[@]}"; do args+=(-input "$glob"); done
  args+=(-output "$output" -mapper "$mapper_cmd" -reducer "python3 reducer.py")
  ((combiner)) && args+=(-combiner "python3 reducer.py --combine")
  [[ -n "$reducers" ]] && args+=(-numReduceTasks "$reducers")
  local on_failure=CONTINUE
  ((create_cluster)) && on_failure=TERMINATE_CLUSTER
  local steps_json
  steps_json="[{\"Type\":\"CUSTOM_JAR\",\"Name\":$(json_string "$name"),\"ActionOnFailure\":\"$on_failure\",\"Jar\":\"command-runner.jar\",\"Args\":$(json_string_array "${args[@]}")}]"

  ((create_cluster)) && confirm_cost
  ((dry_run)) && note "Dry run: all checks passed; these are the commands it would run (nothing was changed):"

  do_aws "uploading mapper.py" s3 cp "$HERE/mapper.py" "${code}mapper.py" --only-show-errors
  do_aws "uploading reducer.py" s3 cp "$HERE/reducer.py" "${code}reducer.py" --only-show-errors

  local step_id=""
  if ((create_cluster)); then
    do_aws "creating the cluster" emr create-cluster --name "firehose-mr" --release-label "$release_label" \
      --applications Name=Hadoop --instance-type "$instance_type" --instance-count "$instance_count" \
      --use-default-roles --log-uri "$log_uri" --auto-terminate --steps "$steps_json" \
      --query ClusterId --output text
    ((dry_run)) && exit 0
    cluster_id="$aws_out"
    do_aws "finding the step on cluster $cluster_id" emr list-steps --cluster-id "$cluster_id" \
      --query 'Steps[0].Id' --output text
    step_id="$aws_out"
  else
    do_aws "adding the step" emr add-steps --cluster-id "$cluster_id" --steps "$steps_json" \
      --query 'StepIds[0]' --output text
    ((dry_run)) && exit 0
    step_id="$aws_out"
  fi
  watch_hints "$cluster_id" "$step_id"
  ((wait_step)) && wait_for_step "$cluster_id" "$step_id"
  return 0
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
