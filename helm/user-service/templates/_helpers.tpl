{{/*
Naming, labels, images and the pod pieces every part shares. Each part of the chart has one
name, used alike for its values key, its folder under templates/, its component label and its
helpers: api (the Deployment and what serves it, _api.tpl), cnpg (a CloudNativePG Cluster and
Pooler, _cnpg.tpl), metrics, migration (_migration.tpl), postgresql (the bundled server,
_postgresql.tpl) and tests. "database" is whichever PostgreSQL the app uses, bundled,
CloudNativePG or external (_database.tpl). Values are checked in one place,
user-service.validateValues (_validate.tpl), so no define here fails.
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

{{/* Chart label value: name-version, "+" is not allowed in label values. */}}
{{- define "user-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: the immutable subset (a Deployment's selector cannot change after install),
so nothing here may depend on the chart or app version. The component is the part's name.
Call with (dict "ctx" $ "component" "api"); without a component, the labels select every pod
of the release.
*/}}
{{- define "user-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "user-service.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
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

{{/* Pod-level security context shared by app, Job and test pods. */}}
{{- define "user-service.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{/* Container-level security context shared by app, Job and test containers. */}}
{{- define "user-service.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{/* ---------- Images and registries ---------- */}}

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
in front. A name that already starts with that registry, or names another one, is kept as it is
(user-service.validateValues.images refuses the latter, rather than pulling from a registry the
values did not say).
Call with (dict "ctx" $ "registry" OWN-REGISTRY "repository" NAME "key" "image.repository"
"registryKey" "image.registry").
*/}}
{{- define "user-service.imageRepository" -}}
{{- $global := dig "imageRegistry" "" (.ctx.Values.global | default dict) }}
{{- $registry := $global | default .registry | trimSuffix "/" }}
{{- if not $registry }}
{{- .repository }}
{{- else if hasPrefix (printf "%s/" $registry) .repository }}
{{- .repository }}
{{- else if include "user-service.imageNamesRegistry" .repository }}
{{- .repository }}
{{- else }}
{{- printf "%s/%s" $registry .repository }}
{{- end }}
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

{{/* ---------- Chart-managed Secret values ---------- */}}

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

{{/* ---------- NetworkPolicy ---------- */}}

{{/* A NetworkPolicyPeer (a one-item list) from a location (ingressController, prometheus), or nothing when neither selector is set. */}}
{{- define "user-service.networkPolicy.peer" -}}
{{- $peer := dict }}
{{- with .namespaceSelector }}{{ $_ := set $peer "namespaceSelector" . }}{{ end }}
{{- with .podSelector }}{{ $_ := set $peer "podSelector" . }}{{ end }}
{{- with $peer }}{{ toYaml (list .) }}{{ end }}
{{- end }}
