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

{{/*
App image reference, registry included (global.imageRegistry, else image.registry); a digest,
when given, wins over the tag. The migration Job and the helm test pod use it too.
*/}}
{{- define "user-service.image" -}}
{{- $repository := include "user-service.imageRepository" (dict "ctx" . "registry" .Values.image.registry "repository" .Values.image.repository "key" "image.repository" "registryKey" "image.registry") }}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository $tag }}
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
The migration Job's credentials: PGUSER/PGPASSWORD of the owner role, and APP_DB_USER/
APP_DB_PASSWORD of the app role it creates or updates. With the chart's own Secret every value
comes from it; an existingSecret only has to carry the passwords (role names are not secret and
stay in values, as in Bitnami's charts).
*/}}
{{- define "user-service.migration.credentialsEnv" -}}
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
them inline, so that they are part of its spec's hash: new settings are a new Job.
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
KEEPALIVE_TIMEOUT_SECONDS: {{ .Values.config.keepaliveTimeoutSeconds | quote }}
DRAIN_DELAY_SECONDS: {{ .Values.config.drainDelaySeconds | quote }}
SHUTDOWN_TIMEOUT_SECONDS: {{ .Values.config.shutdownTimeoutSeconds | quote }}
{{- include "user-service.db.tlsConfigData" . }}
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
   several templates include this define (the Secret and the Deployment's checksum
   annotations) and must agree.
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

{{/* ---------- Images and registries ---------- */}}

{{/*
"true" when an image name starts with a registry host, by docker's rule: it has more than one
"/"-separated component and the first holds a "." or a ":" or is "localhost".
*/}}
{{- define "user-service.imageNamesRegistry" -}}
{{- $parts := splitList "/" . }}
{{- $first := first $parts }}
{{- if and (gt (len $parts) 1) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) }}true{{ end }}
{{- end }}

{{/*
An image name with its registry: global.imageRegistry, else the image's own registry key, put
in front. A name that already starts with that registry is kept; one that names another
registry fails the render, rather than pulling from a registry the values did not say.
Call with (dict "ctx" $ "registry" OWN-REGISTRY "repository" NAME "key" "image.repository"
"registryKey" "image.registry").
*/}}
{{- define "user-service.imageRepository" -}}
{{- $global := dig "imageRegistry" "" (.ctx.Values.global | default dict) }}
{{- $registry := $global | default .registry | trimSuffix "/" }}
{{- $source := .registryKey }}
{{- if $global }}{{ $source = "global.imageRegistry" }}{{ end }}
{{- if not $registry }}
{{- .repository }}
{{- else if hasPrefix (printf "%s/" $registry) .repository }}
{{- .repository }}
{{- else if include "user-service.imageNamesRegistry" .repository }}
{{- fail (printf "%s %q names another registry than %s %q: give the name without a registry (it is pulled from %s), or prefix it with %s/" .key .repository $source $registry $registry $registry) }}
{{- else }}
{{- printf "%s/%s" $registry .repository }}
{{- end }}
{{- end }}

{{/* The bundled PostgreSQL's image (postgresql.image.registry, or global.imageRegistry). */}}
{{- define "user-service.postgresql.image" -}}
{{- $image := .Values.postgresql.image }}
{{- $repository := include "user-service.imageRepository" (dict "ctx" . "registry" $image.registry "repository" $image.repository "key" "postgresql.image.repository" "registryKey" "postgresql.image.registry") }}
{{- printf "%s:%s" $repository $image.tag }}
{{- end }}

{{/*
The imagePullSecrets block of every pod of the chart: global.imagePullSecrets (names or
{name}), then imagePullSecrets, each name once. Nothing when there are none.
*/}}
{{- define "user-service.imagePullSecrets" -}}
{{- $names := list }}
{{- range concat (dig "imagePullSecrets" (list) (.Values.global | default dict)) (.Values.imagePullSecrets | default (list)) }}
{{- if kindIs "string" . }}
{{- $names = append $names . }}
{{- else }}
{{- $names = append $names .name }}
{{- end }}
{{- end }}
{{- with $names | uniq -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end }}

{{/*
User-given containers (initContainers, sidecars) as a YAML list, each image under
global.imageRegistry when it names no registry (the same rule as the chart's own images).
Call with (dict "ctx" $ "containers" LIST "key" "sidecars").
*/}}
{{- define "user-service.extraContainers" -}}
{{- $out := list }}
{{- range $i, $c := .containers }}
{{- $key := printf "%s[%d].image" $.key $i }}
{{- $image := include "user-service.imageRepository" (dict "ctx" $.ctx "registry" "" "repository" $c.image "key" $key "registryKey" "global.imageRegistry") }}
{{- $out = append $out (set (deepCopy $c) "image" $image) }}
{{- end }}
{{- with $out }}{{ toYaml . }}{{ end }}
{{- end }}

{{/* ---------- Extra metadata and env (API pods, migration Job, helm test pod) ---------- */}}

{{/*
Extra pod labels as YAML, after checking that none is one of the chart's own labels of that
component (selectors of the Deployment, Service, PDB and NetworkPolicies depend on them, and a
repeated key is invalid YAML). Call with (dict "ctx" $ "component" "api" "labels" MAP "key" "podLabels").
*/}}
{{- define "user-service.extraPodLabels" -}}
{{- $own := include "user-service.labels" (dict "ctx" .ctx "component" .component) | fromYaml }}
{{- range $name, $_ := .labels }}
{{- if hasKey $own $name }}
{{- fail (printf "%s: %q is one of the chart's own labels (selectors depend on them): choose another name" $.key $name) }}
{{- end }}
{{- end }}
{{- with .labels }}{{ toYaml . }}{{ end }}
{{- end }}

{{/*
Extra annotations as YAML, after checking that none repeats one the chart sets on that object.
Call with (dict "annotations" MAP "reserved" LIST "key" "podAnnotations").
*/}}
{{- define "user-service.extraAnnotations" -}}
{{- range $name, $_ := .annotations }}
{{- if has $name $.reserved }}
{{- fail (printf "%s: %q is set by the chart on this object: choose another annotation" $.key $name) }}
{{- end }}
{{- end }}
{{- with .annotations }}{{ toYaml . }}{{ end }}
{{- end }}

{{/*
Extra env entries as a YAML list, after checking that none is a variable the chart sets (the
later of two entries silently wins in the kubelet, so a value would bypass its values key and
its render-time checks). Call with (dict "env" LIST "reserved" LIST "key" "extraEnv").
*/}}
{{- define "user-service.extraEnv" -}}
{{- range $i, $entry := .env }}
{{- if has $entry.name $.reserved }}
{{- fail (printf "%s[%d]: %s is set by the chart: use its values key (config.*, externalDatabase.*, auth.*, metrics.port; see values.yaml)" $.key $i $entry.name) }}
{{- end }}
{{- end }}
{{- with .env }}{{ toYaml . }}{{ end }}
{{- end }}

{{/* Variables the chart sets in the api container: its ConfigMap's and its credentials. */}}
{{- define "user-service.api.reservedEnv" -}}
{{- toJson (concat (keys (include "user-service.configData" . | fromYaml) | sortAlpha) (list "PGUSER" "PGPASSWORD" "API_KEYS")) }}
{{- end }}

{{/*
For templates/migration-job.yaml: migration.extraEnv (checked against the Job's own variables),
migration.podLabels and migration.podAnnotations, each as YAML or nothing.
*/}}
{{- define "user-service.migration.extraEnv" -}}
{{- $reserved := concat (keys (include "user-service.configData" . | fromYaml)) (list "PGUSER" "PGPASSWORD" "APP_DB_USER" "APP_DB_PASSWORD") }}
{{- include "user-service.extraEnv" (dict "env" .Values.migration.extraEnv "reserved" $reserved "key" "migration.extraEnv") }}
{{- end }}

{{- define "user-service.migration.podLabels" -}}
{{- include "user-service.extraPodLabels" (dict "ctx" . "component" "migrate" "labels" .Values.migration.podLabels "key" "migration.podLabels") }}
{{- end }}

{{- define "user-service.migration.podAnnotations" -}}
{{- include "user-service.extraAnnotations" (dict "annotations" .Values.migration.podAnnotations "reserved" (list) "key" "migration.podAnnotations") }}
{{- end }}

{{/* ---------- TLS to an external PostgreSQL (externalDatabase.tls) ---------- */}}

{{/* Where the CA bundle is mounted; PGSSLROOTCERT is ca.crt inside it. */}}
{{- define "user-service.db.caDir" -}}
/etc/user-service/db-ca
{{- end }}

{{/*
The CA bundle's volume source (secret or configMap) as YAML, or nothing without one. Checks the
TLS values on the way; the ConfigMap data, the API pods and the migration Job all include it.
*/}}
{{- define "user-service.db.caVolumeSource" -}}
{{- $tls := .Values.externalDatabase.tls }}
{{- $secret := $tls.caSecret.name }}
{{- $configMap := $tls.caConfigMap.name }}
{{- if and .Values.postgresql.enabled (or $tls.mode $secret $configMap $tls.caFile) }}
{{- fail "externalDatabase.tls is for an external database (postgresql.enabled=false): the bundled PostgreSQL serves no TLS" }}
{{- end }}
{{- if gt (len (compact (list $secret $configMap $tls.caFile))) 1 }}
{{- fail "externalDatabase.tls: set one of caSecret.name, caConfigMap.name and caFile, not several" }}
{{- end }}
{{- if and (or $secret $configMap $tls.caFile) (has $tls.mode (list "" "disable")) }}
{{- fail (printf "externalDatabase.tls: a CA bundle needs mode require, verify-ca or verify-full (mode %q checks no certificate)" $tls.mode) }}
{{- end }}
{{- if and (has $tls.mode (list "verify-ca" "verify-full")) (not (or $secret $configMap $tls.caFile)) }}
{{- fail (printf "externalDatabase.tls.mode=%s needs a CA bundle: set externalDatabase.tls.caSecret.name, caConfigMap.name, or caFile (e.g. /etc/ssl/certs/ca-certificates.crt, the image's system CAs): the client never falls back to them" $tls.mode) }}
{{- end }}
{{- if $secret }}
secret:
  secretName: {{ $secret }}
  defaultMode: 0444
  items:
    - key: {{ $tls.caSecret.key }}
      path: ca.crt
{{- else if $configMap }}
configMap:
  name: {{ $configMap }}
  defaultMode: 0444
  items:
    - key: {{ $tls.caConfigMap.key }}
      path: ca.crt
{{- end }}
{{- end }}

{{/*
PGSSLMODE and PGSSLROOTCERT for user-service.configData, each only when set: the mounted CA
bundle, or externalDatabase.tls.caFile (a file of the image).
*/}}
{{- define "user-service.db.tlsConfigData" -}}
{{- $source := include "user-service.db.caVolumeSource" . }}
{{- with .Values.externalDatabase.tls.mode }}
PGSSLMODE: {{ . | quote }}
{{- end }}
{{- if $source }}
PGSSLROOTCERT: {{ printf "%s/ca.crt" (include "user-service.db.caDir" .) | quote }}
{{- else if .Values.externalDatabase.tls.caFile }}
PGSSLROOTCERT: {{ .Values.externalDatabase.tls.caFile | quote }}
{{- end }}
{{- end }}

{{/* The CA bundle's volume (a list item), or nothing: for the API pods and the migration Job. */}}
{{- define "user-service.db.tlsVolumes" -}}
{{- with include "user-service.db.caVolumeSource" . -}}
- name: db-ca
  {{- . | trim | nindent 2 }}
{{- end }}
{{- end }}

{{/* Its read-only mount (a list item), or nothing: for the api and migrate containers. */}}
{{- define "user-service.db.tlsVolumeMounts" -}}
{{- if include "user-service.db.caVolumeSource" . -}}
- name: db-ca
  mountPath: {{ include "user-service.db.caDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* ---------- Checks of the API pods' escape hatches ---------- */}}

{{/*
Fails the render on names the API pods would reject or that would shadow the chart's own:
volumes, mount paths, container names, a restartPolicy on a sidecar; and on autoscaling.external
without autoscaling.enabled, and enabled=false outside a parent chart's condition.
*/}}
{{- define "user-service.api.checks" -}}
{{- if not .Values.enabled }}
{{- fail "enabled=false: this key is for a parent chart's `condition: user-service.enabled` (Helm then skips the chart); on its own the chart has nothing to leave out: `helm uninstall` removes a release" }}
{{- end }}
{{- if and .Values.autoscaling.external (not .Values.autoscaling.enabled) }}
{{- fail "autoscaling.external=true needs autoscaling.enabled=true: an external autoscaler owns the replicas, within autoscaling.minReplicas and maxReplicas (the PDB and the connection budget use them)" }}
{{- end }}
{{- $volumes := list "tmp" }}
{{- if include "user-service.db.caVolumeSource" . }}{{ $volumes = append $volumes "db-ca" }}{{ end }}
{{- $chartVolumes := $volumes }}
{{- range $i, $v := .Values.extraVolumes }}
{{- if has $v.name $volumes }}
{{- fail (printf "extraVolumes[%d]: a volume named %q exists already (the chart's: %s)" $i $v.name (join ", " $chartVolumes)) }}
{{- end }}
{{- $volumes = append $volumes $v.name }}
{{- end }}
{{- $paths := list "/tmp" }}
{{- if include "user-service.db.caVolumeSource" . }}{{ $paths = append $paths (include "user-service.db.caDir" .) }}{{ end }}
{{- range $i, $m := .Values.extraVolumeMounts }}
{{- if not (has $m.name $volumes) }}
{{- fail (printf "extraVolumeMounts[%d]: no volume named %q (volumes: %s; add it to extraVolumes)" $i $m.name (join ", " $volumes)) }}
{{- end }}
{{- if has (trimSuffix "/" $m.mountPath) $paths }}
{{- fail (printf "extraVolumeMounts[%d]: %s is mounted already" $i $m.mountPath) }}
{{- end }}
{{- $paths = append $paths (trimSuffix "/" $m.mountPath) }}
{{- end }}
{{- $containers := list "api" }}
{{- range $key := list "initContainers" "sidecars" }}
{{- range $i, $c := index $.Values $key }}
{{- if has $c.name $containers }}
{{- fail (printf "%s[%d]: a container named %q exists already in the API pods" $key $i $c.name) }}
{{- end }}
{{- $containers = append $containers $c.name }}
{{- if and (eq $key "sidecars") (hasKey $c "restartPolicy") }}
{{- fail (printf "sidecars[%d] (%s): restartPolicy is for init containers; a native sidecar goes under initContainers with restartPolicy: Always" $i $c.name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* A NetworkPolicyPeer (a one-item list) from a location (ingressController, prometheus), or nothing when neither selector is set. */}}
{{- define "user-service.networkPolicy.peer" -}}
{{- $peer := dict }}
{{- with .namespaceSelector }}{{ $_ := set $peer "namespaceSelector" . }}{{ end }}
{{- with .podSelector }}{{ $_ := set $peer "podSelector" . }}{{ end }}
{{- with $peer }}{{ toYaml (list .) }}{{ end }}
{{- end }}
