{{/* Names */}}
{{- define "brain.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "brain.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "brain.pgName" -}}{{ include "brain.fullname" . }}-pg{{- end -}}
{{- define "brain.redisName" -}}{{ include "brain.fullname" . }}-redis{{- end -}}
{{- define "brain.redisHeadless" -}}{{ include "brain.fullname" . }}-redis-headless{{- end -}}
{{- define "brain.secretName" -}}{{ default (include "brain.fullname" .) .Values.secrets.existingSecret }}{{- end -}}
{{- define "brain.objectStoreName" -}}{{ default (printf "%s-store" (include "brain.pgName" .)) .Values.postgresql.cnpg.backup.objectStoreName }}{{- end -}}

{{- define "brain.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "brain.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels */}}
{{- define "brain.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "brain.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: brain
{{- end -}}

{{- define "brain.selectorLabels" -}}
app.kubernetes.io/name: {{ include "brain.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Images: pinned by tag (schema rejects `latest`), optional digest */}}
{{- define "brain.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if eq $tag "latest" -}}{{- fail "image.tag must be pinned, not latest" -}}{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "brain.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}
{{- define "brain.securityContext" -}}
{{ toYaml .Values.securityContext }}
{{- end -}}

{{/* Redis URL of the service in cluster mode (any node; the client discovers the others) */}}
{{- define "brain.redisUrl" -}}
redis://:$(REDIS_PASSWORD)@{{ include "brain.redisName" . }}-0.{{ include "brain.redisHeadless" . }}.{{ .Release.Namespace }}.svc:6379/0
{{- end -}}

{{/* Database environment: the service, the migration Job and the cleanup CronJob */}}
{{- define "brain.databaseEnv" -}}
{{- if eq .Values.postgresql.mode "cnpg" }}
- name: BRAIN_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "brain.pgName" . }}-app
      key: uri
- name: PGUSER
  valueFrom:
    secretKeyRef:
      name: {{ include "brain.pgName" . }}-app
      key: username
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "brain.pgName" . }}-app
      key: password
- name: BRAIN_DATABASE_READ_URLS
  value: "postgresql://$(PGUSER):$(PGPASSWORD)@{{ include "brain.pgName" . }}-ro.{{ .Release.Namespace }}.svc:5432/{{ .Values.postgresql.cnpg.database }}"
{{- else }}
{{- $secret := default (include "brain.fullname" .) .Values.postgresql.external.existingSecret }}
- name: BRAIN_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.postgresql.external.urlKey }}
- name: BRAIN_DATABASE_READ_URLS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.postgresql.external.readUrlsKey }}
      optional: true
{{- end }}
{{- end -}}

{{/* Full environment of the service and the cleanup CronJob */}}
{{- define "brain.env" -}}
{{ include "brain.databaseEnv" . }}
{{- if eq .Values.redis.mode "cluster" }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "brain.secretName" . }}
      key: {{ .Values.secrets.redisPasswordKey }}
- name: BRAIN_REDIS_URL
  value: {{ include "brain.redisUrl" . | quote }}
- name: BRAIN_REDIS_CLUSTER
  value: "true"
{{- else }}
- name: BRAIN_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ default (include "brain.fullname" .) .Values.redis.external.existingSecret }}
      key: {{ .Values.redis.external.urlKey }}
- name: BRAIN_REDIS_CLUSTER
  value: {{ .Values.redis.external.cluster | quote }}
{{- end }}
- name: BRAIN_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "brain.secretName" . }}
      key: {{ .Values.secrets.adminTokenKey }}
- name: BRAIN_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: BRAIN_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if .Values.otel.enabled }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.otel.endpoint | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ .Values.otel.serviceName | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* S3 credentials env of aws-cli (Redis backup) */}}
{{- define "brain.backupEnv" -}}
{{- if not .Values.backup.inheritFromIAMRole }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.backup.credentialsSecret }}
      key: {{ .Values.backup.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.backup.credentialsSecret }}
      key: {{ .Values.backup.secretAccessKeyKey }}
{{- end }}
- name: AWS_DEFAULT_REGION
  value: {{ .Values.backup.region | quote }}
{{- end -}}

{{/*
checkov skips, each with the reason an SRE reviewing the chart would ask for. Argument: a list
of "image", "env", "netpol", "probes".
*/}}
{{- define "brain.checkovSkips" -}}
{{- range . }}
{{- if eq . "image" }}
checkov.io/skip1: "CKV_K8S_43=Images are pinned by version tag; set image.digest (and the Redis and exporter digests) to pin by digest where your registry allows"
checkov.io/skip2: "CKV_K8S_15=Tags are pinned and never reused, so IfNotPresent is safe and spares a registry round trip at every pod start; set image.pullPolicy to Always if your policy requires it"
{{- else if eq . "env" }}
checkov.io/skip3: "CKV_K8S_35=The processes read their configuration from the environment (12-factor); values come from Secrets through secretKeyRef, never from the manifest"
{{- else if eq . "netpol" }}
checkov.io/skip4: "CKV2_K8S_6=A short-lived hook pod (migration, cluster creation, helm test) that only connects out to this release's own services"
{{- else if eq . "probes" }}
checkov.io/skip5: "CKV_K8S_8=A one-shot helm test pod that exits after one request: a liveness probe does not apply"
checkov.io/skip6: "CKV_K8S_9=A one-shot helm test pod that exits after one request: a readiness probe does not apply"
{{- end }}
{{- end }}
{{- end }}
