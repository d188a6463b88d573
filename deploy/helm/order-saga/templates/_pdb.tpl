{{/*
A PodDisruptionBudget that lets a drain through: one pod of the component down at a time,
and an unready pod may always be evicted (a pool that is unready for a reason outside it,
say Temporal's frontend down, must not hold every node drain).
*/}}
{{- define "order-saga.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  labels:
    {{- include "order-saga.labels" . | nindent 4 }}
spec:
  maxUnavailable: 1
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "order-saga.selectorLabels" . | nindent 6 }}
{{- end -}}
