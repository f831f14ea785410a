{{/*
Naming, labels and the few computed values every template shares.
Each define is namespaced "user-service." so it cannot clash when this chart is a subchart.
*/}}

{{/* Chart name, overridable; trunc 63 because label values and DNS names stop there. */}}
{{- define "user-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: release-chart, or just the release name when it already contains
the chart name (so `helm install user-service .` gives "user-service", not "user-service-user-service").
*/}}
{{- define "user-service.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of the bundled PostgreSQL objects (StatefulSet, headless Service). */}}
{{- define "user-service.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "user-service.fullname" . | trunc 52 | trimSuffix "-") }}
{{- end }}

{{/* Chart label value: name-version, "+" is not allowed in label values. */}}
{{- define "user-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: the immutable subset (a Deployment's selector cannot change after install),
so nothing here may depend on the chart or app version.
Call with (dict "ctx" $ "component" "api").
*/}}
{{- define "user-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "user-service.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Full label set for metadata.labels. Call with (dict "ctx" $ "component" "api"). */}}
{{- define "user-service.labels" -}}
helm.sh/chart: {{ include "user-service.chart" .ctx }}
{{ include "user-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Values.image.tag | default .ctx.Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/part-of: {{ include "user-service.name" .ctx }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* ServiceAccount used by the app, the migration Job and the test pod. */}}
{{- define "user-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "user-service.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* App image reference; a digest, when given, wins over the tag. */}}
{{- define "user-service.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* ---------- Database connection: bundled PostgreSQL or externalDatabase ---------- */}}

{{- define "user-service.db.host" -}}
{{- if .Values.postgresql.enabled }}
{{- include "user-service.postgresql.fullname" . }}
{{- else }}
{{- required "externalDatabase.host is required when postgresql.enabled=false" .Values.externalDatabase.host }}
{{- end }}
{{- end }}

{{- define "user-service.db.port" -}}
{{- if .Values.postgresql.enabled }}5432{{ else }}{{ .Values.externalDatabase.port }}{{ end }}
{{- end }}

{{- define "user-service.db.database" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.database }}{{ else }}{{ .Values.externalDatabase.database }}{{ end }}
{{- end }}

{{/* The owner role: the migration Job connects as it (DDL, and it creates the app role). */}}
{{- define "user-service.db.user" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.username }}{{ else }}{{ .Values.externalDatabase.user }}{{ end }}
{{- end }}

{{/*
The least-privileged role the API pods connect as (rows of the tables, no DDL). The migration
Job creates or updates it (APP_DB_USER/APP_DB_PASSWORD); it must not be the owner.
*/}}
{{- define "user-service.db.appUser" -}}
{{- $app := ternary .Values.postgresql.auth.appUsername .Values.externalDatabase.appUser .Values.postgresql.enabled }}
{{- if eq $app (include "user-service.db.user" .) }}
{{- fail (printf "the app role %q must differ from the owner role the migration connects as: the API would run with DDL rights" $app) }}
{{- end }}
{{- $app }}
{{- end }}

{{/* max_connections of the database the app talks to (input to the connection budget). */}}
{{- define "user-service.db.maxConnections" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.maxConnections }}{{ else }}{{ .Values.externalDatabase.maxConnections }}{{ end }}
{{- end }}

{{/* Name of a user-provided Secret holding the password, or "" when the chart generates one. */}}
{{- define "user-service.db.existingSecret" -}}
{{- if .Values.postgresql.enabled }}
{{- .Values.postgresql.auth.existingSecret }}
{{- else }}
{{- required "externalDatabase.existingSecret is required when postgresql.enabled=false" .Values.externalDatabase.existingSecret }}
{{- end }}
{{- end }}

{{/* Secret the app, the Job and PostgreSQL read the password from. */}}
{{- define "user-service.db.secretName" -}}
{{- include "user-service.db.existingSecret" . | default (printf "%s-db" (include "user-service.fullname" .)) }}
{{- end }}

{{/* Key of the owner's password inside that Secret. */}}
{{- define "user-service.db.secretPasswordKey" -}}
{{- if include "user-service.db.existingSecret" . }}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.existingSecretPasswordKey }}{{ else }}{{ .Values.externalDatabase.existingSecretPasswordKey }}{{ end }}
{{- else }}password{{ end }}
{{- end }}

{{/* Key of the app role's password inside that Secret. */}}
{{- define "user-service.db.secretAppPasswordKey" -}}
{{- if include "user-service.db.existingSecret" . }}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.existingSecretAppPasswordKey }}{{ else }}{{ .Values.externalDatabase.existingSecretAppPasswordKey }}{{ end }}
{{- else }}app-password{{ end }}
{{- end }}

{{/*
Secret the migration Job reads its credentials from. With the chart's own credentials, a hook
Secret rendered for this very release (migration-secret.yaml): a pre-upgrade hook runs before
the release's Secret is updated, so reading that one would give the Job the previous release's
passwords (or, upgrading from a chart without an app role, no app password at all).
*/}}
{{- define "user-service.migration.secretName" -}}
{{- if include "user-service.db.existingSecret" . }}
{{- include "user-service.db.secretName" . }}
{{- else }}
{{- printf "%s-migrate" (include "user-service.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The migration Job's credentials: PGUSER/PGPASSWORD of the owner role, and APP_DB_USER/
APP_DB_PASSWORD of the app role it creates or updates. With the chart's own Secret every value
comes from it; an existingSecret only has to carry the passwords (role names are not secret and
stay in values, as in Bitnami's charts).
*/}}
{{- define "user-service.migration.credentialsEnv" -}}
{{- $secret := include "user-service.migration.secretName" . -}}
- name: PGUSER
{{- if include "user-service.db.existingSecret" . }}
  value: {{ include "user-service.db.user" . | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: username
{{- end }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "user-service.db.secretPasswordKey" . }}
- name: APP_DB_USER
  value: {{ include "user-service.db.appUser" . | quote }}
- name: APP_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "user-service.db.secretAppPasswordKey" . }}
{{- end }}

{{/*
The API pods' credentials: the app role, never the owner. PGUSER is a plain value (a role name);
the password comes from the release's Secret (or existingSecret) by secretKeyRef, and API_KEYS
from the API key Secret, whose entry holds only the SHA-256 of the generated key.
*/}}
{{- define "user-service.api.credentialsEnv" -}}
- name: PGUSER
  value: {{ include "user-service.db.appUser" . | quote }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "user-service.db.secretName" . }}
      key: {{ include "user-service.db.secretAppPasswordKey" . }}
{{- if not .Values.auth.disabled }}
- name: API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "user-service.auth.secretName" . }}
      key: {{ include "user-service.auth.secretKeysKey" . }}
{{- end }}
{{- end }}

{{/* ---------- API keys ---------- */}}

{{/* Secret holding API_KEYS: the user's existingSecret, or the chart's <fullname>-api. */}}
{{- define "user-service.auth.secretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-api" (include "user-service.fullname" .)) }}
{{- end }}

{{/* Key of the API_KEYS value (name:scope:sha256:<hex>, comma-separated) in that Secret. */}}
{{- define "user-service.auth.secretKeysKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecretKey }}{{ else }}api-keys{{ end }}
{{- end }}

{{/* Key of a raw write key in that Secret, for humans and the `helm test` pod. */}}
{{- define "user-service.auth.secretTestKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecretTestKey }}{{ else }}api-key{{ end }}
{{- end }}

{{/* The chart's write key: auth.apiKey, else the stored one, else a new random one. */}}
{{- define "user-service.auth.apiKey" -}}
{{- include "user-service.managedSecretValue" (dict "ctx" . "explicit" .Values.auth.apiKey "secret" (include "user-service.auth.secretName" .) "key" "api-key" "length" 43) }}
{{- end }}

{{/*
The API_KEYS entry of that key: its name, scope write, and the SHA-256 of the key (hex), so the
pods never hold the key itself (`python -m service new-key` prints the same form).
*/}}
{{- define "user-service.auth.apiKeysEntry" -}}
{{- printf "%s:write:sha256:%s" .Values.auth.keyName (include "user-service.auth.apiKey" . | sha256sum) }}
{{- end }}

{{/* /metrics on its own port (METRICS_PORT), so the NetworkPolicy can open it to monitoring only. */}}
{{- define "user-service.metricsPort" -}}
{{- if eq (int .Values.metrics.port) (int .Values.config.port) }}
{{- fail (printf "metrics.port (%d) must differ from config.port: /metrics gets its own port so only monitoring can reach it" (int .Values.metrics.port)) }}
{{- end }}
{{- .Values.metrics.port }}
{{- end }}

{{/*
Non-secret settings shared by the ConfigMap (app pods) and the migration Job. The Job renders
them inline because as a pre-upgrade hook it runs before the new ConfigMap is applied.
Only variables the app reads (see the contract / service.config) may appear here.
*/}}
{{- define "user-service.configData" -}}
PGHOST: {{ include "user-service.db.host" . | quote }}
PGPORT: {{ include "user-service.db.port" . | quote }}
PGDATABASE: {{ include "user-service.db.database" . | quote }}
PORT: {{ .Values.config.port | quote }}
METRICS_PORT: {{ include "user-service.metricsPort" . | quote }}
AUTH_DISABLED: {{ .Values.auth.disabled | toString | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
DB_POOL_MIN_SIZE: {{ .Values.config.dbPoolMinSize | quote }}
DB_POOL_MAX_SIZE: {{ .Values.config.dbPoolMaxSize | quote }}
DB_CONNECT_TIMEOUT_SECONDS: {{ .Values.config.dbConnectTimeoutSeconds | quote }}
DB_REQUEST_TIMEOUT_SECONDS: {{ .Values.config.dbRequestTimeoutSeconds | quote }}
DB_ACQUIRE_TIMEOUT_SECONDS: {{ .Values.config.dbAcquireTimeoutSeconds | quote }}
DB_STATEMENT_TIMEOUT_SECONDS: {{ .Values.config.dbStatementTimeoutSeconds | quote }}
MAX_BODY_BYTES: {{ .Values.config.maxBodyBytes | int64 | quote }}
READINESS_TIMEOUT_SECONDS: {{ .Values.config.readinessTimeoutSeconds | quote }}
READINESS_CACHE_SECONDS: {{ .Values.config.readinessCacheSeconds | quote }}
DRAIN_DELAY_SECONDS: {{ .Values.config.drainDelaySeconds | quote }}
SHUTDOWN_TIMEOUT_SECONDS: {{ .Values.config.shutdownTimeoutSeconds | quote }}
{{- end }}

{{/* ---------- Computed values with render-time checks ---------- */}}

{{/*
terminationGracePeriodSeconds. Shutdown takes, in order: the preStop sleep (endpoints and load
balancers stop sending traffic), then after SIGTERM the app's drain delay (readiness 503, still
serving) and up to shutdownTimeoutSeconds for in-flight requests. The kubelet's grace period
covers all of it, so it must be at least their sum plus a margin; an explicit value that is
shorter would SIGKILL requests mid-flight, so the render fails instead.
*/}}
{{- define "user-service.terminationGracePeriodSeconds" -}}
{{- $needed := add .Values.lifecycle.preStopSleepSeconds .Values.config.drainDelaySeconds .Values.config.shutdownTimeoutSeconds .Values.lifecycle.terminationMarginSeconds }}
{{- $explicit := .Values.terminationGracePeriodSeconds }}
{{- if kindIs "invalid" $explicit }}
{{- $needed }}
{{- else if lt (int $explicit) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds=%d is too short: preStopSleepSeconds(%d) + drainDelaySeconds(%d) + shutdownTimeoutSeconds(%d) + terminationMarginSeconds(%d) = %d" (int $explicit) (int .Values.lifecycle.preStopSleepSeconds) (int .Values.config.drainDelaySeconds) (int .Values.config.shutdownTimeoutSeconds) (int .Values.lifecycle.terminationMarginSeconds) (int $needed)) }}
{{- else }}
{{- $explicit }}
{{- end }}
{{- end }}

{{/*
Connection budget. The most app pods that can exist at once is the HPA's maxReplicas (or
replicaCount) plus the rolling update's maxSurge; each holds up to DB_POOL_MAX_SIZE
connections. With connectionBudget.reservedConnections kept free (superuser slots, the
migration Job, psql sessions, monitoring) that must fit in the database's max_connections,
or the last pods to scale up get "too many clients" errors under load.
*/}}
{{- define "user-service.connectionBudget" -}}
{{- $pods := ternary .Values.autoscaling.maxReplicas .Values.replicaCount .Values.autoscaling.enabled }}
{{- $peakPods := add $pods .Values.updateStrategy.maxSurge }}
{{- $needed := add (mul $peakPods .Values.config.dbPoolMaxSize) .Values.connectionBudget.reservedConnections }}
{{- $max := include "user-service.db.maxConnections" . | int }}
{{- if gt (int $needed) $max }}
{{- fail (printf "connection budget exceeded: (pods %d + maxSurge %d) * dbPoolMaxSize %d + reservedConnections %d = %d > database max_connections %d; lower autoscaling.maxReplicas or config.dbPoolMaxSize, or raise max_connections" (int $pods) (int .Values.updateStrategy.maxSurge) (int .Values.config.dbPoolMaxSize) (int .Values.connectionBudget.reservedConnections) (int $needed) $max) }}
{{- end }}
{{- $needed }}
{{- end }}

{{/* Pod-level security context shared by app, Job and test pods. */}}
{{- define "user-service.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{/* Container-level security context shared by app, Job and test containers. */}}
{{- define "user-service.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{/*
A value of a chart-managed Secret, in order of preference:
1. the explicit value from values, when the user set one;
2. the value already stored in the release's Secret (lookup), so upgrades never rotate it
   (a new database password would lock the app out: PostgreSQL keeps the owner's password of
   its first initdb; a new API key would lock every client out);
3. a new random one (crypto/rand). It is memoised in the values map for this render, because
   several templates include this define (the Secret, the migration hook Secret, the
   Deployment's checksum annotations) and must agree.
lookup returns nothing under `helm template` and client-side dry runs, so there (3) applies.
Call with (dict "ctx" $ "explicit" VALUE "secret" NAME "key" KEY "length" N).
*/}}
{{- define "user-service.managedSecretValue" -}}
{{- if .explicit }}
{{- .explicit }}
{{- else }}
{{- $current := lookup "v1" "Secret" .ctx.Release.Namespace .secret }}
{{- if and $current (hasKey $current "data") (hasKey (get $current "data") .key) }}
{{- index $current.data .key | b64dec }}
{{- else }}
{{- $memo := printf "_generated_%s_%s" .secret .key }}
{{- if not (hasKey .ctx.Values $memo) }}
{{- $_ := set .ctx.Values $memo (randAlphaNum (int .length)) }}
{{- end }}
{{- get .ctx.Values $memo }}
{{- end }}
{{- end }}
{{- end }}

{{/* The owner's password in the chart-managed database Secret. */}}
{{- define "user-service.db.password" -}}
{{- include "user-service.managedSecretValue" (dict "ctx" . "explicit" .Values.postgresql.auth.password "secret" (printf "%s-db" (include "user-service.fullname" .)) "key" "password" "length" 32) }}
{{- end }}

{{/*
The app role's password in the same Secret. Kept like the owner's: the pods of the previous
release keep connecting with it while a migration runs.
*/}}
{{- define "user-service.db.appPassword" -}}
{{- include "user-service.managedSecretValue" (dict "ctx" . "explicit" .Values.postgresql.auth.appPassword "secret" (printf "%s-db" (include "user-service.fullname" .)) "key" "app-password" "length" 32) }}
{{- end }}
