{{/* The api part: its settings (the ConfigMap, shared with the migration Job), credentials, API keys (auth.*). */}}

{{/*
Non-secret settings shared by the ConfigMap (app pods) and the migration Job. The Job renders
them inline, so that they are part of its spec's hash: new settings are a new Job. The Job
connects elsewhere when the API pods go through a transaction-mode pooler
(user-service.migration.configData).
Only variables the app reads (see the contract / service.config) may appear here.
*/}}
{{- define "user-service.api.configData" -}}
PGHOST: {{ include "user-service.database.host" . | quote }}
PGPORT: {{ include "user-service.database.port" . | quote }}
PGDATABASE: {{ include "user-service.database.name" . | quote }}
PORT: {{ .Values.config.port | quote }}
METRICS_PORT: {{ .Values.metrics.port | quote }}
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
KEEPALIVE_TIMEOUT_SECONDS: {{ .Values.config.keepaliveTimeoutSeconds | quote }}
DRAIN_DELAY_SECONDS: {{ .Values.config.drainDelaySeconds | quote }}
SHUTDOWN_TIMEOUT_SECONDS: {{ .Values.config.shutdownTimeoutSeconds | quote }}
DOCS_ENABLED: {{ .Values.config.docsEnabled | toString | quote }}
{{- if include "user-service.database.transactionPooling" . }}
DB_TRANSACTION_POOLING: "true"
{{- end }}
{{- include "user-service.database.tlsConfigData" . }}
{{- include "user-service.api.tracingConfigData" . }}
{{- end }}

{{/*
The OTEL_* variables of tracing.*, only when it is enabled: with none set the app never loads
OpenTelemetry. The sampler's argument only for the samplers that take one (the app refuses it
for the others). Resource attribute values are percent-encoded, as OTEL_RESOURCE_ATTRIBUTES
wants them (urlquery writes a space as +, which that format does not decode).
*/}}
{{- define "user-service.api.tracingConfigData" -}}
{{- with .Values.tracing }}
{{- if .enabled }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .endpoint | quote }}
OTEL_TRACES_SAMPLER: {{ .sampler | quote }}
{{- if hasSuffix "traceidratio" .sampler }}
OTEL_TRACES_SAMPLER_ARG: {{ .samplingRatio | toString | quote }}
{{- end }}
{{- with .serviceName }}
OTEL_SERVICE_NAME: {{ . | quote }}
{{- end }}
{{- with .resourceAttributes }}
{{- $pairs := list }}
{{- range $key, $value := . }}
{{- $pairs = append $pairs (printf "%s=%s" $key (urlquery $value | replace "+" "%20")) }}
{{- end }}
OTEL_RESOURCE_ATTRIBUTES: {{ join "," $pairs | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
terminationGracePeriodSeconds. Shutdown takes, in order: the preStop sleep (endpoints and load
balancers stop sending traffic), then after SIGTERM the app's drain delay (readiness 503, still
serving) and up to shutdownTimeoutSeconds for in-flight requests. The kubelet's grace period
covers all of it, so it must be at least their sum plus a margin (an explicit value that is
shorter would SIGKILL requests mid-flight: user-service.validateValues.gracePeriod refuses it).
*/}}
{{- define "user-service.api.shutdownSeconds" -}}
{{- add .Values.lifecycle.preStopSleepSeconds .Values.config.drainDelaySeconds .Values.config.shutdownTimeoutSeconds .Values.lifecycle.terminationMarginSeconds }}
{{- end }}

{{- define "user-service.api.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- include "user-service.api.shutdownSeconds" . }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
The API pods' credentials: the app role, never the owner. PGUSER is a plain value (a role name);
the password comes from the release's Secret (or existingSecret) by secretKeyRef, and API_KEYS
from the API key Secret, whose entry holds only the SHA-256 of the generated key.
*/}}
{{- define "user-service.api.credentialsEnv" -}}
- name: PGUSER
  value: {{ include "user-service.database.appUser" . | quote }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "user-service.database.secretName" . }}
      key: {{ include "user-service.database.secretAppPasswordKey" . }}
{{- if not .Values.auth.disabled }}
- name: API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "user-service.auth.secretName" . }}
      key: {{ include "user-service.auth.secretKeysKey" . }}
{{- end }}
{{- end }}

{{/* Variables the chart sets in the api container: its ConfigMap's and its credentials. */}}
{{- define "user-service.api.reservedEnv" -}}
{{- toJson (concat (keys (include "user-service.api.configData" . | fromYaml) | sortAlpha) (list "PGUSER" "PGPASSWORD" "API_KEYS")) }}
{{- end }}

{{/* ---------- API keys (auth.*) ---------- */}}

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
