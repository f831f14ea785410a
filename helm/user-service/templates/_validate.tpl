{{/*
Every render-time check of the values, in one place (as Bitnami's charts do): each check below
prints its problems, one per line, and the render fails once, listing all of them, so three
mistakes take one attempt to learn about, not three. values.schema.json has already refused
unknown keys and wrong types (Helm lists all of those at once too); these are the rules between
values. NOTES.txt includes it first: Helm renders NOTES.txt on install, upgrade, template and
lint alike, and no other template fails, so this is the one message a user sees.
*/}}
{{- define "user-service.validateValues" -}}
{{- $problems := list }}
{{- range $check := list "enabled" "autoscaling" "pdb" "gracePeriod" "connectionBudget" "ports" "database" "cnpg" "databaseTls" "migration" "networkPolicy" "images" "apiPods" "topologySpread" "podMetadata" "env" "metrics" "tracing" }}
{{- range splitList "\n" (include (printf "user-service.validateValues.%s" $check) $) }}
{{- if trim . }}{{ $problems = append $problems (trim .) }}{{ end }}
{{- end }}
{{- end }}
{{- with $problems }}
{{- fail (printf "\n%d %s with the values (each key is described in values.yaml and the chart's README):\n- %s" (len .) (ternary "problem" "problems" (eq (len .) 1)) (join "\n- " .)) }}
{{- end }}
{{- end }}

{{- define "user-service.validateValues.enabled" -}}
{{- if not .Values.enabled }}
enabled=false: this key is for a parent chart's `condition: user-service.enabled` (Helm then skips the chart); on its own the chart has nothing to leave out: `helm uninstall` removes a release
{{- end }}
{{- end }}

{{- define "user-service.validateValues.autoscaling" -}}
{{- $a := .Values.autoscaling }}
{{- if and $a.external (not $a.enabled) }}
autoscaling.external=true needs autoscaling.enabled=true: an external autoscaler owns the replicas, within autoscaling.minReplicas and maxReplicas (the PDB and the connection budget use them)
{{- end }}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) }}
{{ printf "autoscaling.minReplicas (%d) must not exceed autoscaling.maxReplicas (%d)" (int $a.minReplicas) (int $a.maxReplicas) }}
{{- end }}
{{- end }}

{{/* With one replica there is no PDB at all (templates/api/pdb.yaml), so nothing to check. */}}
{{- define "user-service.validateValues.pdb" -}}
{{- $replicas := ternary .Values.autoscaling.minReplicas .Values.replicaCount .Values.autoscaling.enabled }}
{{- if and .Values.pdb.enabled (gt (int $replicas) 1) (ge (int .Values.pdb.minAvailable) (int $replicas)) }}
{{ printf "pdb.minAvailable (%d) must be below the replica count (%d), or no node could ever be drained" (int .Values.pdb.minAvailable) (int $replicas) }}
{{- end }}
{{- end }}

{{- define "user-service.validateValues.gracePeriod" -}}
{{- $explicit := .Values.terminationGracePeriodSeconds }}
{{- $needed := include "user-service.api.shutdownSeconds" . | int }}
{{- if and (not (kindIs "invalid" $explicit)) (lt (int $explicit) $needed) }}
{{ printf "terminationGracePeriodSeconds=%d is too short: lifecycle.preStopSleepSeconds(%d) + config.drainDelaySeconds(%d) + config.shutdownTimeoutSeconds(%d) + lifecycle.terminationMarginSeconds(%d) = %d" (int $explicit) (int .Values.lifecycle.preStopSleepSeconds) (int .Values.config.drainDelaySeconds) (int .Values.config.shutdownTimeoutSeconds) (int .Values.lifecycle.terminationMarginSeconds) $needed }}
{{- end }}
{{- end }}

{{/*
Connection budget. The most app pods that can exist at once is the HPA's maxReplicas (or
replicaCount) plus the rolling update's maxSurge; each holds up to DB_POOL_MAX_SIZE
connections. With connectionBudget.reservedConnections kept free (superuser slots, the
migration Job, psql sessions, monitoring) that must fit in the database's max_connections,
or the last pods to scale up get "too many clients" errors under load.
With the CloudNativePG Pooler in front, the pods' connections are PgBouncer's clients and
PgBouncer opens the server connections, so there are two budgets: the clients must fit in
pooler.instances x max_client_conn, and each PgBouncer opens at most default_pool_size (plus
reserve_pool_size) server connections for the app's database and role, so
pooler.instances x that + reservedConnections must fit in the Cluster's max_connections.
*/}}
{{- define "user-service.validateValues.connectionBudget" -}}
{{- $pods := ternary .Values.autoscaling.maxReplicas .Values.replicaCount .Values.autoscaling.enabled }}
{{- $clients := mul (add $pods .Values.updateStrategy.maxSurge) .Values.config.dbPoolMaxSize }}
{{- $reserved := int .Values.connectionBudget.reservedConnections }}
{{- $maxRaw := include "user-service.database.maxConnections" . }}
{{- $max := $maxRaw | int }}
{{- $pooler := .Values.cnpg.pooler }}
{{- if not (regexMatch "^[0-9]+$" $maxRaw) }}
{{ printf "cnpg.postgresql.parameters.max_connections (%q) must be a whole number: the connection budget is checked against it" $maxRaw }}
{{- else if and (eq (include "user-service.database.mode" .) "cnpg") $pooler.enabled }}
{{- $reservePool := include "user-service.cnpg.poolerReservePoolSize" . }}
{{- if not (regexMatch "^[0-9]+$" $reservePool) }}
{{ printf "cnpg.pooler.parameters.reserve_pool_size (%q) must be a whole number: the connection budget counts it" $reservePool }}
{{- else }}
{{- $accepted := mul $pooler.instances $pooler.maxClientConn }}
{{- if gt (int $clients) (int $accepted) }}
{{ printf "pooler client budget exceeded: (pods %d + maxSurge %d) * dbPoolMaxSize %d = %d > cnpg.pooler.instances %d * cnpg.pooler.maxClientConn %d = %d; raise cnpg.pooler.maxClientConn or cnpg.pooler.instances, or lower autoscaling.maxReplicas or config.dbPoolMaxSize" (int $pods) (int .Values.updateStrategy.maxSurge) (int .Values.config.dbPoolMaxSize) (int $clients) (int $pooler.instances) (int $pooler.maxClientConn) (int $accepted) }}
{{- end }}
{{- $servers := add (mul $pooler.instances (add $pooler.defaultPoolSize ($reservePool | int))) $reserved }}
{{- if gt (int $servers) $max }}
{{ printf "pooler server budget exceeded: cnpg.pooler.instances %d * (cnpg.pooler.defaultPoolSize %d + reserve_pool_size %d) + connectionBudget.reservedConnections %d = %d > max_connections %d; lower cnpg.pooler.defaultPoolSize or cnpg.pooler.instances, or raise cnpg.postgresql.parameters.max_connections" (int $pooler.instances) (int $pooler.defaultPoolSize) ($reservePool | int) $reserved (int $servers) $max }}
{{- end }}
{{- end }}
{{- else }}
{{- $needed := add $clients $reserved }}
{{- if gt (int $needed) $max }}
{{- $maxKey := get (dict "postgresql" "postgresql.maxConnections" "cnpg" "cnpg.postgresql.parameters.max_connections" "external" "externalDatabase.maxConnections") (include "user-service.database.mode" .) }}
{{ printf "connection budget exceeded: (pods %d + maxSurge %d) * dbPoolMaxSize %d + reservedConnections %d = %d > database max_connections %d; lower autoscaling.maxReplicas or config.dbPoolMaxSize, or raise %s" (int $pods) (int .Values.updateStrategy.maxSurge) (int .Values.config.dbPoolMaxSize) $reserved (int $needed) $max $maxKey }}
{{- end }}
{{- end }}
{{- end }}

{{- define "user-service.validateValues.ports" -}}
{{- if eq (int .Values.metrics.port) (int .Values.config.port) }}
{{ printf "metrics.port (%d) must differ from config.port: /metrics gets its own port so only monitoring can reach it" (int .Values.metrics.port) }}
{{- end }}
{{- end }}

{{- define "user-service.validateValues.database" -}}
{{- if eq (include "user-service.database.mode" .) "external" }}
{{- if not .Values.externalDatabase.host }}
externalDatabase.host is required when postgresql.enabled=false
{{- end }}
{{- if not .Values.externalDatabase.existingSecret }}
externalDatabase.existingSecret is required when postgresql.enabled=false (the chart never stores an external database's passwords)
{{- end }}
{{- end }}
{{- $app := include "user-service.database.appUser" . }}
{{- if eq $app (include "user-service.database.user" .) }}
{{ printf "the app role %q must differ from the owner role the migration connects as: the API would run with DDL rights" $app }}
{{- end }}
{{- end }}

{{/*
The CloudNativePG mode against the other two, and its own rules: synchronous standbys that
exist, role names CloudNativePG does not reserve, PgBouncer settings in one place, and the
external pooler setting where it means something.
*/}}
{{- define "user-service.validateValues.cnpg" -}}
{{- $cnpg := .Values.cnpg }}
{{- $ext := .Values.externalDatabase }}
{{- if and $cnpg.enabled .Values.postgresql.enabled }}
cnpg.enabled=true needs postgresql.enabled=false: the CloudNativePG Cluster replaces the bundled PostgreSQL StatefulSet, the chart renders one database (set postgresql.enabled=false)
{{- end }}
{{- if and $cnpg.pooler.enabled (not $cnpg.enabled) }}
cnpg.pooler.enabled=true needs cnpg.enabled=true: the Pooler fronts the chart's CloudNativePG Cluster (for a PgBouncer of your own in front of an external database, set externalDatabase.transactionPooling)
{{- end }}
{{- if $cnpg.enabled }}
{{- if and $cnpg.synchronous.enabled (gt (int $cnpg.synchronous.number) (sub (int $cnpg.instances) 1)) }}
{{ printf "cnpg.synchronous.number (%d) must be at most cnpg.instances - 1 (%d standbys): commits would wait for standbys that do not exist" (int $cnpg.synchronous.number) (sub (int $cnpg.instances) 1) }}
{{- end }}
{{- range $key := list "username" "appUsername" }}
{{- $role := index $cnpg.auth $key }}
{{- if or (has $role (list "postgres" "streaming_replica")) (hasPrefix "cnpg_" $role) }}
{{ printf "cnpg.auth.%s %q is a role CloudNativePG reserves (postgres, streaming_replica, cnpg_*): choose another name" $key $role }}
{{- end }}
{{- end }}
{{- $own := include "user-service.cnpg.poolerOwnParameters" . | fromJsonArray }}
{{- range $name, $_ := $cnpg.pooler.parameters }}
{{- if has $name $own }}
{{ printf "cnpg.pooler.parameters.%s is set by the chart: use cnpg.pooler.maxClientConn and cnpg.pooler.defaultPoolSize (pool_mode is always transaction)" $name }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (or $ext.transactionPooling $ext.migrationHost (not (kindIs "invalid" $ext.migrationPort))) (ne (include "user-service.database.mode" .) "external") }}
externalDatabase.transactionPooling, migrationHost and migrationPort are for an external database (postgresql.enabled=false and cnpg.enabled=false); with CloudNativePG use cnpg.pooler.enabled
{{- else if and $ext.transactionPooling .Values.migration.enabled (not $ext.migrationHost) }}
externalDatabase.transactionPooling=true needs externalDatabase.migrationHost (the PostgreSQL server itself) while migration.enabled=true: the migration Job cannot run through a transaction-mode pooler (its advisory lock and DDL need one session; `migrate` refuses DB_TRANSACTION_POOLING)
{{- end }}
{{- end }}

{{- define "user-service.validateValues.databaseTls" -}}
{{- $tls := .Values.externalDatabase.tls }}
{{- $bundles := compact (list $tls.caSecret.name $tls.caConfigMap.name $tls.caFile) }}
{{- if and .Values.postgresql.enabled (or $tls.mode $bundles) }}
externalDatabase.tls is for an external database (postgresql.enabled=false): the bundled PostgreSQL serves no TLS
{{- else if and (eq (include "user-service.database.mode" .) "cnpg") (or $tls.mode $bundles) }}
externalDatabase.tls is for an external database (cnpg.enabled=false): with CloudNativePG the chart sets no PGSSLMODE (the client's default, prefer, uses the Cluster's TLS without checking its certificate)
{{- end }}
{{- if gt (len $bundles) 1 }}
externalDatabase.tls: set one of caSecret.name, caConfigMap.name and caFile, not several
{{- end }}
{{- if and $bundles (has $tls.mode (list "" "disable")) }}
{{ printf "externalDatabase.tls: a CA bundle needs mode require, verify-ca or verify-full (mode %q checks no certificate)" $tls.mode }}
{{- end }}
{{- if and (has $tls.mode (list "verify-ca" "verify-full")) (not $bundles) }}
{{ printf "externalDatabase.tls.mode=%s needs a CA bundle: set externalDatabase.tls.caSecret.name, caConfigMap.name, or caFile (e.g. /etc/ssl/certs/ca-certificates.crt, the image's system CAs): the client never falls back to them" $tls.mode }}
{{- end }}
{{- end }}

{{- define "user-service.validateValues.migration" -}}
{{- if and .Values.migration.enabled (ge (int .Values.migration.waitTimeoutSeconds) (int .Values.migration.activeDeadlineSeconds)) }}
migration.activeDeadlineSeconds must be longer than migration.waitTimeoutSeconds
{{- end }}
{{- end }}

{{- define "user-service.validateValues.networkPolicy" -}}
{{- $np := .Values.networkPolicy }}
{{- if and $np.enabled .Values.metrics.serviceMonitor.enabled (not $np.metricsFrom) (not (include "user-service.networkPolicy.peer" $np.prometheus)) }}
metrics.serviceMonitor.enabled=true, but the NetworkPolicy closes the metrics port (networkPolicy.metricsFrom is empty and networkPolicy.prometheus names no namespace or pods): name where Prometheus runs in networkPolicy.prometheus (docs/kubernetes.md, "NetworkPolicy layouts")
{{- end }}
{{- end }}

{{/*
An image that names another registry than the one the values put in front (global.imageRegistry,
else the image's own registry key) is refused, rather than pulled from a registry the values
did not say. The same rule as user-service.imageRepository, for every image the chart renders.
*/}}
{{- define "user-service.validateValues.images" -}}
{{- $global := dig "imageRegistry" "" (.Values.global | default dict) }}
{{- $images := list (dict "repository" .Values.image.repository "registry" .Values.image.registry "key" "image.repository" "registryKey" "image.registry") }}
{{- if .Values.postgresql.enabled }}
{{- $images = append $images (dict "repository" .Values.postgresql.image.repository "registry" .Values.postgresql.image.registry "key" "postgresql.image.repository" "registryKey" "postgresql.image.registry") }}
{{- end }}
{{- range $key := list "initContainers" "sidecars" }}
{{- range $i, $c := index $.Values $key }}
{{- $images = append $images (dict "repository" $c.image "registry" "" "key" (printf "%s[%d].image" $key $i) "registryKey" "global.imageRegistry") }}
{{- end }}
{{- end }}
{{- range $images }}
{{- $registry := $global | default .registry | trimSuffix "/" }}
{{- $source := ternary "global.imageRegistry" .registryKey (ne $global "") }}
{{- if and $registry (not (hasPrefix (printf "%s/" $registry) .repository)) (include "user-service.imageNamesRegistry" .repository) }}
{{ printf "%s %q names another registry than %s %q: give the name without a registry (it is pulled from %s), or prefix it with %s/" .key .repository $source $registry $registry $registry }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Names in the API pods that the API server would reject or that would shadow the chart's own:
volumes, mount paths, container names, a restartPolicy on a sidecar.
*/}}
{{- define "user-service.validateValues.apiPods" -}}
{{- $volumes := list "tmp" }}
{{- $paths := list "/tmp" }}
{{- if include "user-service.database.caVolumeSource" . }}
{{- $volumes = append $volumes "database-ca" }}
{{- $paths = append $paths (include "user-service.database.caDir" .) }}
{{- end }}
{{- $chartVolumes := $volumes }}
{{- range $i, $v := .Values.extraVolumes }}
{{- if has $v.name $volumes }}
{{ printf "extraVolumes[%d]: a volume named %q exists already (the chart's: %s)" $i $v.name (join ", " $chartVolumes) }}
{{- end }}
{{- $volumes = append $volumes $v.name }}
{{- end }}
{{- range $i, $m := .Values.extraVolumeMounts }}
{{- if not (has $m.name $volumes) }}
{{ printf "extraVolumeMounts[%d]: no volume named %q (volumes: %s; add it to extraVolumes)" $i $m.name (join ", " $volumes) }}
{{- end }}
{{- if has (trimSuffix "/" $m.mountPath) $paths }}
{{ printf "extraVolumeMounts[%d]: %s is mounted already" $i $m.mountPath }}
{{- end }}
{{- $paths = append $paths (trimSuffix "/" $m.mountPath) }}
{{- end }}
{{- $containers := list "api" }}
{{- range $key := list "initContainers" "sidecars" }}
{{- range $i, $c := index $.Values $key }}
{{- if has $c.name $containers }}
{{ printf "%s[%d]: a container named %q exists already in the API pods" $key $i $c.name }}
{{- end }}
{{- $containers = append $containers $c.name }}
{{- if and (eq $key "sidecars") (hasKey $c "restartPolicy") }}
{{ printf "sidecars[%d] (%s): restartPolicy is for init containers; a native sidecar goes under initContainers with restartPolicy: Always" $i $c.name }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* A (topologyKey, whenUnsatisfiable) pair twice is refused by the API server. */}}
{{- define "user-service.validateValues.topologySpread" -}}
{{- $seen := list }}
{{- if .Values.topologySpread.enabled }}
{{- $seen = list "kubernetes.io/hostname/ScheduleAnyway" "topology.kubernetes.io/zone/ScheduleAnyway" }}
{{- end }}
{{- range $i, $c := .Values.topologySpreadConstraints }}
{{- $pair := printf "%s/%s" $c.topologyKey $c.whenUnsatisfiable }}
{{- if has $pair $seen }}
{{ printf "topologySpreadConstraints[%d]: topologyKey %s with whenUnsatisfiable %s is there already (topologySpread.enabled adds one per node and zone, ScheduleAnyway: set it to false to have only yours)" $i $c.topologyKey $c.whenUnsatisfiable }}
{{- end }}
{{- $seen = append $seen $pair }}
{{- end }}
{{- end }}

{{/*
Extra pod labels must not be one of the chart's own labels of that part (selectors of the
Deployment, Services, PDB and NetworkPolicies depend on them, and a repeated key is invalid
YAML); extra annotations must not repeat one the chart sets on that pod (the lists name those
of templates/api/deployment.yaml and templates/tests/pod.yaml).
*/}}
{{- define "user-service.validateValues.podMetadata" -}}
{{- $api := list "checksum/config" "checksum/postgresql-secret" "checksum/cnpg-secret" "checksum/auth-secret" }}
{{- if .Values.metrics.scrapeAnnotations }}
{{- $api = concat $api (list "prometheus.io/scrape" "prometheus.io/port" "prometheus.io/path") }}
{{- end }}
{{- $tests := list "helm.sh/hook" "helm.sh/hook-weight" "helm.sh/hook-delete-policy" "checkov.io/skip1" "checkov.io/skip2" }}
{{- range list (list "api" "podLabels" .Values.podLabels "podAnnotations" .Values.podAnnotations $api) (list "migration" "migration.podLabels" .Values.migration.podLabels "migration.podAnnotations" .Values.migration.podAnnotations (list)) (list "tests" "tests.podLabels" .Values.tests.podLabels "tests.podAnnotations" .Values.tests.podAnnotations $tests) }}
{{- $component := index . 0 }}
{{- $labelsKey := index . 1 }}
{{- $own := include "user-service.labels" (dict "ctx" $ "component" $component) | fromYaml }}
{{- range $name, $_ := index . 2 }}
{{- if hasKey $own $name }}
{{ printf "%s: %q is one of the chart's own labels (selectors depend on them): choose another name" $labelsKey $name }}
{{- end }}
{{- end }}
{{- $annotationsKey := index . 3 }}
{{- $reserved := index . 5 }}
{{- range $name, $_ := index . 4 }}
{{- if has $name $reserved }}
{{ printf "%s: %q is set by the chart on this pod: choose another annotation" $annotationsKey $name }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Extra env must not set a variable the chart sets: the later of two entries silently wins in
the kubelet, so a value would bypass its values key and the checks above.
*/}}
{{- define "user-service.validateValues.env" -}}
{{- range list (list "extraEnv" .Values.extraEnv (include "user-service.api.reservedEnv" . | fromJsonArray)) (list "migration.extraEnv" .Values.migration.extraEnv (include "user-service.migration.reservedEnv" . | fromJsonArray)) }}
{{- $key := index . 0 }}
{{- $reserved := index . 2 }}
{{- range $i, $entry := index . 1 }}
{{- if has $entry.name $reserved }}
{{ printf "%s[%d]: %s is set by the chart: use its values key (config.*, externalDatabase.*, auth.*, metrics.port; see values.yaml)" $key $i $entry.name }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The latency SLO counts the requests slower than its threshold as all requests minus one bucket
of the duration histogram, so the threshold must be one of its boundaries (_metrics.tpl lists
them, as service/metrics.py defines them).
*/}}
{{- define "user-service.validateValues.metrics" -}}
{{- if not (include "user-service.metrics.latencyBucket" .) }}
{{ printf "metrics.prometheusRule.latency.thresholdSeconds (%v) is not a bucket boundary of user_service_http_request_duration_seconds, so no bucket counts the requests within it: use one of %s" .Values.metrics.prometheusRule.latency.thresholdSeconds (include "user-service.metrics.latencyBuckets" . | fromJsonArray | join ", ") }}
{{- end }}
{{- $own := include "user-service.labels" (dict "ctx" $ "component" "metrics") | fromYaml }}
{{- if hasKey $own .Values.metrics.dashboard.labelKey }}
{{ printf "metrics.dashboard.labelKey: %q is one of the chart's own labels: use the label your Grafana sidecar watches (grafana_dashboard by default)" .Values.metrics.dashboard.labelKey }}
{{- end }}
{{- end }}

{{- define "user-service.validateValues.tracing" -}}
{{- if and .Values.tracing.enabled (not .Values.tracing.endpoint) }}
tracing.enabled=true needs tracing.endpoint, the collector's OTLP/HTTP base URL (e.g. http://otel-collector.observability:4318)
{{- end }}
{{- end }}
