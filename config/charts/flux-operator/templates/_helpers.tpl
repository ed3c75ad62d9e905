{{/* Components, in order; each is rendered when <component>.enabled. */}}
{{- define "flux-operator.components" -}}
installer reporter exporter web
{{- end }}

{{/* Labels of a component's objects: (list $ "reporter"). */}}
{{- define "flux-operator.labels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: flux-operator
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/version: {{ $.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $.Chart.Name $.Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Labels common to the chart's shared objects (Service, monitoring). */}}
{{- define "flux-operator.commonLabels" -}}
app.kubernetes.io/name: flux-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The image of a binary: dict "root" $ "component" "installer|reporter|exporter|web". */}}
{{- define "flux-operator.image" -}}
{{- $v := .root.Values.image -}}
{{- $digest := index ($v.digest | default dict) .component -}}
{{- $app := .root.Chart.AppVersion -}}
{{- if regexMatch "^[0-9]+[.]" $app }}{{ $app = printf "v%s" $app }}{{ end -}}
{{ $v.repository }}-{{ .component }}{{ if $digest }}@{{ $digest }}{{ else }}:{{ $v.tag | default $app }}{{ end }}
{{- end }}
