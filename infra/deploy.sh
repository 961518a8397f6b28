#!/usr/bin/env bash
# Deploy Relay to a Google Cloud project. Needs gcloud and firebase logged in, and the secrets
# below in Secret Manager. Idempotent: re-running updates what exists.
#   PROJECT=my-project REGION=us-central1 infra/deploy.sh
set -euo pipefail
: "${PROJECT:?set PROJECT}"
REGION=${REGION:-us-central1}
BUCKET=${BUCKET:-$PROJECT-relay-outputs}
QUEUE=${QUEUE:-jobs}
cd "$(dirname "$0")/.."
FUNCTIONS_URL="https://$REGION-$PROJECT.cloudfunctions.net"

gcloud config set project "$PROJECT" >/dev/null

# Storage: outputs bucket, deleted after 72 h.
gcloud storage buckets describe "gs://$BUCKET" >/dev/null 2>&1 \
  || gcloud storage buckets create "gs://$BUCKET" --location="$REGION" --uniform-bucket-level-access
gcloud storage buckets update "gs://$BUCKET" --lifecycle-file=infra/storage/lifecycle.json

# Firestore indexes, TTL and (deny-all) client rules.
firebase deploy --project "$PROJECT" --only firestore:indexes,firestore:rules \
  --config infra/firestore/firebase.deploy.json

# Cloud Tasks queue.
gcloud tasks queues describe "$QUEUE" --location="$REGION" >/dev/null 2>&1 \
  || gcloud tasks queues create "$QUEUE" --location="$REGION"
gcloud tasks queues update "$QUEUE" --location="$REGION" --max-attempts=8 \
  --min-backoff=1s --max-backoff=60s --max-dispatches-per-second=200

# Functions: every name main.py exports, one Cloud Function (2nd gen) each.
ENV="RELAY_ENV=production,RELAY_PROJECT_ID=$PROJECT,RELAY_REGION=$REGION,RELAY_BUCKET=$BUCKET"
ENV="$ENV,RELAY_TASKS_QUEUE=$QUEUE,RELAY_FUNCTIONS_URL=$FUNCTIONS_URL"
ENV="$ENV,RELAY_RUNPOD_ENDPOINTS=${RELAY_RUNPOD_ENDPOINTS:?set model=endpoint,...}"
ENV="$ENV,RELAY_PUBLIC_URL=${RELAY_PUBLIC_URL:?set the grid site URL},RELAY_S3_BUCKET=${RELAY_S3_BUCKET:?set the grid blob bucket}"
SECRETS="RELAY_TASK_SECRET=relay-task-secret:latest,RELAY_CALLBACK_SECRET=relay-callback-secret:latest"
SECRETS="$SECRETS,RUNPOD_API_KEY=runpod-api-key:latest,RELAY_WEBHOOK_KEY=relay-webhook-key:latest"
SECRETS="$SECRETS,STRIPE_SECRET_KEY=stripe-secret-key:latest,STRIPE_WEBHOOK_SECRET=stripe-webhook-secret:latest"
SECRETS="$SECRETS,AWS_ACCESS_KEY_ID=aws-access-key-id:latest,AWS_SECRET_ACCESS_KEY=aws-secret-access-key:latest"
# Killa Tamata (media): Coinbase Commerce, x402, mail, Google sign-in, signed tokens.
ENV="$ENV,RELAY_MEDIA_PUBLIC_URL=${RELAY_MEDIA_PUBLIC_URL:?set the media site URL}"
ENV="$ENV,RELAY_X402_PAY_TO=${RELAY_X402_PAY_TO:?set the USDC receiving address}"
ENV="$ENV,RELAY_X402_NETWORK=${RELAY_X402_NETWORK:-eip155:8453},RELAY_X402_ASSET=${RELAY_X402_ASSET:-0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913}"
ENV="$ENV,RELAY_X402_FACILITATOR_URL=${RELAY_X402_FACILITATOR_URL:?set the x402 facilitator URL}"
ENV="$ENV,RELAY_SMTP_HOST=${RELAY_SMTP_HOST:?set the SMTP host},RELAY_SMTP_PORT=${RELAY_SMTP_PORT:-587},RELAY_SMTP_STARTTLS=true"
ENV="$ENV,RELAY_MAIL_FROM=${RELAY_MAIL_FROM:?set the sender},RELAY_SMTP_USERNAME=${RELAY_SMTP_USERNAME:?set the SMTP user}"
# Several Google OAuth client ids are separated by spaces or semicolons (commas split ENV).
ENV="$ENV,RELAY_GOOGLE_CLIENT_IDS=${RELAY_GOOGLE_CLIENT_IDS:?set the Google OAuth client ids}"
SECRETS="$SECRETS,COINBASE_COMMERCE_API_KEY=coinbase-commerce-api-key:latest"
SECRETS="$SECRETS,COINBASE_COMMERCE_WEBHOOK_SECRET=coinbase-commerce-webhook-secret:latest"
SECRETS="$SECRETS,RELAY_MEDIA_TOKEN_KEY=relay-media-token-key:latest,RELAY_SMTP_PASSWORD=smtp-password:latest"
for fn in $(python3 -c 'import ast,sys; t=ast.parse(open("main.py").read()); print(" ".join(next(ast.literal_eval(n.value) for n in t.body if isinstance(n, ast.Assign) and n.targets[0].id == "__all__")))'); do
  gcloud functions deploy "$fn" --gen2 --runtime=python311 --region="$REGION" --source=. \
    --entry-point="$fn" --trigger-http --allow-unauthenticated \
    --set-env-vars="$ENV" --set-secrets="$SECRETS" --memory=512Mi --timeout=60s
done

# The sweep, every minute (Cloud Scheduler calls the function like Cloud Tasks does).
gcloud scheduler jobs describe relay-sweep --location="$REGION" >/dev/null 2>&1 \
  || gcloud scheduler jobs create http relay-sweep --location="$REGION" --schedule="* * * * *" \
       --uri="$FUNCTIONS_URL/task_sweep" --http-method=POST --message-body='{}' \
       --headers="Content-Type=application/json,X-Relay-Task-Secret=$(gcloud secrets versions access latest --secret=relay-task-secret)"

# Hosting: one site per target in firebase.json.
firebase deploy --project "$PROJECT" --only hosting
