{{/* The migration part (templates/migration/job.yaml): its credentials and escape hatches. */}}

{{/*
The migration Job's credentials: PGUSER/PGPASSWORD of the owner role, and APP_DB_USER/
APP_DB_PASSWORD of the app role it creates or updates. With the chart's own Secret every value
comes from it; an existingSecret only has to carry the passwords (role names are not secret and
stay in values, as in Bitnami's charts).
*/}}
{{- define "user-service.migration.credentialsEnv" -}}
{{- $secret := include "user-service.database.secretName" . -}}
- name: PGUSER
{{- if include "user-service.database.existingSecret" . }}
  value: {{ include "user-service.database.user" . | quote }}
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
      key: {{ include "user-service.database.secretPasswordKey" . }}
- name: APP_DB_USER
  value: {{ include "user-service.database.appUser" . | quote }}
- name: APP_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "user-service.database.secretAppPasswordKey" . }}
{{- end }}

{{/*
The migration Job's settings: the API pods' (user-service.api.configData), but always a direct
connection: PGHOST/PGPORT of user-service.database.migrationHost (CloudNativePG: the -rw
Service, even with the Pooler on) and no DB_TRANSACTION_POOLING (`migrate` refuses it: its
session-level advisory lock and its DDL need one server session throughout).
*/}}
{{- define "user-service.migration.configData" -}}
{{- $config := include "user-service.api.configData" . | fromYaml }}
{{- $_ := set $config "PGHOST" (include "user-service.database.migrationHost" .) }}
{{- $_ = set $config "PGPORT" (include "user-service.database.migrationPort" .) }}
{{- $_ = unset $config "DB_TRANSACTION_POOLING" }}
{{- toYaml $config }}
{{- end }}

{{/* Variables the chart sets in the migration container: the settings and the credentials. */}}
{{- define "user-service.migration.reservedEnv" -}}
{{- toJson (concat (keys (include "user-service.api.configData" . | fromYaml) | sortAlpha) (list "PGUSER" "PGPASSWORD" "APP_DB_USER" "APP_DB_PASSWORD")) }}
{{- end }}
