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

{{/*
The role the service works as: each of its connections runs `SET ROLE brain_service`
(service/brain/kit/db.py), so the user of its URLs is that role or a member of it. It owns nothing
and has no BYPASSRLS: row-level security holds (migration 0004 grants it the tables). Fixed: the
service's code names it.
*/}}
{{- define "brain.serviceRole" -}}brain_service{{- end -}}
{{/* The basic-auth Secret of that role in cnpg mode (templates/pg-service-secret.yaml) */}}
{{- define "brain.pgServiceSecretName" -}}{{ include "brain.pgName" . }}-brain-service{{- end -}}
{{- define "brain.pgExternalSecret" -}}{{ default (include "brain.fullname" .) .Values.postgresql.external.existingSecret }}{{- end -}}

{{/*
"true" when the live Cluster (argument: what lookup found, empty on a first install and in
`helm template`) exists but does not declare the managed role brain_service yet: the upgrade from
a chart version without it. Its pre-upgrade hooks run before the Cluster is updated, so the role
does not exist then, and the owner cannot create it (no CREATEROLE): see migrate-job.yaml.
*/}}
{{- define "brain.lacksServiceRole" -}}
{{- $declared := false }}
{{- range (dig "spec" "managed" "roles" list .) }}
{{- if eq (get . "name") (include "brain.serviceRole" .) }}{{ $declared = true }}{{ end }}
{{- end }}
{{- if and . (not $declared) }}true{{ end }}
{{- end -}}

{{/*
Database environment of the migrations (`brain migrate`: the hook Job and the init container of
the service pods): the owner of the database, who creates the tables and grants them to
brain_service. CNPG: the `<cluster>-app` Secret; external: `postgresql.external.urlKey`.
*/}}
{{- define "brain.ownerDatabaseEnv" -}}
{{- if eq .Values.postgresql.mode "cnpg" }}
- name: BRAIN_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "brain.pgName" . }}-app
      key: uri
{{- else }}
- name: BRAIN_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "brain.pgExternalSecret" . }}
      key: {{ .Values.postgresql.external.urlKey }}
{{- end }}
{{- end -}}

{{/*
Database environment of the service and the cleanup CronJob: the role brain_service. CNPG: its
managed role's Secret (username, password), the same -rw host and database as the owner's `uri`,
reads through -ro. The password is generated alphanumeric (randAlphaNum, pg-service-secret.yaml),
so $(PGPASSWORD) goes into the URLs as it is, with no percent-encoding; a password set by hand
must stay alphanumeric too. External: `postgresql.external.serviceUrlKey`, or `urlKey` when empty.
*/}}
{{- define "brain.serviceDatabaseEnv" -}}
{{- if eq .Values.postgresql.mode "cnpg" }}
- name: PGUSER
  valueFrom:
    secretKeyRef:
      name: {{ include "brain.pgServiceSecretName" . }}
      key: username
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "brain.pgServiceSecretName" . }}
      key: password
- name: BRAIN_DATABASE_URL
  value: "postgresql://$(PGUSER):$(PGPASSWORD)@{{ include "brain.pgName" . }}-rw.{{ .Release.Namespace }}.svc:5432/{{ .Values.postgresql.cnpg.database }}"
- name: BRAIN_DATABASE_READ_URLS
  value: "postgresql://$(PGUSER):$(PGPASSWORD)@{{ include "brain.pgName" . }}-ro.{{ .Release.Namespace }}.svc:5432/{{ .Values.postgresql.cnpg.database }}"
{{- else }}
{{- if and .Values.postgresql.external.serviceUrl (not .Values.postgresql.external.serviceUrlKey) }}
{{- fail "postgresql.external.serviceUrl needs postgresql.external.serviceUrlKey (the key it is stored under)" }}
{{- end }}
- name: BRAIN_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "brain.pgExternalSecret" . }}
      key: {{ default .Values.postgresql.external.urlKey .Values.postgresql.external.serviceUrlKey }}
- name: BRAIN_DATABASE_READ_URLS
  valueFrom:
    secretKeyRef:
      name: {{ include "brain.pgExternalSecret" . }}
      key: {{ .Values.postgresql.external.readUrlsKey }}
      optional: true
{{- end }}
{{- end -}}

{{/* Full environment of the service and the cleanup CronJob */}}
{{/* The embedding model's settings: the service's, and `brain migrate`'s, which builds the
configured space's HNSW index (the API key is the service's alone). */}}
{{- define "brain.embeddingsEnv" -}}
- name: BRAIN_EMBEDDINGS
  value: {{ .Values.embeddings.provider | quote }}
{{- with .Values.embeddings.model }}
- name: BRAIN_EMBEDDINGS_MODEL
  value: {{ . | quote }}
{{- end }}
{{- if .Values.embeddings.dimensions }}
- name: BRAIN_EMBEDDINGS_DIMENSIONS
  value: {{ .Values.embeddings.dimensions | int | quote }}
{{- end }}
{{- if eq .Values.embeddings.provider "openai" }}
- name: BRAIN_EMBEDDINGS_URL
  value: {{ .Values.embeddings.url | quote }}
- name: BRAIN_EMBEDDINGS_TIMEOUT_SECONDS
  value: {{ .Values.embeddings.timeoutSeconds | quote }}
{{- end }}
{{- end -}}

{{- define "brain.env" -}}
{{ include "brain.serviceDatabaseEnv" . }}
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
{{ include "brain.embeddingsEnv" . }}
{{- with .Values.embeddings.apiKeySecret }}
{{- if eq $.Values.embeddings.provider "openai" }}
- name: BRAIN_EMBEDDINGS_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.embeddings.apiKeyKey }}
{{- end }}
{{- end }}
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
