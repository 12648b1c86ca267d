{{/*
Shared helpers. Object names are fixed ("trademesh-<component>"), not prefixed with the release name: the
Envoy configuration shipped in files/envoy.yaml is generated ahead of time and names its upstreams
(trademesh-<svc>-headless), so one release per namespace (docs/decisions/0040-helm-chart-shape.md).
*/}}

{{- define "trademesh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "trademesh.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name of a component's objects: trademesh-auth, trademesh-gateway, ... */}}
{{- define "trademesh.componentName" -}}
{{- printf "trademesh-%s" . }}
{{- end }}

{{/* Labels every object carries. Call with (dict "root" $ "component" "auth"). */}}
{{- define "trademesh.labels" -}}
helm.sh/chart: {{ include "trademesh.chart" .root }}
{{ include "trademesh.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: trademesh
{{- end }}

{{/* Labels that select a component's pods. */}}
{{- define "trademesh.selectorLabels" -}}
app.kubernetes.io/name: {{ include "trademesh.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
A component's image: <image.repository>-<component> (the Dockerfile's target of that name), by digest when
<component>.image.digest is set (the CI workflow prints them), else by tag. Call with
(dict "root" $ "component" "auth"); jobs use their service's image, the helm test pod auth's.
*/}}
{{- define "trademesh.image" -}}
{{- $root := .root }}
{{- $image := (index $root.Values .component).image | default dict }}
{{- $repository := $image.repository | default (printf "%s-%s" $root.Values.image.repository .component) }}
{{- if $image.digest }}
{{- printf "%s@%s" $repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $repository ($root.Values.image.tag | default $root.Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
gRPC target other services use to reach a service: its headless Service through gRPC's DNS resolver, so
the caller's round-robin channel (trademesh.services.core.channels) spreads calls over every ready pod and picks
up new ones when the servers age their connections out (docs/decisions/0043-scaling-and-balancing.md).
*/}}
{{- define "trademesh.grpcTarget" -}}
{{- printf "dns:///trademesh-%s-headless:%d" .name (int .root.Values.grpcPort) }}
{{- end }}

{{/* The pod-level securityContext of every trademesh pod. */}}
{{- define "trademesh.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The container-level securityContext of every container. */}}
{{- define "trademesh.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Seconds Kubernetes waits after SIGTERM: preStop pause + the app's drain grace + a margin. */}}
{{- define "trademesh.terminationGraceSeconds" -}}
{{- add (int .Values.preStopSleepSeconds) (int (ceil .Values.shutdownGraceSeconds)) (int .Values.terminationMarginSeconds) }}
{{- end }}

{{/*
Checks JSON schema cannot express. Every template that renders a component includes it, so a bad value
fails `helm install`/`helm template` with one readable message.
*/}}
{{- define "trademesh.validate" -}}
{{- range $name := list "auth" "trade" "sync" "marketdata" "analytics" "notifications" "gateway" }}
{{- $svc := index $.Values $name }}
{{- if and $svc.create $svc.autoscaling.enabled }}
{{- if gt (int $svc.autoscaling.minReplicas) (int $svc.autoscaling.maxReplicas) }}
{{- fail (printf "%s.autoscaling: maxReplicas (%d) must be >= minReplicas (%d)" $name (int $svc.autoscaling.maxReplicas) (int $svc.autoscaling.minReplicas)) }}
{{- end }}
{{- end }}
{{- end }}
{{- $jwt := .Values.secrets.jwt }}
{{- if and .Values.auth.create (not $jwt.existingSecret) (not $jwt.keys) }}
{{- fail "secrets.jwt: the auth service needs its signing keys: set secrets.jwt.existingSecret (a Secret holding the key files) or secrets.jwt.keys (file name -> PEM)" }}
{{- end }}
{{- if and .Values.auth.create (not $jwt.keyFiles) }}
{{- fail "secrets.jwt.keyFiles: list at least one key file (the first signs new tokens)" }}
{{- end }}
{{- if and (not $jwt.existingSecret) $jwt.keys }}
{{- range $file := $jwt.keyFiles }}
{{- if not (hasKey $jwt.keys $file) }}
{{- fail (printf "secrets.jwt.keyFiles: %q is not in secrets.jwt.keys" $file) }}
{{- end }}
{{- end }}
{{- end }}
{{- $broker := .Values.secrets.brokerCredentials }}
{{- if and .Values.sync.create (not $broker.existingSecret) (not $broker.key) }}
{{- fail "secrets.brokerCredentials: the sync service needs the broker-credential encryption key: set secrets.brokerCredentials.existingSecret or secrets.brokerCredentials.key" }}
{{- end }}
{{- $serviceToken := .Values.secrets.syncServiceToken }}
{{- if and .Values.sync.create (not $serviceToken.existingSecret) (not $serviceToken.token) }}
{{- fail "secrets.syncServiceToken: the sync service needs a service token for the trade service: set secrets.syncServiceToken.existingSecret or secrets.syncServiceToken.token (python -m trademesh.services.auth.admin issue-service-token --name sync)" }}
{{- end }}
{{- $tokens := .Values.secrets.tradeTokens }}
{{- if and (or .Values.trade.create .Values.marketdata.create) (not $tokens.existingSecret) (not $tokens.secret) }}
{{- fail "secrets.tradeTokens: the trade and marketdata services need their page-token key: set secrets.tradeTokens.existingSecret or secrets.tradeTokens.secret" }}
{{- end }}
{{- range $store := list "mongodb" "redis" }}
{{- $db := index $.Values $store }}
{{- if and (not $db.inCluster.enabled) (not $db.existingSecret) (not $db.url) }}
{{- fail (printf "%s: set %s.existingSecret (a Secret holding the URL), %s.url, or %s.inCluster.enabled=true (trials only)" $store $store $store $store) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The Secret a value comes from: the chart's own (named `default`) when the value is given inline, else the
operator's existingSecret. Call with (dict "inline" <value> "existing" <name> "default" <name>).
*/}}
{{- define "trademesh.secretName" -}}
{{- if .inline }}{{ .default }}{{ else }}{{ .existing | default .default }}{{ end }}
{{- end }}

{{/* An env entry for a connection URL: the in-chart trial server, or a Secret. */}}
{{- define "trademesh.urlEnv" -}}
{{- $db := index .root.Values .store }}
- name: {{ .env }}
{{- if $db.inCluster.enabled }}
  value: {{ printf .inClusterFormat (printf "trademesh-%s" .store) | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ include "trademesh.secretName" (dict "inline" $db.url "existing" $db.existingSecret "default" (printf "trademesh-%s-url" .store)) }}
      key: {{ if $db.url }}url{{ else }}{{ $db.existingSecretKey }}{{ end }}
{{- end }}
{{- end }}

{{/* Environment every trademesh process gets (services and jobs). */}}
{{- define "trademesh.commonEnv" -}}
- name: TRADEMESH_GRPC_PORT
  value: {{ .Values.grpcPort | quote }}
{{- if .Values.metrics.enabled }}
- name: TRADEMESH_METRICS_PORT
  value: {{ .Values.metrics.port | quote }}
{{- end }}
{{ include "trademesh.urlEnv" (dict "root" . "store" "mongodb" "env" "TRADEMESH_MONGO_URL" "inClusterFormat" "mongodb://%s:27017/") | trim }}
{{ include "trademesh.urlEnv" (dict "root" . "store" "redis" "env" "TRADEMESH_REDIS_URL" "inClusterFormat" "redis://%s:6379/0") | trim }}
{{- end }}

{{/* TRADEMESH_TOKEN_SECRET: the page/resume-token HMAC key of trade and marketdata (GetBars). Call with $. */}}
{{- define "trademesh.tokenSecretEnv" -}}
- name: TRADEMESH_TOKEN_SECRET
  valueFrom:
    secretKeyRef:
      {{- $tokens := .Values.secrets.tradeTokens }}
      name: {{ include "trademesh.secretName" (dict "inline" $tokens.secret "existing" $tokens.existingSecret "default" "trademesh-trade-tokens") }}
      key: {{ if $tokens.secret }}secret{{ else }}{{ $tokens.secretKey }}{{ end }}
{{- end }}

{{/* The SMTP login (notifications.smtp.existingSecret) of the services that send mail: auth and notifications. */}}
{{- define "trademesh.smtpLoginEnv" -}}
{{- with .Values.notifications.smtp.existingSecret }}
- name: TRADEMESH_SMTP_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: username
- name: TRADEMESH_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: password
{{- end }}
{{- end }}

{{/* Environment specific to one component (secrets, key files). Call with (dict "root" $ "name" "auth"). */}}
{{- define "trademesh.serviceEnv" -}}
{{- $root := .root }}
{{- if eq .name "auth" }}
{{- $files := list }}
{{- range $root.Values.secrets.jwt.keyFiles }}{{ $files = append $files (printf "/var/run/secrets/trademesh/jwt/%s" .) }}{{ end }}
- name: TRADEMESH_SIGNING_KEY_FILES
  value: {{ join "," $files | quote }}
{{- include "trademesh.smtpLoginEnv" $root }}
{{- else if eq .name "trade" }}
{{ include "trademesh.tokenSecretEnv" $root }}
{{- else if eq .name "sync" }}
- name: TRADEMESH_BROKER_CREDENTIALS_KEY
  valueFrom:
    secretKeyRef:
      {{- $broker := $root.Values.secrets.brokerCredentials }}
      name: {{ include "trademesh.secretName" (dict "inline" $broker.key "existing" $broker.existingSecret "default" "trademesh-broker-credentials") }}
      key: {{ if $broker.key }}key{{ else }}{{ $broker.secretKey }}{{ end }}
{{- $serviceToken := $root.Values.secrets.syncServiceToken }}
- name: TRADEMESH_SERVICE_TOKEN_FILE
  value: /var/run/secrets/trademesh/service-token/{{ if $serviceToken.token }}token{{ else }}{{ $serviceToken.secretKey }}{{ end }}
{{- if $root.Values.cronJobs.syncSchedule.enabled }}
# The CronJob schedules; the replicas only work the queue.
- name: TRADEMESH_SCHEDULER_ENABLED
  value: "false"
{{- end }}
{{- else if eq .name "notifications" }}
{{ include "trademesh.tokenSecretEnv" $root }}
{{- if $root.Values.analytics.create }}
# P&L guardrails (decision 0300): analytics' WatchPnl read on behalf of each guarded user.
- name: TRADEMESH_ANALYTICS_TARGET
  value: {{ include "trademesh.grpcTarget" (dict "root" $root "name" "analytics") | quote }}
- name: TRADEMESH_SERVICE_TOKEN_FILE
  value: /var/run/secrets/trademesh/service-token/{{ $root.Values.secrets.notificationsServiceToken.secretKey }}
{{- end }}
{{- $hooks := $root.Values.secrets.webhookSecrets }}
{{- if or $hooks.key $hooks.existingSecret }}
- name: TRADEMESH_WEBHOOK_SECRETS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "trademesh.secretName" (dict "inline" $hooks.key "existing" $hooks.existingSecret "default" "trademesh-webhook-secrets") }}
      key: {{ if $hooks.key }}key{{ else }}{{ $hooks.secretKey }}{{ end }}
{{- end }}
{{- $vapid := $root.Values.secrets.vapid }}
{{- if or $vapid.privateKey $vapid.existingSecret }}
- name: TRADEMESH_VAPID_PRIVATE_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "trademesh.secretName" (dict "inline" $vapid.privateKey "existing" $vapid.existingSecret "default" "trademesh-vapid") }}
      key: {{ if $vapid.privateKey }}private-key{{ else }}{{ $vapid.secretKey }}{{ end }}
{{- end }}
{{- $twilio := $root.Values.secrets.twilio }}
{{- if or $twilio.authToken $twilio.existingSecret }}
- name: TRADEMESH_TWILIO_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "trademesh.secretName" (dict "inline" $twilio.authToken "existing" $twilio.existingSecret "default" "trademesh-twilio") }}
      key: {{ if $twilio.authToken }}auth-token{{ else }}{{ $twilio.secretKey }}{{ end }}
{{- end }}
{{- include "trademesh.smtpLoginEnv" $root }}
{{- else if eq .name "marketdata" }}
{{ include "trademesh.tokenSecretEnv" $root }}
{{- with $root.Values.marketdata.kite.existingSecret }}
- name: TRADEMESH_KITE_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: api-key
- name: TRADEMESH_KITE_ACCESS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: access-token
{{- end }}
{{- end }}
{{- end }}

{{/* envFrom of a component: the shared settings ConfigMap, then its own. */}}
{{- define "trademesh.envFrom" -}}
- configMapRef:
    name: trademesh-config
- configMapRef:
    name: {{ include "trademesh.componentName" .name }}
{{- end }}

{{/* Annotations that roll a component's pods when its settings change. */}}
{{- define "trademesh.configChecksums" -}}
checksum/config: {{ include (print .root.Template.BasePath "/config.yaml") .root | sha256sum }}
{{- end }}

{{/*
Annotation that rolls a component's pods when a Secret it reads changes: a checksum over the inline values
of the chart's own Secrets and the data of the operator's existing Secrets (read with `lookup` at install
and upgrade; empty with `helm template`). A Secret changed outside Helm rolls the pods at the next
`helm upgrade` (docs/kubernetes.md). The sync service token is left out: the pods re-read it (rotation).
Call with (dict "root" $ "name" "auth").
*/}}
{{- define "trademesh.secretChecksum" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $refs := list }}
{{- range $store := list "mongodb" "redis" }}
{{- $db := index $v $store }}
{{- if not $db.inCluster.enabled }}
{{- $refs = append $refs (dict "inline" $db.url "existing" $db.existingSecret) }}
{{- end }}
{{- end }}
{{- if eq .name "auth" }}
{{- $refs = append $refs (dict "inline" $v.secrets.jwt.keys "existing" $v.secrets.jwt.existingSecret) }}
{{- with $v.notifications.smtp.existingSecret }}
{{- $refs = append $refs (dict "inline" "" "existing" .) }}
{{- end }}
{{- else if eq .name "trade" }}
{{- $refs = append $refs (dict "inline" $v.secrets.tradeTokens.secret "existing" $v.secrets.tradeTokens.existingSecret) }}
{{- else if eq .name "sync" }}
{{- $refs = append $refs (dict "inline" $v.secrets.brokerCredentials.key "existing" $v.secrets.brokerCredentials.existingSecret) }}
{{- else if eq .name "notifications" }}
{{- $refs = append $refs (dict "inline" $v.secrets.tradeTokens.secret "existing" $v.secrets.tradeTokens.existingSecret) }}
{{- if $v.analytics.create }}
{{- $refs = append $refs (dict "inline" "" "existing" $v.secrets.notificationsServiceToken.existingSecret) }}
{{- end }}
{{- $refs = append $refs (dict "inline" $v.secrets.webhookSecrets.key "existing" $v.secrets.webhookSecrets.existingSecret) }}
{{- $refs = append $refs (dict "inline" $v.secrets.vapid.privateKey "existing" $v.secrets.vapid.existingSecret) }}
{{- $refs = append $refs (dict "inline" $v.secrets.twilio.authToken "existing" $v.secrets.twilio.existingSecret) }}
{{- with $v.notifications.smtp.existingSecret }}
{{- $refs = append $refs (dict "inline" "" "existing" .) }}
{{- end }}
{{- else if eq .name "marketdata" }}
{{- with $v.marketdata.kite.existingSecret }}
{{- $refs = append $refs (dict "inline" "" "existing" .) }}
{{- end }}
{{- end }}
{{- $parts := list }}
{{- range $refs }}
{{- if .inline }}
{{- $parts = append $parts (toJson .inline) }}
{{- else if .existing }}
{{- $parts = append $parts (toJson ((lookup "v1" "Secret" $root.Release.Namespace .existing).data | default dict)) }}
{{- end }}
{{- end }}
checksum/secrets: {{ join "\n" $parts | sha256sum }}
{{- end }}

{{/* Volumes every trademesh pod has: a writable /tmp on a read-only root filesystem. */}}
{{- define "trademesh.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}
