{{/* Names: the release's prefix for every object, truncated to DNS-label length. */}}
{{- define "order-saga.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "api"), and
"build" for a worker pool of one build (docs/versioning.md). */}}
{{- define "order-saga.selectorLabels" -}}
app.kubernetes.io/name: {{ default .root.Chart.Name .root.Values.nameOverride }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .build }}
order-saga/build: {{ . | quote }}
{{- end }}
{{- end -}}

{{- define "order-saga.labels" -}}
{{ include "order-saga.selectorLabels" . }}
app.kubernetes.io/part-of: order-saga
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* The one image of every process: by digest when given, else by a tag that is never latest. */}}
{{- define "order-saga.image" -}}
{{- $repo := required "image.repository is required (your registry's path to the image)" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag latest moves under running pods and forces a pull on every start: name a version or a digest" -}}
{{- end -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/*
The worker builds that run (Worker Versioning, docs/versioning.md), as a JSON list of
{id, slug, image}: `builds` when given, else one build named for the image's tag. Every
build runs a pool on each queue until it is drained and removed from the list.
*/}}
{{- define "order-saga.builds" -}}
{{- $repo := required "image.repository is required (your registry's path to the image)" .Values.image.repository -}}
{{- $builds := list -}}
{{- $given := .Values.builds -}}
{{- if not $given -}}
{{- $given = list (dict "id" (default .Chart.AppVersion .Values.image.tag) "tag" .Values.image.tag "digest" .Values.image.digest) -}}
{{- end -}}
{{- $slugs := dict -}}
{{- range $given -}}
{{- $id := toString (required "builds: every entry needs an id (its ORDERS_WORKERS__BUILD_ID)" .id) -}}
{{- if not (regexMatch "^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$" $id) -}}
{{- fail (printf "builds: id %q is not a build id (1-63 letters, digits, '.', '-', '_', starting and ending with a letter or digit; ORDERS_WORKERS__BUILD_ID)" $id) -}}
{{- end -}}
{{- $slug := $id | lower | replace "." "-" | replace "_" "-" -}}
{{- if hasKey $slugs $slug -}}
{{- fail (printf "builds: ids %q and %q name the same objects (%s)" (get $slugs $slug) $id $slug) -}}
{{- end -}}
{{- $_ := set $slugs $slug $id -}}
{{- $image := "" -}}
{{- if .digest -}}
{{- $image = printf "%s@%s" $repo .digest -}}
{{- else -}}
{{- $tag := toString (default $id .tag) -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag latest moves under running pods and forces a pull on every start: name a version or a digest" -}}
{{- end -}}
{{- $image = printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- $builds = append $builds (dict "id" $id "slug" $slug "image" $image) -}}
{{- end -}}
{{- toJson $builds -}}
{{- end -}}

{{/* The build new sagas start on: currentBuild, else the last of the builds. */}}
{{- define "order-saga.currentBuild" -}}
{{- $builds := include "order-saga.builds" . | fromJsonArray -}}
{{- $current := (last $builds).id -}}
{{- if .Values.currentBuild -}}
{{- $current = toString .Values.currentBuild -}}
{{- $ids := list -}}
{{- range $builds }}{{ $ids = append $ids .id }}{{ end -}}
{{- if not (has $current $ids) -}}
{{- fail (printf "currentBuild %q is not one of builds (%s): its workers must run before it is promoted" $current (join ", " $ids)) -}}
{{- end -}}
{{- end -}}
{{- $current -}}
{{- end -}}

{{/* Where the Temporal client certificate is mounted in every process. */}}
{{- define "order-saga.temporalTlsDir" -}}/etc/order-saga/temporal-tls{{- end -}}

{{- define "order-saga.checkTemporal" -}}
{{- if and .Values.temporal.mtls.enabled .Values.temporal.apiKey.enabled -}}
{{- fail "temporal.mtls and temporal.apiKey are exclusive: self-hosted mTLS or Temporal Cloud's API key" -}}
{{- end -}}
{{- if .Values.temporal.mtls.enabled -}}
{{- $_ := required "temporal.mtls.existingSecret names the kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt)" .Values.temporal.mtls.existingSecret -}}
{{- $_ := required "temporal.mtls.serverName is the name on the frontend's certificate (processes and KEDA check it)" .Values.temporal.mtls.serverName -}}
{{- end -}}
{{- if .Values.temporal.apiKey.enabled -}}
{{- $_ := required "temporal.apiKey.existingSecret names the Secret holding the API key" .Values.temporal.apiKey.existingSecret -}}
{{- end -}}
{{- end -}}

{{/*
The environment every process reads (config/settings.py), inline rather than from a
ConfigMap: the bootstrap hook runs before a ConfigMap of the release would exist, and a
changed value rolls the pods because it changes their template.
*/}}
{{- define "order-saga.env" -}}
{{- include "order-saga.checkTemporal" . -}}
- {name: ORDERS_ENVIRONMENT, value: production}
- {name: ORDERS_TEMPORAL__ADDRESS, value: {{ .Values.temporal.address | quote }}}
- {name: ORDERS_TEMPORAL__NAMESPACE, value: {{ .Values.temporal.namespace | quote }}}
- {name: ORDERS_TEMPORAL__NAMESPACE_RETENTION_DAYS, value: {{ .Values.temporal.retentionDays | quote }}}
- {name: ORDERS_WORKERS__DEPLOYMENT_NAME, value: {{ .Values.workerDeployment.name | quote }}}
{{- if .Values.temporal.mtls.enabled }}
{{- $dir := include "order-saga.temporalTlsDir" . }}
- {name: ORDERS_TEMPORAL__TLS, value: "true"}
- {name: ORDERS_TEMPORAL__TLS_CLIENT_CERT_PATH, value: {{ printf "%s/tls.crt" $dir }}}
- {name: ORDERS_TEMPORAL__TLS_CLIENT_KEY_PATH, value: {{ printf "%s/tls.key" $dir }}}
- {name: ORDERS_TEMPORAL__TLS_SERVER_CA_PATH, value: {{ printf "%s/ca.crt" $dir }}}
- {name: ORDERS_TEMPORAL__TLS_SERVER_NAME, value: {{ .Values.temporal.mtls.serverName | quote }}}
{{- end }}
{{- if .Values.temporal.apiKey.enabled }}
- {name: ORDERS_TEMPORAL__TLS, value: "true"}
- name: ORDERS_TEMPORAL__API_KEY
  valueFrom:
    secretKeyRef: {name: {{ .Values.temporal.apiKey.existingSecret }}, key: {{ .Values.temporal.apiKey.key }}}
{{- with .Values.temporal.apiKey.serverName }}
- {name: ORDERS_TEMPORAL__TLS_SERVER_NAME, value: {{ . | quote }}}
{{- end }}
{{- end }}
# Workers only read it (the API runs no SDK metrics): the Temporal SDK's own listener.
- {name: ORDERS_TEMPORAL__METRICS_BIND_ADDRESS, value: "0.0.0.0:9465"}
- {name: ORDERS_KAFKA__BOOTSTRAP_SERVERS, value: {{ .Values.kafka.bootstrapServers | quote }}}
- {name: ORDERS_KAFKA__REPLICATION_FACTOR, value: {{ .Values.kafka.replicationFactor | quote }}}
- {name: ORDERS_AUTH__JWKS_URL, value: {{ .Values.auth.jwksUrl | quote }}}
- {name: ORDERS_AUTH__ISSUER, value: {{ .Values.auth.issuer | quote }}}
- {name: ORDERS_AUTH__AUDIENCE, value: {{ .Values.auth.audience | quote }}}
- {name: ORDERS_PAYMENTS__PROVIDER, value: {{ .Values.payments.provider | quote }}}
{{- if .Values.paymentProvider.enabled }}
- {name: ORDERS_PAYMENTS__PROVIDER_URL, value: {{ printf "http://%s-payment-provider:%v" (include "order-saga.fullname" .) .Values.paymentProvider.port | quote }}}
{{- end }}
{{- with .Values.payments.stripeReturnUrl }}
- {name: ORDERS_PAYMENTS__STRIPE_RETURN_URL, value: {{ . | quote }}}
{{- end }}
- {name: ORDERS_NOTIFICATIONS__CHANNEL, value: {{ .Values.notifications.channel | quote }}}
{{- if eq .Values.notifications.channel "smtp" }}
- {name: ORDERS_NOTIFICATIONS__SMTP_HOST, value: {{ .Values.notifications.smtpHost | quote }}}
- {name: ORDERS_NOTIFICATIONS__SMTP_PORT, value: {{ .Values.notifications.smtpPort | quote }}}
- {name: ORDERS_NOTIFICATIONS__SMTP_SENDER, value: {{ .Values.notifications.smtpSender | quote }}}
{{- end }}
{{- if .Values.demoAllowance }}
- {name: ORDERS_DEMO_ALLOWANCE, value: "true"}
{{- end }}
# The codec runs as its own Deployment (codec.yaml), off the public API port.
- {name: ORDERS_API__SERVE_CODEC, value: "false"}
- {name: ORDERS_API__HOST, value: 0.0.0.0}
# The API's containerPort (http), named rather than left to the settings' default: the port
# the pod declares (and the probes and Service target) is the port the process listens on.
- {name: ORDERS_API__PORT, value: "8000"}
- {name: ORDERS_API__CODEC_PORT, value: {{ .Values.codec.port | quote }}}
- {name: ORDERS_TEMPORAL__CODEC__CORS_ORIGINS, value: {{ .Values.codec.corsOrigins | toJson | quote }}}
- {name: ORDERS_TELEMETRY__LOG_JSON, value: "true"}
- {name: ORDERS_TELEMETRY__METRICS_PORT, value: "9464"}
# /healthz, /livez and /readyz of the workers and the relay (the API serves its own on 8000).
- {name: ORDERS_TELEMETRY__PROBE_PORT, value: "8081"}
- {name: ORDERS_TELEMETRY__PROBE_HOST, value: 0.0.0.0}
- {name: ORDERS_WORKERS__GRACEFUL_SHUTDOWN_SECONDS, value: {{ .Values.workers.gracefulShutdownSeconds | quote }}}
{{- range $name, $value := .Values.extraEnv }}
- {name: {{ $name }}, value: {{ $value | quote }}}
{{- end }}
{{- end -}}

{{- define "order-saga.envFrom" -}}
- secretRef:
    name: {{ required "existingSecret names the Secret you created with the service's secrets" .Values.existingSecret }}
{{- end -}}

{{/* Pod Security "restricted", for every container. */}}
{{- define "order-saga.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "order-saga.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
# Mounted Secrets (the Temporal certificate) and volumes are readable by the group.
fsGroup: {{ .Values.podSecurity.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Writable paths (the root filesystem is read-only) and the Temporal certificate. */}}
{{- define "order-saga.volumes" -}}
# Temporary files: the API's metrics of its worker processes (prometheus-client's
# multiprocess folder) and whatever a library writes to $TMPDIR.
- name: tmp
  emptyDir: {sizeLimit: 64Mi}
{{- if .Values.temporal.mtls.enabled }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.mtls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "order-saga.volumeMounts" -}}
- {name: tmp, mountPath: /tmp}
{{- if .Values.temporal.mtls.enabled }}
- {name: temporal-tls, mountPath: {{ include "order-saga.temporalTlsDir" . }}, readOnly: true}
{{- end }}
{{- end -}}

{{/* What every pod shares; call with (dict "root" $ "component" "api"). */}}
{{- define "order-saga.podCommon" -}}
{{- $root := .root -}}
# No process talks to the Kubernetes API.
automountServiceAccountToken: false
securityContext:
  {{- include "order-saga.podSecurityContext" $root | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
# Replicas on different nodes where possible: one node's loss takes one pod of a pool.
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "order-saga.selectorLabels" . | nindent 14 }}
{{- end -}}
