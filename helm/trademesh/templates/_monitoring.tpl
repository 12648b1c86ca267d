{{/*
Envoy's stats for the scraper without exposing the admin API: a bootstrap fragment that Envoy merges into
files/envoy.yaml (--config-yaml appends listeners and clusters), adding a listener on gateway.statsPort
whose only route is GET /stats/prometheus, proxied to the loopback-only admin port. Everything else there
(drain, quitquitquit, runtime, config dumps) answers 404.
*/}}
{{- define "trademesh.gatewayStatsBootstrap" -}}
{{- $gw := .Values.gateway -}}
static_resources:
  listeners:
    - name: stats
      address:
        socket_address: {address: 0.0.0.0, port_value: {{ $gw.statsPort }}}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: stats
                codec_type: AUTO
                route_config:
                  name: stats
                  virtual_hosts:
                    - name: stats
                      domains: ["*"]
                      routes:
                        - match:
                            path: /stats/prometheus
                            headers:
                              - name: ":method"
                                string_match: {exact: GET}
                          route: {cluster: envoy_admin, timeout: 5s}
                        - match: {prefix: /}
                          direct_response: {status: 404}
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    - name: envoy_admin
      type: STATIC
      connect_timeout: 1s
      load_assignment:
        cluster_name: envoy_admin
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: {address: 127.0.0.1, port_value: {{ $gw.adminPort }}}
{{- end }}

{{/*
prometheus-adapter rules for the HPAs' per-pod custom metrics. The `namespace` and `pod` labels are the
ones Prometheus adds to a pod's series (PodMonitor, or annotation-based scraping with the usual relabelling).
The gateway's connections are those of its gRPC listener (stat prefix `ingress` in files/envoy.yaml), not
of the stats listener.
*/}}
{{- define "trademesh.prometheusAdapterRules" -}}
rules:
  - seriesQuery: 'trademesh_marketdata_active_streams{namespace!="",pod!=""}'
    resources:
      overrides:
        namespace: {resource: namespace}
        pod: {resource: pod}
    name:
      matches: ^trademesh_marketdata_active_streams$
      as: {{ .Values.marketdata.autoscaling.streamsMetric.name }}
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
  - seriesQuery: 'envoy_http_downstream_cx_active{namespace!="",pod!="",envoy_http_conn_manager_prefix="ingress"}'
    resources:
      overrides:
        namespace: {resource: namespace}
        pod: {resource: pod}
    name:
      matches: ^envoy_http_downstream_cx_active$
      as: {{ .Values.gateway.autoscaling.connectionsMetric.name }}
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>,envoy_http_conn_manager_prefix="ingress"}) by (<<.GroupBy>>)'
{{- end }}
