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

{{- define "user-service.db.user" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.username }}{{ else }}{{ .Values.externalDatabase.user }}{{ end }}
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

{{/* Key of the password inside that Secret. */}}
{{- define "user-service.db.secretPasswordKey" -}}
{{- if include "user-service.db.existingSecret" . }}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.existingSecretPasswordKey }}{{ else }}{{ .Values.externalDatabase.existingSecretPasswordKey }}{{ end }}
{{- else }}password{{ end }}
{{- end }}

{{/*
PGUSER/PGPASSWORD for the app and the migration Job. With the chart's own Secret both come
from it; an existingSecret only has to carry the password (the user name is not secret and
stays in values, as in Bitnami's charts).
*/}}
{{- define "user-service.db.credentialsEnv" -}}
{{- $secret := include "user-service.db.secretName" . -}}
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
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
DB_POOL_MIN_SIZE: {{ .Values.config.dbPoolMinSize | quote }}
DB_POOL_MAX_SIZE: {{ .Values.config.dbPoolMaxSize | quote }}
DB_CONNECT_TIMEOUT_SECONDS: {{ .Values.config.dbConnectTimeoutSeconds | quote }}
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
Database password for the chart-managed Secret, in order of preference:
1. postgresql.auth.password when the user set one;
2. the password already stored in the release's Secret (lookup), so upgrades never rotate it
   (rotating it would lock the app out: PostgreSQL keeps the password of its first initdb);
3. a new random one. It is memoised in the values map for this render, because both the
   Secret and the Deployment's checksum/secret annotation include this define and must agree.
lookup returns nothing under `helm template` and client-side dry runs, so there (3) applies.
*/}}
{{- define "user-service.db.password" -}}
{{- if .Values.postgresql.auth.password }}
{{- .Values.postgresql.auth.password }}
{{- else }}
{{- $name := printf "%s-db" (include "user-service.fullname" .) }}
{{- $current := lookup "v1" "Secret" .Release.Namespace $name }}
{{- if and $current (hasKey $current "data") (hasKey (get $current "data") "password") }}
{{- index $current.data "password" | b64dec }}
{{- else }}
{{- if not (hasKey .Values "_generatedDbPassword") }}
{{- $_ := set .Values "_generatedDbPassword" (randAlphaNum 32) }}
{{- end }}
{{- get .Values "_generatedDbPassword" }}
{{- end }}
{{- end }}
{{- end }}
