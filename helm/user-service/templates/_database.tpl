{{/*
The database the app and the migration Job talk to: the bundled PostgreSQL (postgresql.*, the
part in templates/postgresql/) or an external one (externalDatabase.*).
*/}}

{{- define "user-service.database.host" -}}
{{- if .Values.postgresql.enabled }}
{{- include "user-service.postgresql.fullname" . }}
{{- else }}
{{- .Values.externalDatabase.host }}
{{- end }}
{{- end }}

{{- define "user-service.database.port" -}}
{{- if .Values.postgresql.enabled }}5432{{ else }}{{ .Values.externalDatabase.port }}{{ end }}
{{- end }}

{{- define "user-service.database.name" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.database }}{{ else }}{{ .Values.externalDatabase.database }}{{ end }}
{{- end }}

{{/* The owner role: the migration Job connects as it (DDL, and it creates the app role). */}}
{{- define "user-service.database.user" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.username }}{{ else }}{{ .Values.externalDatabase.user }}{{ end }}
{{- end }}

{{/*
The least-privileged role the API pods connect as (rows of the tables, no DDL). The migration
Job creates or updates it (APP_DB_USER/APP_DB_PASSWORD); it must not be the owner.
*/}}
{{- define "user-service.database.appUser" -}}
{{- ternary .Values.postgresql.auth.appUsername .Values.externalDatabase.appUser .Values.postgresql.enabled }}
{{- end }}

{{/* max_connections of the database the app talks to (input to the connection budget). */}}
{{- define "user-service.database.maxConnections" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.maxConnections }}{{ else }}{{ .Values.externalDatabase.maxConnections }}{{ end }}
{{- end }}

{{/* Name of a user-provided Secret holding the password, or "" when the chart generates one. */}}
{{- define "user-service.database.existingSecret" -}}
{{- if .Values.postgresql.enabled }}
{{- .Values.postgresql.auth.existingSecret }}
{{- else }}
{{- .Values.externalDatabase.existingSecret }}
{{- end }}
{{- end }}

{{/* Secret the app, the Job and PostgreSQL read the password from. */}}
{{- define "user-service.database.secretName" -}}
{{- include "user-service.database.existingSecret" . | default (include "user-service.postgresql.fullname" .) }}
{{- end }}

{{/* Key of the owner's password inside that Secret. */}}
{{- define "user-service.database.secretPasswordKey" -}}
{{- if include "user-service.database.existingSecret" . }}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.existingSecretPasswordKey }}{{ else }}{{ .Values.externalDatabase.existingSecretPasswordKey }}{{ end }}
{{- else }}password{{ end }}
{{- end }}

{{/* Key of the app role's password inside that Secret. */}}
{{- define "user-service.database.secretAppPasswordKey" -}}
{{- if include "user-service.database.existingSecret" . }}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.existingSecretAppPasswordKey }}{{ else }}{{ .Values.externalDatabase.existingSecretAppPasswordKey }}{{ end }}
{{- else }}app-password{{ end }}
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
