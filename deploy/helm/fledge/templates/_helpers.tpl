{{/* The release's full name, at most 63 characters. */}}
{{- define "fledge.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "fledge.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fledge.labels" -}}
{{ include "fledge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "fledge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fledge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The project publishes no image: the user pushes one (make image
PUSH=REGISTRY/REPO:TAG) and names it, or the install fails here.
*/}}
{{- define "fledge.image" -}}
{{- $repo := required "image.repository: the project publishes no image; push one with make image PUSH=REGISTRY/REPO:TAG and set image.repository=REGISTRY/REPO (and image.tag or image.digest)" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{ $repo }}@{{ .Values.image.digest }}
{{- else -}}
{{ $repo }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* Settings that cannot work together fail the install with a reason. */}}
{{- define "fledge.validate" -}}
{{- if not (has .Values.store.type (list "sqlite" "postgres")) -}}
{{- fail (printf "store.type: want sqlite or postgres, got %q" .Values.store.type) -}}
{{- end -}}
{{- if and (eq .Values.store.type "sqlite") (gt (int .Values.replicas) 1) -}}
{{- fail (printf "replicas: %d replicas need store.type=postgres; an SQLite store serves one replica" (int .Values.replicas)) -}}
{{- end -}}
{{- if eq .Values.store.type "postgres" -}}
{{- if not .Values.store.postgres.dsnSecret -}}
{{- fail "store.postgres.dsnSecret: name the Secret that holds the postgres:// URL" -}}
{{- end -}}
{{- if not .Values.secretKey.existingSecret -}}
{{- fail "secretKey.existingSecret: a PostgreSQL store is shared by replicas, so they need one key: name the Secret that holds it" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.host: set the console's host name when ingress.enabled is true" -}}
{{- end -}}
{{- end -}}

{{/* The RBAC rules of one managed namespace. */}}
{{- define "fledge.namespaceRules" -}}
# Read the namespace and wait for its default ServiceAccount.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get]
# The kinds the artifacts contain: server-side apply (and its dry run),
# read back, watch the rollout, and remove what a release no longer has.
{{- range .Values.rbac.applyKinds }}
- apiGroups: {{ toJson .apiGroups }}
  resources: {{ toJson .resources }}
  verbs: [get, list, watch, create, patch, delete]
{{- end }}
# Rollout progress and the summary of a namespace.
- apiGroups: [""]
  resources: [pods, events]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [replicasets]
  verbs: [get, list, watch]
# Which pods a Service sends to, before and after a promotion.
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
{{- if .Values.rbac.ingress }}
# NGINX Ingress canary routing.
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, create, patch, delete]
{{- end }}
{{- if .Values.rbac.gatewayAPI }}
# Gateway API routing: weighted HTTPRoutes, and ReferenceGrants that let a
# route in production send to the canary's namespace.
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes, referencegrants]
  verbs: [get, list, watch, create, patch, delete]
{{- end }}
{{- end -}}
