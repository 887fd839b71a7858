#!/usr/bin/env bash
# Run one pipeline command in the step image $PIPELINE_IMAGE, the way pipeline.yml and deploy.yml do
# when that variable is set:  bash .github/run-in-image.sh NAME... -- COMMAND [ARGS...]
#
# The image's run contract: a read-only root, tmpfs at /tmp and /app/logs (writable by any uid), and this checkout's
# warehouse/, reports/ and target/ mounted at /app/warehouse, /app/reports and /app/target (created
# here when missing), so the dbt artifacts and run reports land where the later steps upload them.
# Each NAME is an environment variable passed by name (`-e NAME`): its value, a secret perhaps,
# never appears on a command line. $RAW_DATA_DIR, when it is an absolute folder on this machine,
# is mounted read-only at the same path; the folder of $DBT_DUCKDB_PATH, when it is absolute (a
# self-hosted runner's persistent disk), read-write at the same path (the folder, never the value,
# is on docker's command line). The variables GitHub sets that tell the pipeline where it runs
# (GITHUB_ACTIONS, RUNNER_ENVIRONMENT, RUNNER_TEMP, GITHUB_WORKSPACE) and PIPELINE_ALLOW_EPHEMERAL_DUCKDB
# pass by name too, when set, so that the image refuses a database the job would lose exactly as the
# pipeline on the runner does; so do the warehouse's connection settings ($WAREHOUSE_SETTINGS) when not
# empty, and $GOOGLE_APPLICATION_CREDENTIALS, an absolute key file, is mounted read-only at the same path.
# The container runs as this user (uid:gid), so the files it leaves are this job's own; the image writes
# only to the tmpfs and the mounts, under any uid.
# The command's exit code is this script's.
set -euo pipefail

# Every warehouse's connection settings, as the workflows' jobs pass them (tests/test_workflows.py checks the match).
WAREHOUSE_SETTINGS="PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD
  SNOWFLAKE_ACCOUNT SNOWFLAKE_USER SNOWFLAKE_ROLE SNOWFLAKE_WAREHOUSE SNOWFLAKE_DATABASE SNOWFLAKE_PASSWORD
  GOOGLE_CLOUD_PROJECT GOOGLE_APPLICATION_CREDENTIALS BIGQUERY_LOCATION
  DATABRICKS_HOST DATABRICKS_HTTP_PATH DATABRICKS_CATALOG DATABRICKS_TOKEN
  SPARK_REMOTE"

if [ -z "${PIPELINE_IMAGE:-}" ]; then
  echo "PIPELINE_IMAGE is empty; set it to the image to run (e.g. ghcr.io/<owner>/<repo>@sha256:<digest>)." >&2
  exit 2
fi

names=()
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  if ! [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    echo "$1 is not an environment variable name; pass NAME... -- COMMAND [ARGS...]." >&2
    exit 2
  fi
  names+=("$1")
  shift
done
if [ "$#" -lt 2 ]; then
  echo "no command after --; pass NAME... -- COMMAND [ARGS...] (e.g. -- run --env prod)." >&2
  exit 2
fi
shift

mkdir -p warehouse reports target
args=(
  run --rm
  --read-only
  --tmpfs /tmp:rw,mode=1777
  --tmpfs /app/logs:rw,mode=1777
  --mount "type=bind,source=$PWD/warehouse,target=/app/warehouse"
  --mount "type=bind,source=$PWD/reports,target=/app/reports"
  --mount "type=bind,source=$PWD/target,target=/app/target"
  --user "$(id -u):$(id -g)"
)
if [[ ${RAW_DATA_DIR:-} == /* ]] && [ -d "$RAW_DATA_DIR" ]; then
  args+=(--mount "type=bind,source=$RAW_DATA_DIR,target=$RAW_DATA_DIR,readonly")
fi
if [[ ${DBT_DUCKDB_PATH:-} == /* ]]; then
  database_dir=$(dirname "$DBT_DUCKDB_PATH")
  if [ "$database_dir" != / ] && [ -d "$database_dir" ]; then
    args+=(--mount "type=bind,source=$database_dir,target=$database_dir")
  fi
fi
if [[ ${GOOGLE_APPLICATION_CREDENTIALS:-} == /* ]] && [ -f "$GOOGLE_APPLICATION_CREDENTIALS" ]; then
  args+=(--mount "type=bind,source=$GOOGLE_APPLICATION_CREDENTIALS,target=$GOOGLE_APPLICATION_CREDENTIALS,readonly")
fi
for name in GITHUB_ACTIONS RUNNER_ENVIRONMENT RUNNER_TEMP GITHUB_WORKSPACE PIPELINE_ALLOW_EPHEMERAL_DUCKDB; do
  if [ -n "${!name+set}" ]; then
    names+=("$name")
  fi
done
# The warehouse's connection settings, the jobs' `env:` from their GitHub environment, pass by name when not empty:
# an empty one (a variable the environment does not define) stays unset, so the image takes profiles.yml's default.
for name in $WAREHOUSE_SETTINGS; do
  if [ -n "${!name:-}" ]; then
    names+=("$name")
  fi
done
for name in "${names[@]}"; do
  args+=(--env "$name")
done

exec docker "${args[@]}" "$PIPELINE_IMAGE" "$@"
