{{/*
The cnpg part: a CloudNativePG Cluster, its credentials and an optional PgBouncer Pooler
(templates/cnpg/), when cnpg.enabled. Written for the postgresql.cnpg.io/v1 API of
CloudNativePG 1.27 (schemas/cnpg-cluster.schema.json and cnpg-pooler.schema.json hold what the
chart renders).
*/}}

{{/*
Name of the Cluster. CloudNativePG derives the instance pods (<name>-1 ...) and the Services
<name>-rw, -ro and -r from it and refuses names longer than 50 characters.
*/}}
{{- define "user-service.cnpg.clusterName" -}}
{{- printf "%s-cnpg" (include "user-service.fullname" . | trunc 45 | trimSuffix "-") }}
{{- end }}

{{/* The Cluster's read-write Service: always the current primary. */}}
{{- define "user-service.cnpg.rwService" -}}
{{- printf "%s-rw" (include "user-service.cnpg.clusterName" .) }}
{{- end }}

{{/* Name of the Pooler, and of the Service CloudNativePG creates for it (never the Cluster's). */}}
{{- define "user-service.cnpg.poolerName" -}}
{{- printf "%s-pooler" (include "user-service.cnpg.clusterName" .) }}
{{- end }}

{{/* The chart's credentials Secret (when cnpg.auth.existingSecret is empty). */}}
{{- define "user-service.cnpg.secretName" -}}
{{- printf "%s-credentials" (include "user-service.cnpg.clusterName" .) }}
{{- end }}

{{/* The owner's password in the chart's Secret: cnpg.auth.password, else kept, else new. */}}
{{- define "user-service.cnpg.password" -}}
{{- include "user-service.managedSecretValue" (dict "ctx" . "explicit" .Values.cnpg.auth.password "secret" (include "user-service.cnpg.secretName" .) "key" "password" "length" 32) }}
{{- end }}

{{/* The app role's password in the same Secret, kept the same way. */}}
{{- define "user-service.cnpg.appPassword" -}}
{{- include "user-service.managedSecretValue" (dict "ctx" . "explicit" .Values.cnpg.auth.appPassword "secret" (include "user-service.cnpg.secretName" .) "key" "app-password" "length" 32) }}
{{- end }}

{{/* spec.monitoring.enablePodMonitor: cnpg.monitoring.enablePodMonitor, null follows metrics.serviceMonitor.enabled. */}}
{{- define "user-service.cnpg.enablePodMonitor" -}}
{{- $explicit := .Values.cnpg.monitoring.enablePodMonitor }}
{{- ternary .Values.metrics.serviceMonitor.enabled $explicit (kindIs "invalid" $explicit) }}
{{- end }}

{{/* The Cluster's max_connections: its parameter, else PostgreSQL's default (100). */}}
{{- define "user-service.cnpg.maxConnections" -}}
{{- dig "max_connections" "100" .Values.cnpg.postgresql.parameters | toString }}
{{- end }}

{{/* PgBouncer's reserve_pool_size (extra server connections per pool), 0 when not set. */}}
{{- define "user-service.cnpg.poolerReservePoolSize" -}}
{{- dig "reserve_pool_size" "0" .Values.cnpg.pooler.parameters | toString }}
{{- end }}

{{/* The pgbouncer parameters the chart sets itself (cnpg.pooler.parameters may not repeat them). */}}
{{- define "user-service.cnpg.poolerOwnParameters" -}}
{{- toJson (list "pool_mode" "max_client_conn" "default_pool_size") }}
{{- end }}
