#!/usr/bin/env bash
# Deploy Relay to a Google Cloud project; docs/deploy.md walks through it.
#
#   infra/deploy.sh --plan     print every command a deploy would run, run none (needs only
#                              bash and python3; unset settings print as <NAME>)
#   PROJECT=my-project REGION=us-central1 RELAY_...=... infra/deploy.sh
#                              deploy (gcloud and firebase logged in). Idempotent: re-running
#                              updates what exists.
#
# Every command goes through `run` (or `exists`/`capture` for the few whose answer decides
# what comes next), so the plan is exactly what a deploy runs, in order, on a fresh project.
set -euo pipefail

PLAN=0
case "${1:-}" in
  --plan) PLAN=1 ;;
  "") ;;
  -h | --help)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: infra/deploy.sh [--plan]" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")/.."
exec 3>&1 # the plan's own output, also from inside $(capture ...)

# --- the one way commands run ----------------------------------------------------------------

quote() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=@,+%^-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

show() {
  local line="" arg
  for arg in "$@"; do line+="${line:+ }$(quote "$arg")"; done
  printf '%s\n' "$line" >&3
}

# run CMD...: the plan prints it; a deploy runs it.
run() {
  if ((PLAN)); then show "$@"; else "$@"; fi
}

# exists CMD...: a describe whose success means "already there". The plan prints it and
# answers "missing", so it shows the create that a fresh project gets.
exists() {
  if ((PLAN)); then
    show "$@"
    return 1
  fi
  "$@" >/dev/null 2>&1
}

# capture PLACEHOLDER CMD...: a command whose output the script uses; the plan prints it and
# uses PLACEHOLDER instead.
capture() {
  local placeholder=$1
  shift
  if ((PLAN)); then
    show "$@"
    printf '%s' "$placeholder"
  else
    "$@"
  fi
}

# need NAME WHAT: a required setting; the plan stands in <NAME> for a missing one.
missing=()
need() {
  if [[ -z ${!1:-} ]]; then
    if ((PLAN)); then printf -v "$1" '<%s>' "$1"; else missing+=("$1 ($2)"); fi
  fi
}

# --- settings (environment, same names as before) --------------------------------------------

need PROJECT "the Google Cloud project id"
need RELAY_RUNPOD_ENDPOINTS "model=endpoint,..."
need RELAY_PUBLIC_URL "the grid site URL"
need RELAY_S3_BUCKET "the grid blob bucket"
need RELAY_MEDIA_PUBLIC_URL "the media site URL"
need RELAY_X402_PAY_TO "the USDC receiving address"
need RELAY_X402_FACILITATOR_URL "the x402 facilitator URL"
need RELAY_SMTP_HOST "the SMTP host"
need RELAY_SMTP_USERNAME "the SMTP user"
need RELAY_MAIL_FROM "the sender"
need RELAY_GOOGLE_CLIENT_IDS "the Google OAuth client ids"
if ((${#missing[@]})); then
  printf 'set %s\n' "${missing[@]}" >&2
  exit 2
fi
REGION=${REGION:-us-central1}
BUCKET=${BUCKET:-$PROJECT-relay-outputs}
LIBRARY_BUCKET=${LIBRARY_BUCKET:-$PROJECT-relay-library}
QUEUE=${QUEUE:-jobs}
FUNCTIONS_URL="https://$REGION-$PROJECT.cloudfunctions.net"
# The functions run as one service account; Cloud Tasks and Cloud Scheduler call the task
# targets with OIDC tokens of another, the only principal allowed to invoke them.
FUNCTIONS_SA_NAME=${FUNCTIONS_SA_NAME:-relay-functions}
TASKS_SA_NAME=${TASKS_SA_NAME:-relay-tasks}
FUNCTIONS_SA="$FUNCTIONS_SA_NAME@$PROJECT.iam.gserviceaccount.com"
TASKS_SA="$TASKS_SA_NAME@$PROJECT.iam.gserviceaccount.com"
# Optional: notification channels (projects/<p>/notificationChannels/<id>, comma-separated).
ALERT_CHANNELS=${ALERT_CHANNELS:-}

# --- what main.py exports, and who may call it -----------------------------------------------

# shellcheck disable=SC2207  # names are identifiers
FUNCTIONS=($(python3 - <<'EOF'
import ast
tree = ast.parse(open("main.py").read())
names = next(
    ast.literal_eval(node.value)
    for node in tree.body
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__"
)
print(" ".join(names))
EOF
))
# Public: what firebase.json's hosting routes to, plus the callers from outside Google that
# bring their own proof (GPU backends post completions with a per-job token; RunPod cannot
# present a Google identity token). Everything else is a task target: private.
# shellcheck disable=SC2207
ROUTED=($(python3 - <<'EOF'
import json
hosting = json.load(open("firebase.json"))["hosting"]
print(" ".join(sorted({r["function"]["functionId"] for site in hosting
                       for r in site.get("rewrites", []) if "function" in r})))
EOF
))
EXTERNAL_CALLERS=(callback_gpu)
is_public() {
  local name=$1 other
  for other in "${ROUTED[@]}" "${EXTERNAL_CALLERS[@]}"; do
    [[ $other == "$name" ]] && return 0
  done
  return 1
}

# Queues: infra/tasks/queues.yaml is the one source (name: then `key: value` settings).
# shellcheck disable=SC2207
QUEUE_LINES=($(python3 - <<'EOF'
import re
queues, current = {}, None
for raw in open("infra/tasks/queues.yaml"):
    line = raw.split("#", 1)[0].rstrip()
    if not line.strip():
        continue
    if not line[0].isspace():
        current = line.rstrip(":").strip()
        queues[current] = []
        continue
    key, value = (part.strip() for part in line.split(":", 1))
    if current is None or not re.fullmatch(r"[a-z_]+", key) or not value:
        raise SystemExit(f"infra/tasks/queues.yaml: cannot read {raw.strip()!r}")
    queues[current].append(f"--{key.replace('_', '-')}={value}")
for name, flags in queues.items():
    print(name + "|" + "|".join(flags))
EOF
))
queue_known=0
for line in "${QUEUE_LINES[@]}"; do [[ ${line%%|*} == "$QUEUE" ]] && queue_known=1; done
if ((!queue_known)); then
  echo "QUEUE=$QUEUE is not declared in infra/tasks/queues.yaml" >&2
  exit 2
fi

# Secrets: environment variable = Secret Manager secret, every one the settings read
# (shared/engine/settings.py) plus those the libraries read themselves (AWS, OpenAI).
SECRETS=(
  RELAY_CALLBACK_SECRET=relay-callback-secret
  RELAY_WEBHOOK_KEY=relay-webhook-key
  RUNPOD_API_KEY=runpod-api-key
  STRIPE_SECRET_KEY=stripe-secret-key
  STRIPE_WEBHOOK_SECRET=stripe-webhook-secret
  AWS_ACCESS_KEY_ID=aws-access-key-id
  AWS_SECRET_ACCESS_KEY=aws-secret-access-key
  COINBASE_COMMERCE_API_KEY=coinbase-commerce-api-key
  COINBASE_COMMERCE_WEBHOOK_SECRET=coinbase-commerce-webhook-secret
  RELAY_MEDIA_TOKEN_KEY=relay-media-token-key
  RELAY_SMTP_PASSWORD=smtp-password
  OPENAI_API_KEY=openai-api-key
)

# Plain settings. Joined with `|` (gcloud's ^|^ delimiter syntax): values hold commas.
ENV=(
  RELAY_ENV=production
  "RELAY_PROJECT_ID=$PROJECT"
  "RELAY_REGION=$REGION"
  "RELAY_BUCKET=$BUCKET"
  "RELAY_LIBRARY_BUCKET=$LIBRARY_BUCKET"
  "RELAY_TASKS_QUEUE=$QUEUE"
  "RELAY_FUNCTIONS_URL=$FUNCTIONS_URL"
  "RELAY_TASKS_SERVICE_ACCOUNT=$TASKS_SA"
  "RELAY_RUNPOD_ENDPOINTS=$RELAY_RUNPOD_ENDPOINTS"
  "RELAY_PUBLIC_URL=$RELAY_PUBLIC_URL"
  "RELAY_S3_BUCKET=$RELAY_S3_BUCKET"
  "RELAY_MEDIA_PUBLIC_URL=$RELAY_MEDIA_PUBLIC_URL"
  "RELAY_X402_PAY_TO=$RELAY_X402_PAY_TO"
  "RELAY_X402_NETWORK=${RELAY_X402_NETWORK:-eip155:8453}"
  "RELAY_X402_ASSET=${RELAY_X402_ASSET:-0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913}"
  "RELAY_X402_FACILITATOR_URL=$RELAY_X402_FACILITATOR_URL"
  "RELAY_SMTP_HOST=$RELAY_SMTP_HOST"
  "RELAY_SMTP_PORT=${RELAY_SMTP_PORT:-587}"
  RELAY_SMTP_STARTTLS=true
  "RELAY_SMTP_USERNAME=$RELAY_SMTP_USERNAME"
  "RELAY_MAIL_FROM=$RELAY_MAIL_FROM"
  "RELAY_GOOGLE_CLIENT_IDS=$RELAY_GOOGLE_CLIENT_IDS"
)
for pair in "${ENV[@]}"; do
  if [[ $pair == *"|"* ]]; then
    echo "${pair%%=*}: a value may not contain '|'" >&2
    exit 2
  fi
done
join() {
  local IFS=$1
  shift
  printf '%s' "$*"
}
ENV_FLAG="^|^$(join '|' "${ENV[@]}")"
secret_pairs=()
for pair in "${SECRETS[@]}"; do secret_pairs+=("$pair:latest"); done
SECRETS_FLAG=$(join , "${secret_pairs[@]}")

# --- project, APIs, service accounts ---------------------------------------------------------

run gcloud config set project "$PROJECT"
run gcloud services enable cloudfunctions.googleapis.com run.googleapis.com \
  cloudbuild.googleapis.com artifactregistry.googleapis.com cloudtasks.googleapis.com \
  cloudscheduler.googleapis.com firestore.googleapis.com secretmanager.googleapis.com \
  storage.googleapis.com iam.googleapis.com logging.googleapis.com monitoring.googleapis.com

exists gcloud iam service-accounts describe "$FUNCTIONS_SA" \
  || run gcloud iam service-accounts create "$FUNCTIONS_SA_NAME" \
    --display-name="Relay functions (runtime)"
exists gcloud iam service-accounts describe "$TASKS_SA" \
  || run gcloud iam service-accounts create "$TASKS_SA_NAME" \
    --display-name="Relay task caller (Cloud Tasks and Cloud Scheduler OIDC)"
for role in roles/datastore.user roles/cloudtasks.enqueuer; do
  run gcloud projects add-iam-policy-binding "$PROJECT" \
    --member="serviceAccount:$FUNCTIONS_SA" --role="$role" --condition=None
done
# V4 signed URLs sign through IAM (signBlob) as the functions' own account.
run gcloud iam service-accounts add-iam-policy-binding "$FUNCTIONS_SA" \
  --member="serviceAccount:$FUNCTIONS_SA" --role=roles/iam.serviceAccountTokenCreator
# Creating a task with an OIDC token of the task caller acts as it.
run gcloud iam service-accounts add-iam-policy-binding "$TASKS_SA" \
  --member="serviceAccount:$FUNCTIONS_SA" --role=roles/iam.serviceAccountUser

# --- secrets: each must exist; only the functions' account reads them ------------------------

for pair in "${SECRETS[@]}"; do
  secret=${pair#*=}
  run gcloud secrets describe "$secret" --format="value(name)"
  run gcloud secrets add-iam-policy-binding "$secret" \
    --member="serviceAccount:$FUNCTIONS_SA" --role=roles/secretmanager.secretAccessor
done

# --- storage ---------------------------------------------------------------------------------

# Outputs, deleted after 72 h; the library's model files (kept).
exists gcloud storage buckets describe "gs://$BUCKET" \
  || run gcloud storage buckets create "gs://$BUCKET" --location="$REGION" \
    --uniform-bucket-level-access
run gcloud storage buckets update "gs://$BUCKET" --lifecycle-file=infra/storage/lifecycle.json
exists gcloud storage buckets describe "gs://$LIBRARY_BUCKET" \
  || run gcloud storage buckets create "gs://$LIBRARY_BUCKET" --location="$REGION" \
    --uniform-bucket-level-access
for bucket in "$BUCKET" "$LIBRARY_BUCKET"; do
  run gcloud storage buckets add-iam-policy-binding "gs://$bucket" \
    --member="serviceAccount:$FUNCTIONS_SA" --role=roles/storage.objectAdmin
done

# --- Firestore: composite indexes, TTL policies and the deny-all client rules ---------------

run firebase deploy --project "$PROJECT" --only firestore:indexes,firestore:rules \
  --config infra/firestore/firebase.deploy.json --non-interactive

# --- Cloud Tasks queues (infra/tasks/queues.yaml) --------------------------------------------

for line in "${QUEUE_LINES[@]}"; do
  IFS='|' read -r -a parts <<<"$line"
  name=${parts[0]}
  exists gcloud tasks queues describe "$name" --location="$REGION" \
    || run gcloud tasks queues create "$name" --location="$REGION"
  run gcloud tasks queues update "$name" --location="$REGION" "${parts[@]:1}"
done

# --- functions: every name main.py exports, one Cloud Function (2nd gen) each ----------------

# .gcloudignore keeps tests, GPU code, local stand-ins and docs (but the API document) out;
# requirements.txt carries the runtime dependencies only.
for fn in "${FUNCTIONS[@]}"; do
  if is_public "$fn"; then auth=--allow-unauthenticated; else auth=--no-allow-unauthenticated; fi
  timeout=60s
  [[ $fn == task_sweep ]] && timeout=120s # the sweep's own budget is 60 s
  run gcloud functions deploy "$fn" --gen2 --runtime=python311 --region="$REGION" --source=. \
    --entry-point="$fn" --trigger-http "$auth" --service-account="$FUNCTIONS_SA" \
    --set-env-vars="$ENV_FLAG" --set-secrets="$SECRETS_FLAG" --memory=512Mi \
    --timeout="$timeout"
  if [[ $auth == --no-allow-unauthenticated ]]; then
    # roles/run.invoker on the function's Cloud Run service, for the task caller only.
    run gcloud functions add-invoker-policy-binding "$fn" --region="$REGION" \
      --member="serviceAccount:$TASKS_SA"
  fi
done

# --- Cloud Scheduler: periodic task targets, called with the task caller's OIDC token --------

# name|schedule|function
SCHEDULES=(
  "relay-sweep|* * * * *|task_sweep"
)
for entry in "${SCHEDULES[@]}"; do
  IFS='|' read -r name schedule fn <<<"$entry"
  uri="$FUNCTIONS_URL/$fn"
  headers="Content-Type=application/json"
  if exists gcloud scheduler jobs describe "$name" --location="$REGION"; then
    verb=(update http "$name" --update-headers="$headers")
  else
    verb=(create http "$name" --headers="$headers")
  fi
  run gcloud scheduler jobs "${verb[@]}" --location="$REGION" --schedule="$schedule" \
    --uri="$uri" --http-method=POST --message-body='{}' --attempt-deadline=150s \
    --oidc-service-account-email="$TASKS_SA" --oidc-token-audience="$uri"
done

# --- monitoring: log-based metrics, then the alert policies that read them -------------------

for file in infra/monitoring/metrics/*.json; do
  name=$(basename "$file" .json)
  if exists gcloud logging metrics describe "$name"; then
    run gcloud logging metrics update "$name" --config-from-file="$file"
  else
    run gcloud logging metrics create "$name" --config-from-file="$file"
  fi
done
create_channels=()
update_channels=()
if [[ -n $ALERT_CHANNELS ]]; then
  create_channels=(--notification-channels="$ALERT_CHANNELS")
  update_channels=(--set-notification-channels="$ALERT_CHANNELS")
fi
for file in infra/monitoring/policies/*.json; do
  title=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["displayName"])' "$file")
  policy=$(capture "" gcloud alpha monitoring policies list \
    --filter="displayName=\"$title\"" --format="value(name)" --limit=1)
  if [[ -n $policy ]]; then
    run gcloud alpha monitoring policies update "$policy" --policy-from-file="$file" \
      "${update_channels[@]}"
  else
    run gcloud alpha monitoring policies create --policy-from-file="$file" \
      "${create_channels[@]}"
  fi
done

# --- hosting: one site per target in firebase.json -------------------------------------------

run firebase deploy --project "$PROJECT" --only hosting --non-interactive
