{{/*
Everything one gRPC service needs: ServiceAccount, Deployment, Service (ClusterIP, for port-forwards and
tools), headless Service (pod IPs, so Envoy and the other services' round-robin channels balance per
request), HorizontalPodAutoscaler and PodDisruptionBudget. Each templates/<service>.yaml calls it with (dict "root" $ "name" "<service>").
*/}}
{{- define "trademesh.service" -}}
{{- $root := .root }}
{{- $name := .name }}
{{- $svc := index $root.Values $name }}
{{- $fullName := include "trademesh.componentName" $name }}
{{- $labels := dict "root" $root "component" $name }}
{{- include "trademesh.validate" $root }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "trademesh.labels" $labels | nindent 4 }}
  {{- with ($svc.serviceAccount | default dict).annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "trademesh.labels" $labels | nindent 4 }}
spec:
  {{- if not $svc.autoscaling.enabled }}
  replicas: {{ $svc.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "trademesh.selectorLabels" $labels | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "trademesh.labels" $labels | nindent 8 }}
      annotations:
        {{- include "trademesh.configChecksums" (dict "root" $root) | nindent 8 }}
        {{- include "trademesh.secretChecksum" (dict "root" $root "name" $name) | nindent 8 }}
        {{- if $root.Values.metrics.enabled }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $root.Values.metrics.port | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $svc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ $fullName }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ include "trademesh.terminationGraceSeconds" $root }}
      securityContext:
        {{- include "trademesh.podSecurityContext" $root | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: {{ $root.Values.topologySpread.nodes }}
          labelSelector:
            matchLabels:
              {{- include "trademesh.selectorLabels" $labels | nindent 14 }}
        - maxSkew: 1
          topologyKey: topology.kubernetes.io/zone
          whenUnsatisfiable: {{ $root.Values.topologySpread.zones }}
          labelSelector:
            matchLabels:
              {{- include "trademesh.selectorLabels" $labels | nindent 14 }}
      containers:
        - name: {{ $name }}
          image: {{ include "trademesh.image" (dict "root" $root "component" $name) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: [{{ printf "trademesh.services.%s" $name | quote }}]
          ports:
            - name: grpc
              containerPort: {{ $root.Values.grpcPort }}
              protocol: TCP
            {{- if $root.Values.metrics.enabled }}
            - name: metrics
              containerPort: {{ $root.Values.metrics.port }}
              protocol: TCP
            {{- end }}
            {{- if eq $name "auth" }}
            - name: jwks-http
              containerPort: {{ $root.Values.auth.jwksHttpPort }}
              protocol: TCP
            {{- end }}
          env:
            {{- include "trademesh.commonEnv" $root | nindent 12 }}
            {{- with include "trademesh.serviceEnv" (dict "root" $root "name" $name) | trim }}
            {{- . | nindent 12 }}
            {{- end }}
          envFrom:
            {{- include "trademesh.envFrom" (dict "name" $name) | nindent 12 }}
          startupProbe:
            grpc:
              port: {{ $root.Values.grpcPort }}
            periodSeconds: 2
            failureThreshold: {{ $svc.startupFailureThreshold | default 30 }}
          readinessProbe:
            grpc:
              port: {{ $root.Values.grpcPort }}
              # The service's own health status: NOT_SERVING while MongoDB or Redis has failed with an error
              # for TRADEMESH_READINESS_FAILURE_SECONDS or shown no sign of life for TRADEMESH_READINESS_HUNG_SECONDS
              # (slow is not failed). Liveness asks "" (the process only) and never restarts for that.
              service: {{ get (dict "auth" "trademesh.auth.v1.AuthService" "trade" "trademesh.trade.v1.TradeService" "sync" "trademesh.sync.v1.SyncService" "marketdata" "trademesh.marketdata.v1.MarketDataService" "analytics" "trademesh.analytics.v1.AnalyticsService" "notifications" "trademesh.notifications.v1.NotificationsService") $name | required (printf "no gRPC service name for %s" $name) }}
            periodSeconds: 5
            failureThreshold: 2
          livenessProbe:
            grpc:
              port: {{ $root.Values.grpcPort }}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          lifecycle:
            preStop:
              exec:
                # Keep serving while the endpoint is removed from Services and Envoy; SIGTERM comes after.
                command: ["sleep", {{ $root.Values.preStopSleepSeconds | quote }}]
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          securityContext:
            {{- include "trademesh.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if eq $name "auth" }}
            - name: jwt-keys
              mountPath: /var/run/secrets/trademesh/jwt
              readOnly: true
            {{- end }}
            {{- if or (eq $name "sync") (and (eq $name "notifications") $root.Values.analytics.create) }}
            - name: service-token
              mountPath: /var/run/secrets/trademesh/service-token
              readOnly: true
            {{- end }}
      volumes:
        {{- include "trademesh.tmpVolume" $root | nindent 8 }}
        {{- if eq $name "auth" }}
        - name: jwt-keys
          secret:
            {{- $jwt := $root.Values.secrets.jwt }}
            secretName: {{ include "trademesh.secretName" (dict "inline" $jwt.keys "existing" $jwt.existingSecret "default" "trademesh-jwt") }}
            defaultMode: 0440
        {{- end }}
        {{- if eq $name "sync" }}
        - name: service-token
          secret:
            {{- $serviceToken := $root.Values.secrets.syncServiceToken }}
            secretName: {{ include "trademesh.secretName" (dict "inline" $serviceToken.token "existing" $serviceToken.existingSecret "default" "trademesh-sync-service-token") }}
            defaultMode: 0440
        {{- end }}
        {{- if and (eq $name "notifications") $root.Values.analytics.create }}
        {{- /* The P&L guardrails read analytics' WatchPnl with it (decision 0300); optional: without the
        Secret the service starts and the guardrail streams retry until it exists. */}}
        - name: service-token
          secret:
            secretName: {{ $root.Values.secrets.notificationsServiceToken.existingSecret | quote }}
            defaultMode: 0440
            optional: true
        {{- end }}
      {{- with $svc.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "trademesh.labels" $labels | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "trademesh.selectorLabels" $labels | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $root.Values.grpcPort }}
      targetPort: grpc
      protocol: TCP
      appProtocol: kubernetes.io/h2c
    {{- if eq $name "auth" }}
    - name: jwks-http
      port: {{ $root.Values.auth.jwksHttpPort }}
      targetPort: jwks-http
      protocol: TCP
      appProtocol: http
    {{- end }}
---
# Headless: DNS returns every ready pod IP, so Envoy (STRICT_DNS) and the callers' round-robin channels
# (dns:///trademesh-<svc>-headless) balance each request across pods instead of pinning one long-lived
# HTTP/2 connection to one pod as kube-proxy would.
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullName }}-headless
  labels:
    {{- include "trademesh.labels" $labels | nindent 4 }}
spec:
  clusterIP: None
  publishNotReadyAddresses: false
  selector:
    {{- include "trademesh.selectorLabels" $labels | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $root.Values.grpcPort }}
      targetPort: grpc
      protocol: TCP
      appProtocol: kubernetes.io/h2c
    {{- if eq $name "auth" }}
    - name: jwks-http
      port: {{ $root.Values.auth.jwksHttpPort }}
      targetPort: jwks-http
      protocol: TCP
      appProtocol: http
    {{- end }}
{{- if $svc.autoscaling.enabled }}
---
{{ include "trademesh.hpa" (dict "root" $root "name" $name "svc" $svc "labels" $labels) }}
{{- end }}
---
{{ include "trademesh.pdb" (dict "root" $root "name" $name "svc" $svc "labels" $labels) }}
{{- end }}

{{- define "trademesh.hpa" -}}
{{- $svc := .svc }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "trademesh.componentName" .name }}
  labels:
    {{- include "trademesh.labels" .labels | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "trademesh.componentName" .name }}
  minReplicas: {{ $svc.autoscaling.minReplicas }}
  maxReplicas: {{ $svc.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $svc.autoscaling.targetCPUUtilizationPercentage }}
    {{- with $svc.autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- /* Per-pod custom metrics served by a metrics adapter (monitoring.prometheusAdapter): market data's
    open streams, the gateway's open connections. The HPA scales on whichever asks for more pods. */}}
    {{- range $key := list "streamsMetric" "connectionsMetric" }}
    {{- with index $svc.autoscaling $key }}
    {{- if .enabled }}
    - type: Pods
      pods:
        metric:
          name: {{ .name }}
        target:
          type: AverageValue
          averageValue: {{ .averageValue | quote }}
    {{- end }}
    {{- end }}
    {{- end }}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: 0
      policies:
        - type: Percent
          value: 100
          periodSeconds: 30
    scaleDown:
      stabilizationWindowSeconds: {{ $svc.autoscaling.scaleDownStabilizationSeconds }}
      policies:
        - type: Percent
          value: 50
          periodSeconds: 60
{{- end }}

{{- define "trademesh.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "trademesh.componentName" .name }}
  labels:
    {{- include "trademesh.labels" .labels | nindent 4 }}
spec:
  {{- if hasKey .svc.pdb "maxUnavailable" }}
  maxUnavailable: {{ .svc.pdb.maxUnavailable }}
  {{- else }}
  minAvailable: {{ .svc.pdb.minAvailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "trademesh.selectorLabels" .labels | nindent 6 }}
{{- end }}
