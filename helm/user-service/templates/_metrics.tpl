{{/*
The metrics part's helpers: the alert rules (templates/metrics/prometheusrule.yaml) and the
Grafana dashboard (templates/metrics/dashboard-configmap.yaml).
*/}}

{{/*
The `le` labels of user_service_http_request_duration_seconds_bucket, exactly as the service
exposes them (service/metrics.py LATENCY_BUCKETS, printed by prometheus-client as Python's repr
of each float: "1.0", never "1"). A latency threshold must be one of them: the share of slower
requests is the count minus one bucket, and a threshold between two boundaries has no bucket.
tests/chart/test_chart_monitoring.py holds this list equal to the service's.
*/}}
{{- define "user-service.metrics.latencyBuckets" -}}
["0.0005", "0.001", "0.002", "0.004", "0.006", "0.008", "0.01", "0.015", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0"]
{{- end }}

{{/*
The bucket boundary equal to metrics.prometheusRule.latency.thresholdSeconds, spelled as the
service spells it; empty when there is none (user-service.validateValues.metrics refuses that).
Compared as numbers, so 1 and "1.0" are the same boundary.
*/}}
{{- define "user-service.metrics.latencyBucket" -}}
{{- $threshold := float64 .Values.metrics.prometheusRule.latency.thresholdSeconds }}
{{- range include "user-service.metrics.latencyBuckets" . | fromJsonArray }}
{{- if eq (float64 .) $threshold }}{{ . }}{{ end }}
{{- end }}
{{- end }}

{{/*
PromQL label matchers that select this release's series: metrics.prometheusRule.seriesSelector,
or what the chart's ServiceMonitor gives them (job is the <fullname>-metrics Service's name).
*/}}
{{- define "user-service.metrics.seriesSelector" -}}
{{- .Values.metrics.prometheusRule.seriesSelector | default (printf "job=%q, namespace=%q" (printf "%s-metrics" (include "user-service.fullname" .)) .Release.Namespace) }}
{{- end }}

{{/* Where each alert's runbook_url points, before its #anchor: docs/runbook.md under the chart's home. */}}
{{- define "user-service.metrics.runbookUrl" -}}
{{- .Values.metrics.prometheusRule.runbookUrl | default (printf "%s/blob/main/docs/runbook.md" .Chart.Home) }}
{{- end }}
