{{/*
The database the app and the migration Job talk to: the bundled PostgreSQL (postgresql.*, the
part in templates/postgresql/), a CloudNativePG Cluster (cnpg.*, templates/cnpg/) or an
external one (externalDatabase.*).
*/}}

{{/* Which one: postgresql, cnpg or external. */}}
{{- define "user-service.database.mode" -}}
{{- if .Values.postgresql.enabled }}postgresql{{ else if .Values.cnpg.enabled }}cnpg{{ else }}external{{ end }}
{{- end }}

{{/*
The host the API pods connect to. CloudNativePG: the Pooler's Service when cnpg.pooler.enabled,
else the Cluster's -rw Service (the primary).
*/}}
{{- define "user-service.database.host" -}}
{{- $mode := include "user-service.database.mode" . }}
{{- if eq $mode "postgresql" }}
{{- include "user-service.postgresql.fullname" . }}
{{- else if eq $mode "cnpg" }}
{{- if .Values.cnpg.pooler.enabled }}{{ include "user-service.cnpg.poolerName" . }}{{ else }}{{ include "user-service.cnpg.rwService" . }}{{ end }}
{{- else }}
{{- .Values.externalDatabase.host }}
{{- end }}
{{- end }}

{{- define "user-service.database.port" -}}
{{- if eq (include "user-service.database.mode" .) "external" }}{{ .Values.externalDatabase.port }}{{ else }}5432{{ end }}
{{- end }}

{{/*
The host the migration Job connects to: never a transaction-mode pooler, whose server
connections change between transactions (the Job holds a session-level advisory lock and runs
DDL; `migrate` refuses DB_TRANSACTION_POOLING). CloudNativePG: always the Cluster's -rw Service;
external: externalDatabase.migrationHost, else host.
*/}}
{{- define "user-service.database.migrationHost" -}}
{{- $mode := include "user-service.database.mode" . }}
{{- if eq $mode "cnpg" }}
{{- include "user-service.cnpg.rwService" . }}
{{- else if eq $mode "external" }}
{{- .Values.externalDatabase.migrationHost | default .Values.externalDatabase.host }}
{{- else }}
{{- include "user-service.database.host" . }}
{{- end }}
{{- end }}

{{- define "user-service.database.migrationPort" -}}
{{- $port := .Values.externalDatabase.migrationPort }}
{{- if and (eq (include "user-service.database.mode" .) "external") (not (kindIs "invalid" $port)) }}
{{- $port }}
{{- else }}
{{- include "user-service.database.port" . }}
{{- end }}
{{- end }}

{{/*
"true" when the API pods' host is a transaction-mode pooler (DB_TRANSACTION_POOLING): the
CloudNativePG Pooler, or externalDatabase.transactionPooling.
*/}}
{{- define "user-service.database.transactionPooling" -}}
{{- $mode := include "user-service.database.mode" . }}
{{- if or (and (eq $mode "cnpg") .Values.cnpg.pooler.enabled) (and (eq $mode "external") .Values.externalDatabase.transactionPooling) }}true{{ end }}
{{- end }}

{{- define "user-service.database.name" -}}
{{- $mode := include "user-service.database.mode" . }}
{{- if eq $mode "postgresql" }}{{ .Values.postgresql.auth.database }}{{ else if eq $mode "cnpg" }}{{ .Values.cnpg.auth.database }}{{ else }}{{ .Values.externalDatabase.database }}{{ end }}
{{- end }}

{{/* The owner role: the migration Job connects as it (DDL, and it creates the app role). */}}
{{- define "user-service.database.user" -}}
{{- $mode := include "user-service.database.mode" . }}
{{- if eq $mode "postgresql" }}{{ .Values.postgresql.auth.username }}{{ else if eq $mode "cnpg" }}{{ .Values.cnpg.auth.username }}{{ else }}{{ .Values.externalDatabase.user }}{{ end }}
{{- end }}

{{/*
The least-privileged role the API pods connect as (rows of the tables, no DDL). The migration
Job creates or updates it (APP_DB_USER/APP_DB_PASSWORD); it must not be the owner.
*/}}
{{- define "user-service.database.appUser" -}}
{{- $mode := include "user-service.database.mode" . }}
{{- if eq $mode "postgresql" }}{{ .Values.postgresql.auth.appUsername }}{{ else if eq $mode "cnpg" }}{{ .Values.cnpg.auth.appUsername }}{{ else }}{{ .Values.externalDatabase.appUser }}{{ end }}
{{- end }}

{{/* max_connections of the database the app talks to (input to the connection budget). */}}
{{- define "user-service.database.maxConnections" -}}
{{- $mode := include "user-service.database.mode" . }}
{{- if eq $mode "postgresql" }}{{ .Values.postgresql.maxConnections }}{{ else if eq $mode "cnpg" }}{{ include "user-service.cnpg.maxConnections" . }}{{ else }}{{ .Values.externalDatabase.maxConnections }}{{ end }}
{{- end }}

{{/* Name of a user-provided Secret holding the password, or "" when the chart generates one. */}}
{{- define "user-service.database.existingSecret" -}}
{{- $mode := include "user-service.database.mode" . }}
{{- if eq $mode "postgresql" }}
{{- .Values.postgresql.auth.existingSecret }}
{{- else if eq $mode "cnpg" }}
{{- .Values.cnpg.auth.existingSecret }}
{{- else }}
{{- .Values.externalDatabase.existingSecret }}
{{- end }}
{{- end }}

{{/* Secret the app, the Job and PostgreSQL (or CloudNativePG) read the passwords from. */}}
{{- define "user-service.database.secretName" -}}
{{- $own := ternary (include "user-service.cnpg.secretName" .) (include "user-service.postgresql.fullname" .) (eq (include "user-service.database.mode" .) "cnpg") }}
{{- include "user-service.database.existingSecret" . | default $own }}
{{- end }}

{{/*
Key of the owner's password inside that Secret. CloudNativePG reads a basic-auth Secret, whose
key is always `password`.
*/}}
{{- define "user-service.database.secretPasswordKey" -}}
{{- $mode := include "user-service.database.mode" . }}
{{- if and (include "user-service.database.existingSecret" .) (ne $mode "cnpg") }}
{{- if eq $mode "postgresql" }}{{ .Values.postgresql.auth.existingSecretPasswordKey }}{{ else }}{{ .Values.externalDatabase.existingSecretPasswordKey }}{{ end }}
{{- else }}password{{ end }}
{{- end }}

{{/* Key of the app role's password inside that Secret. */}}
{{- define "user-service.database.secretAppPasswordKey" -}}
{{- $mode := include "user-service.database.mode" . }}
{{- if include "user-service.database.existingSecret" . }}
{{- if eq $mode "postgresql" }}{{ .Values.postgresql.auth.existingSecretAppPasswordKey }}{{ else if eq $mode "cnpg" }}{{ .Values.cnpg.auth.existingSecretAppPasswordKey }}{{ else }}{{ .Values.externalDatabase.existingSecretAppPasswordKey }}{{ end }}
{{- else }}app-password{{ end }}
{{- end }}

{{/* The template of the chart's own credentials Secret (the API pods' checksum annotation). */}}
{{- define "user-service.database.secretTemplate" -}}
{{- ternary "cnpg/secret.yaml" "postgresql/secret.yaml" (eq (include "user-service.database.mode" .) "cnpg") }}
{{- end }}

{{/* ---------- TLS to an external PostgreSQL (externalDatabase.tls) ---------- */}}

{{/* Where the CA bundle is mounted; PGSSLROOTCERT is ca.crt inside it. */}}
{{- define "user-service.database.caDir" -}}
/etc/user-service/database-ca
{{- end }}

{{/*
The CA bundle's volume source (secret or configMap) as YAML, or nothing without one; the
ConfigMap data, the API pods and the migration Job all include it.
*/}}
{{- define "user-service.database.caVolumeSource" -}}
{{- $tls := .Values.externalDatabase.tls }}
{{- $secret := $tls.caSecret.name }}
{{- $configMap := $tls.caConfigMap.name }}
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
PGSSLMODE and PGSSLROOTCERT for user-service.api.configData, each only when set: the mounted CA
bundle, or externalDatabase.tls.caFile (a file of the image).
*/}}
{{- define "user-service.database.tlsConfigData" -}}
{{- $source := include "user-service.database.caVolumeSource" . }}
{{- with .Values.externalDatabase.tls.mode }}
PGSSLMODE: {{ . | quote }}
{{- end }}
{{- if $source }}
PGSSLROOTCERT: {{ printf "%s/ca.crt" (include "user-service.database.caDir" .) | quote }}
{{- else if .Values.externalDatabase.tls.caFile }}
PGSSLROOTCERT: {{ .Values.externalDatabase.tls.caFile | quote }}
{{- end }}
{{- end }}

{{/* The CA bundle's volume (a list item), or nothing: for the API pods and the migration Job. */}}
{{- define "user-service.database.tlsVolumes" -}}
{{- with include "user-service.database.caVolumeSource" . -}}
- name: database-ca
  {{- . | trim | nindent 2 }}
{{- end }}
{{- end }}

{{/* Its read-only mount (a list item), or nothing: for the api and migration containers. */}}
{{- define "user-service.database.tlsVolumeMounts" -}}
{{- if include "user-service.database.caVolumeSource" . -}}
- name: database-ca
  mountPath: {{ include "user-service.database.caDir" . }}
  readOnly: true
{{- end }}
{{- end }}
