// The Flux API modules of Flux v2.8.1, at the versions of the
// github.com/fluxcd/flux2/v2 v2.8.1 go.mod: `make distribution` runs
// controller-gen over their packages to make the CRDs of that release.
module github.com/fluxops/flux-operator/tools/flux/v2.8.1

go 1.27.3

require (
	github.com/fluxcd/helm-controller/api v1.5.1
	github.com/fluxcd/image-automation-controller/api v1.1.0
	github.com/fluxcd/image-reflector-controller/api v1.1.0
	github.com/fluxcd/kustomize-controller/api v1.8.1
	github.com/fluxcd/notification-controller/api v1.8.1
	github.com/fluxcd/source-controller/api v1.8.0
	github.com/fluxcd/source-watcher/api/v2 v2.1.0
)

require (
	github.com/fluxcd/pkg/apis/acl v0.9.0 // indirect
	github.com/fluxcd/pkg/apis/kustomize v1.15.0 // indirect
	github.com/fluxcd/pkg/apis/meta v1.25.0 // indirect
	github.com/fxamacker/cbor/v2 v2.9.0 // indirect
	github.com/go-logr/logr v1.4.3 // indirect
	github.com/json-iterator/go v1.1.12 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.3-0.20250322232337-35a7c28c31ee // indirect
	github.com/x448/float16 v0.8.4 // indirect
	go.yaml.in/yaml/v2 v2.4.3 // indirect
	golang.org/x/net v0.50.0 // indirect
	golang.org/x/text v0.34.0 // indirect
	gopkg.in/inf.v0 v0.9.1 // indirect
	k8s.io/apiextensions-apiserver v0.35.0 // indirect
	k8s.io/apimachinery v0.35.0 // indirect
	k8s.io/klog/v2 v2.130.1 // indirect
	k8s.io/kube-openapi v0.0.0-20250910181357-589584f1c912 // indirect
	k8s.io/utils v0.0.0-20251002143259-bc988d571ff4 // indirect
	sigs.k8s.io/controller-runtime v0.23.1 // indirect
	sigs.k8s.io/json v0.0.0-20250730193827-2d320260d730 // indirect
	sigs.k8s.io/randfill v1.0.0 // indirect
	sigs.k8s.io/structured-merge-diff/v6 v6.3.2-0.20260122202528-d9cc6641c482 // indirect
	sigs.k8s.io/yaml v1.6.0 // indirect
)
