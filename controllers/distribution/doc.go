// Package distribution finds the Flux distribution a FluxInstance installs:
// the manifests tree of each supported Flux release (embedded in the binary,
// a directory given with --manifests-path, or an OCI artifact), the release a
// version constraint resolves to, and the image list of each variant.
//
// A distribution tree has the layout of the Flux Operator's manifests
// artifact:
//
//	flux/<vX.Y.Z>/<component>.yaml      CRDs, ServiceAccount, Service(s), Deployment
//	flux/<vX.Y.Z>/policies.yaml         NetworkPolicies
//	flux/<vX.Y.Z>/rbac.yaml             ResourceQuota, ClusterRoles, ClusterRoleBindings
//	flux-images/<vX.Y.Z>/<variant>.yaml a kustomize images list
//	flux-images/VERSION                 the newest release of the tree
package distribution
