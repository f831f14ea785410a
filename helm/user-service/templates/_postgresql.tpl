{{/* The postgresql part: the bundled server (templates/postgresql/), when postgresql.enabled. */}}

{{/* Name of the bundled PostgreSQL objects (StatefulSet, headless Service). */}}
{{- define "user-service.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "user-service.fullname" . | trunc 52 | trimSuffix "-") }}
{{- end }}

{{/* The bundled PostgreSQL's image (postgresql.image.registry, or global.imageRegistry). */}}
{{- define "user-service.postgresql.image" -}}
{{- $image := .Values.postgresql.image }}
{{- $repository := include "user-service.imageRepository" (dict "ctx" . "registry" $image.registry "repository" $image.repository "key" "postgresql.image.repository" "registryKey" "postgresql.image.registry") }}
{{- printf "%s:%s" $repository $image.tag }}
{{- end }}

{{/* The owner's password in the chart-managed database Secret. */}}
{{- define "user-service.postgresql.password" -}}
{{- include "user-service.managedSecretValue" (dict "ctx" . "explicit" .Values.postgresql.auth.password "secret" (include "user-service.postgresql.fullname" .) "key" "password" "length" 32) }}
{{- end }}

{{/*
The app role's password in the same Secret. Kept like the owner's: the pods of the previous
release keep connecting with it while a migration runs.
*/}}
{{- define "user-service.postgresql.appPassword" -}}
{{- include "user-service.managedSecretValue" (dict "ctx" . "explicit" .Values.postgresql.auth.appPassword "secret" (include "user-service.postgresql.fullname" .) "key" "app-password" "length" 32) }}
{{- end }}
