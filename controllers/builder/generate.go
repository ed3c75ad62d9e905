package builder

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// kustomization is what the generator writes as kustomization.yaml.
func newKustomization() *types.Kustomization {
	return &types.Kustomization{TypeMeta: types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind}}
}

func (g *generator) has(c string) bool { return slices.Contains(g.components, c) }

func (g *generator) domain() string { return ClusterDomain(g.spec) }

// ClusterDomain is the instance's cluster DNS domain without a trailing
// dot, cluster.local by default.
func ClusterDomain(spec *apiv1.FluxInstanceSpec) string {
	if c := spec.Cluster; c != nil && strings.TrimSuffix(c.Domain, ".") != "" {
		return strings.TrimSuffix(c.Domain, ".")
	}
	return defaultDomain
}

// NotificationAddress is the event receiver of the notification-controller
// an instance installs in namespace: the controllers' --events-addr and
// where the installer sends its own events.
func NotificationAddress(namespace string, spec *apiv1.FluxInstanceSpec) string {
	return fmt.Sprintf("http://notification-controller.%s.svc.%s./", namespace, ClusterDomain(spec))
}

func (g *generator) networkPolicy() bool {
	c := g.spec.Cluster
	return c == nil || c.NetworkPolicy == nil || *c.NetworkPolicy
}

func (g *generator) clusterType() string {
	if c := g.spec.Cluster; c != nil && c.Type != "" {
		return c.Type
	}
	return "kubernetes"
}

// deploymentTarget selects the Deployments of comps, their shard copies
// included.
func (g *generator) deploymentTarget(comps ...string) *types.Selector {
	name := strings.Join(comps, "|")
	if s := g.spec.Sharding; s != nil && len(s.Shards) > 0 {
		name = "(" + name + ")(-(" + strings.Join(quoteAll(s.Shards), "|") + "))?"
	}
	return &types.Selector{ResId: resID("apps", "Deployment", name)}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = regexp.QuoteMeta(s)
	}
	return out
}

func resID(group, kind, name string) resIDT {
	return resIDT{Gvk: gvk(group, kind), Name: name}
}

type resIDT = resid.ResId

// jsonPatch is one JSON 6902 operation.
type jsonPatch struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

func patch(target *types.Selector, ops ...jsonPatch) types.Patch {
	data, err := yaml.Marshal(ops)
	if err != nil {
		panic(err) // plain values
	}
	return types.Patch{Patch: string(data), Target: target}
}

const (
	containerPath = "/spec/template/spec/containers/0"
	argsPath      = containerPath + "/args"
)

func addArgs(args ...string) []jsonPatch {
	ops := make([]jsonPatch, len(args))
	for i, a := range args {
		ops[i] = jsonPatch{Op: "add", Path: argsPath + "/-", Value: a}
	}
	return ops
}

// generate writes the kustomization of the build, with the first n user
// patches: the resources (namespace, policies, components, shards, storage,
// sync, RBAC), the patches that configure the controllers, the metadata
// transformers and the user's patches, in that order.
func (g *generator) generate(n int) error {
	k := newKustomization()
	k.Namespace = g.req.Namespace
	k.Resources = []string{"namespace.yaml"}
	if err := g.namespace(); err != nil {
		return err
	}
	if g.networkPolicy() {
		if err := g.copyTo("policies.yaml", "policies.yaml"); err != nil {
			return err
		}
		k.Resources = append(k.Resources, "policies.yaml")
	}
	if err := g.componentResources(k); err != nil {
		return err
	}
	keepTokens, err := g.controllerPatches(k)
	if err != nil {
		return err
	}
	shards, err := g.sharding()
	if err != nil {
		return err
	}
	k.Resources = append(k.Resources, shards.resources...)
	k.Patches = append(k.Patches, shards.patches...)
	if err := g.persistentStorage(k); err != nil {
		return err
	}
	if g.spec.Sync != nil {
		if err := g.sync(); err != nil {
			return err
		}
		k.Resources = append(k.Resources, "sync.yaml")
	}
	if err := g.roles(keepTokens); err != nil {
		return err
	}
	k.Resources = append(k.Resources, "roles")
	if err := g.metadataTransformers(); err != nil {
		return err
	}
	k.Transformers = []string{"labels.yaml", "annotations.yaml"}
	if err := g.userPatches(k, n); err != nil {
		return err
	}
	return g.writeYAML("kustomization.yaml", k)
}

// componentResources writes the manifests of the components and sets their
// images (registry, variant, digests) on k.
func (g *generator) componentResources(k *types.Kustomization) error {
	manifestTags := map[string]string{}
	for _, c := range g.components {
		data, err := g.copyFile(c + ".yaml")
		if err != nil {
			return err
		}
		if c == NotificationController {
			var warnings []string
			if data, warnings, err = patchKindEnums(data); err != nil {
				return err
			}
			g.warnings = append(g.warnings, warnings...)
		}
		manifestTags[c] = tagOf(data, c)
		if err := g.write(c+".yaml", data); err != nil {
			return err
		}
		k.Resources = append(k.Resources, c+".yaml")
	}
	imgs, warnings, err := images(g.req.Distribution, g.version, g.spec.Distribution.Registry, g.spec.Distribution.Variant,
		g.components, manifestTags)
	if err != nil {
		return err
	}
	g.warnings = append(g.warnings, warnings...)
	for _, img := range imgs {
		k.Images = append(k.Images, types.Image{Name: "fluxcd/" + img.Component, NewName: img.Repository,
			NewTag: img.Tag, Digest: img.Digest})
	}
	return nil
}

// controllerPatches adds the patches that configure the controllers from
// the spec; keepTokens says whether workload identity needs the
// ServiceAccount token RBAC.
func (g *generator) controllerPatches(k *types.Kustomization) (keepTokens bool, err error) {
	k.Patches = append(k.Patches, g.podPatch())
	k.Patches = append(k.Patches, g.eventsPatches()...)
	k.Patches = append(k.Patches, g.storageAddrPatches()...)
	k.Patches = append(k.Patches, g.clusterTypePatches()...)
	k.Patches = append(k.Patches, g.sizePatches()...)
	k.Patches = append(k.Patches, g.multitenantPatches()...)
	identity, keepTokens, err := g.workloadIdentity()
	if err != nil {
		return false, &buildError{err}
	}
	k.Patches = append(k.Patches, identity...)
	if g.has(SourceWatcher) {
		k.Patches = append(k.Patches, patch(g.deploymentTarget(KustomizeController, HelmController),
			addArgs("--feature-gates=ExternalArtifact=true")...))
	}
	return keepTokens, nil
}

// persistentStorage gives source-controller (not its shards) a
// PersistentVolumeClaim for its artifacts when spec.storage is set.
func (g *generator) persistentStorage(k *types.Kustomization) error {
	st := g.spec.Storage
	if st == nil || !g.has(SourceController) {
		return nil
	}
	if err := g.writeYAML("pvc.yaml", pvc(SourceController, st)); err != nil {
		return err
	}
	k.Resources = append(k.Resources, "pvc.yaml")
	k.Patches = append(k.Patches, patch(&types.Selector{ResId: resID("apps", "Deployment", SourceController),
		AnnotationSelector: "!" + ShardRoleAnnotation}, persistentDataOps(SourceController)...))
	return nil
}

// persistentDataOps mount the claim as source-controller's /data.
func persistentDataOps(claim string) []jsonPatch {
	return []jsonPatch{
		{Op: "add", Path: "/spec/template/spec/volumes/-", Value: map[string]any{
			"name": "persistent-data", "persistentVolumeClaim": map[string]any{"claimName": claim}}},
		{Op: "replace", Path: containerPath + "/volumeMounts/0", Value: map[string]any{
			"name": "persistent-data", "mountPath": "/data"}},
	}
}

// userPatches adds the first n patches of spec.kustomize, last, so that
// they see the generated objects as built.
func (g *generator) userPatches(k *types.Kustomization, n int) error {
	kz := g.spec.Kustomize
	if kz == nil {
		return nil
	}
	for i, p := range kz.Patches[:n] {
		if strings.TrimSpace(p.Patch) == "" {
			return &buildError{fmt.Errorf("spec.kustomize.patches[%d] is empty", i)}
		}
		up := types.Patch{Patch: p.Patch}
		if t := p.Target; t != nil {
			up.Target = &types.Selector{ResId: resid.ResId{Gvk: gvkOf(t.Group, t.Version, t.Kind), Name: t.Name, Namespace: t.Namespace},
				LabelSelector: t.LabelSelector, AnnotationSelector: t.AnnotationSelector}
		}
		k.Patches = append(k.Patches, up)
	}
	return nil
}

// tagOf finds the tag of fluxcd/<c>:<tag> in a component file.
func tagOf(data []byte, c string) string {
	prefix := []byte("image: fluxcd/" + c + ":")
	i := bytes.Index(data, prefix)
	if i < 0 {
		return ""
	}
	rest := data[i+len(prefix):]
	if j := bytes.IndexAny(rest, " \n"); j >= 0 {
		rest = rest[:j]
	}
	return string(rest)
}

func (g *generator) copyTo(src, dst string) error {
	data, err := g.copyFile(src)
	if err != nil {
		return err
	}
	return g.write(dst, data)
}

func (g *generator) namespace() error {
	labels := map[string]string{}
	if g.clusterType() != "openshift" {
		labels["pod-security.kubernetes.io/warn"] = "restricted"
		labels["pod-security.kubernetes.io/warn-version"] = "latest"
	}
	return g.writeYAML("namespace.yaml", map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": g.req.Namespace, "labels": labels,
			"annotations": map[string]string{PruneAnnotation: "disabled"}},
	})
}

// roles writes the cluster-wide RBAC with names suffixed by the namespace,
// so that two installations in two namespaces do not share them.
func (g *generator) roles(keepTokens bool) error {
	data, err := g.copyFile("rbac.yaml")
	if err != nil {
		return err
	}
	tokenRule, err := tokenRuleIndex(data)
	if err != nil {
		return err
	}
	data = bytes.ReplaceAll(data, []byte("namespace: flux-system"), []byte("namespace: "+g.req.Namespace))
	if err := g.write("roles/rbac.yaml", data); err != nil {
		return err
	}
	k := newKustomization()
	k.Namespace = g.req.Namespace
	k.Resources = []string{"rbac.yaml"}
	k.NameSuffix = "-" + g.req.Namespace
	if g.has(NotificationController) {
		// notification-controller's Alerts name the operator's kinds as
		// event sources: it reads them and nothing more. crd-controller is
		// bound to source-, notification- and the image controllers, and
		// writing a FluxInstance is as good as cluster-admin (its patches
		// are applied by the installer), so no Flux controller may write
		// one (docs/security.md).
		k.Patches = append(k.Patches, patch(&types.Selector{ResId: resID("rbac.authorization.k8s.io", "ClusterRole", "crd-controller")},
			jsonPatch{Op: "add", Path: "/rules/-", Value: map[string]any{
				"apiGroups": []string{apiv1.GroupVersion.Group}, "resources": []string{"*"}, "verbs": []string{"get", "list", "watch"}}}))
	}
	if !keepTokens && tokenRule >= 0 {
		// Without object-level workload identity nothing needs to create tokens.
		k.Patches = append(k.Patches, patch(&types.Selector{ResId: resID("rbac.authorization.k8s.io", "ClusterRole", "crd-controller")},
			jsonPatch{Op: "remove", Path: fmt.Sprintf("/rules/%d", tokenRule)}))
	}
	return g.writeYAML("roles/kustomization.yaml", k)
}

// podPatch sets what every Flux pod gets: the part-of flux label, Linux
// nodes, the image pull secret, and permission for the cluster autoscaler to
// evict it.
func (g *generator) podPatch() types.Patch {
	podSpec := map[string]any{"nodeSelector": map[string]string{"kubernetes.io/os": "linux"}}
	if s := g.spec.Distribution.ImagePullSecret; s != "" {
		podSpec["imagePullSecrets"] = []map[string]string{{"name": s}}
	}
	data, _ := yaml.Marshal(map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]string{"name": "all"},
		"spec": map[string]any{"template": map[string]any{
			// Flux's own manifests did not always label their pods part-of
			// flux (2.6's do not): a PodMonitor selecting Flux pods by it
			// must find every release's.
			"metadata": map[string]any{"labels": map[string]string{apiv1.PartOfLabel: "flux"},
				"annotations": map[string]string{"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}},
			"spec": podSpec,
		}},
	})
	return types.Patch{Patch: string(data), Target: &types.Selector{ResId: resID("apps", "Deployment", "")}}
}

// eventsPatches point every controller's events at the installed
// notification-controller, or turn them off when it is not installed.
func (g *generator) eventsPatches() []types.Patch {
	addr := ""
	if g.has(NotificationController) {
		addr = NotificationAddress(g.req.Namespace, g.spec)
	}
	var comps []string
	for _, c := range g.components {
		if c != NotificationController {
			comps = append(comps, c)
		}
	}
	if len(comps) == 0 {
		return nil
	}
	return []types.Patch{patch(g.deploymentTarget(comps...),
		jsonPatch{Op: "replace", Path: argsPath + "/0", Value: "--events-addr=" + addr})}
}

// storageAddrPatches set the address artifacts are served from, with the
// cluster domain.
func (g *generator) storageAddrPatches() []types.Patch {
	var out []types.Patch
	for _, c := range []string{SourceController, SourceWatcher} {
		if g.has(c) {
			// Not the shards' copies: they serve from their own address.
			out = append(out, patch(&types.Selector{ResId: resID("apps", "Deployment", c), AnnotationSelector: "!" + ShardRoleAnnotation},
				jsonPatch{Op: "replace", Path: argsPath + "/6",
					Value: fmt.Sprintf("--storage-adv-addr=%s.$(RUNTIME_NAMESPACE).svc.%s.", c, g.domain())}))
		}
	}
	return out
}

// clusterTypePatches: OpenShift assigns users and seccomp profiles itself.
func (g *generator) clusterTypePatches() []types.Patch {
	if g.clusterType() != "openshift" {
		return nil
	}
	return []types.Patch{patch(&types.Selector{ResId: resID("apps", "Deployment", "")},
		jsonPatch{Op: "remove", Path: "/spec/template/spec/securityContext"},
		jsonPatch{Op: "remove", Path: containerPath + "/securityContext/seccompProfile"},
		jsonPatch{Op: "remove", Path: containerPath + "/securityContext/runAsNonRoot"})}
}

// profile is the concurrency and resources of some controllers at a size.
type profile struct {
	args               []string
	reqMem, limCPU, lm string
}

// sizePatches apply the size profile: concurrency and resources.
func (g *generator) sizePatches() []types.Patch {
	c := g.spec.Cluster
	if c == nil || c.Size == "" {
		return nil
	}
	resources := func(reqMem, limCPU, limMem string) jsonPatch {
		return jsonPatch{Op: "replace", Path: containerPath + "/resources", Value: map[string]any{
			"requests": map[string]string{"cpu": "100m", "memory": reqMem},
			"limits":   map[string]string{"cpu": limCPU, "memory": limMem}}}
	}
	profiles := map[string]struct{ appliers, source profile }{
		"small": {
			profile{[]string{"--concurrent=5", "--requeue-dependency=10s"}, "64Mi", "1000m", "512Mi"},
			profile{[]string{"--helm-cache-max-size=10", "--helm-cache-ttl=720m", "--helm-cache-purge-interval=60m"}, "64Mi", "1000m", "512Mi"},
		},
		"medium": {
			profile{[]string{"--concurrent=10", "--requeue-dependency=5s"}, "128Mi", "2000m", "1Gi"},
			profile{[]string{"--helm-cache-max-size=50", "--helm-cache-ttl=720m", "--helm-cache-purge-interval=60m", "--concurrent=5"}, "128Mi", "2000m", "1Gi"},
		},
		"large": {
			profile{[]string{"--concurrent=20", "--requeue-dependency=5s"}, "256Mi", "3000m", "3Gi"},
			profile{[]string{"--helm-cache-max-size=100", "--helm-cache-ttl=720m", "--helm-cache-purge-interval=60m", "--concurrent=10"}, "256Mi", "2000m", "2Gi"},
		},
	}
	p := profiles[c.Size]
	var out []types.Patch
	if c.Size == "small" {
		out = append(out, patch(&types.Selector{ResId: resID("apps", "Deployment", "")}, resources("64Mi", "1000m", "512Mi")))
	}
	var appliers []string
	for _, a := range []string{KustomizeController, HelmController} {
		if g.has(a) {
			appliers = append(appliers, a)
		}
	}
	if len(appliers) > 0 {
		out = append(out, patch(g.deploymentTarget(appliers...),
			append(addArgs(p.appliers.args...), resources(p.appliers.reqMem, p.appliers.limCPU, p.appliers.lm))...))
	}
	if g.has(SourceController) {
		out = append(out, patch(g.deploymentTarget(SourceController),
			append(addArgs(p.source.args...), resources(p.source.reqMem, p.source.limCPU, p.source.lm))...))
	}
	// A strategic merge: the annotation joins the others (a shard's role
	// among them) instead of replacing the map.
	data, _ := yaml.Marshal(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "all", "annotations": map[string]string{profileAnnotation: c.Size}}})
	out = append(out, types.Patch{Patch: string(data), Target: &types.Selector{ResId: resID("apps", "Deployment", "")}})
	return out
}

// multitenantPatches lock tenants in: no cross-namespace references, no
// remote bases, and appliers impersonate a service account by default.
func (g *generator) multitenantPatches() []types.Patch {
	c := g.spec.Cluster
	if c == nil || !c.Multitenant {
		return nil
	}
	sa := c.TenantDefaultServiceAccount
	if sa == "" {
		sa = defaultTenantServiceAccount
	}
	var out []types.Patch
	var noCross []string
	for _, x := range []string{KustomizeController, HelmController, NotificationController, ImageReflectorController,
		ImageAutomationController, SourceWatcher} {
		if g.has(x) {
			noCross = append(noCross, x)
		}
	}
	if len(noCross) > 0 {
		out = append(out, patch(g.deploymentTarget(noCross...), addArgs("--no-cross-namespace-refs=true")...))
	}
	if g.has(KustomizeController) {
		out = append(out, patch(g.deploymentTarget(KustomizeController), addArgs("--no-remote-bases=true")...))
	}
	var appliers []string
	for _, x := range []string{KustomizeController, HelmController} {
		if g.has(x) {
			appliers = append(appliers, x)
		}
	}
	if len(appliers) > 0 {
		out = append(out, patch(g.deploymentTarget(appliers...), addArgs("--default-service-account="+sa)...))
	}
	if g.spec.Sync != nil {
		// The cluster sync itself is not a tenant: it runs as kustomize-controller.
		out = append(out, patch(&types.Selector{ResId: resID("kustomize.toolkit.fluxcd.io", "Kustomization", "")},
			jsonPatch{Op: "add", Path: "/spec/serviceAccountName", Value: KustomizeController}))
	}
	return out
}

func pvc(name string, st *apiv1.Storage) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "PersistentVolumeClaim",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"accessModes":      []string{"ReadWriteOnce"},
			"storageClassName": st.Class,
			"resources":        map[string]any{"requests": map[string]string{"storage": st.Size}},
		},
	}
}

// sync writes the cluster sync: a source and the Kustomization that applies
// its path, both named spec.sync.name (the namespace by default).
func (g *generator) sync() error {
	y := g.spec.Sync
	name := y.Name
	if name == "" {
		name = g.req.Namespace
	}
	interval := defaultSyncInterval
	if y.Interval != nil {
		interval = y.Interval.Duration.String()
	}
	srcSpec := map[string]any{"interval": interval}
	switch y.Kind {
	case "GitRepository":
		srcSpec["url"] = y.URL
		srcSpec["ref"] = map[string]string{"name": y.Ref}
	case "OCIRepository":
		srcSpec["url"] = y.URL
		srcSpec["ref"] = map[string]string{"tag": y.Ref}
	case "Bucket":
		srcSpec["endpoint"] = y.URL
		srcSpec["bucketName"] = y.Ref
	}
	if y.PullSecret != "" {
		srcSpec["secretRef"] = map[string]string{"name": y.PullSecret}
	}
	if y.Provider != "" {
		srcSpec["provider"] = y.Provider
	}
	src := map[string]any{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": y.Kind,
		"metadata": map[string]any{"name": name}, "spec": srcSpec}
	ks := map[string]any{"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{"interval": "10m0s", "path": y.Path, "prune": true,
			"sourceRef": map[string]string{"kind": y.Kind, "name": name}}}
	var buf bytes.Buffer
	for _, o := range []any{src, ks} {
		data, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		buf.WriteString("---\n")
		buf.Write(data)
	}
	return g.write("sync.yaml", buf.Bytes())
}

// metadataTransformers label and annotate every object (metadata only, not
// pod templates or selectors): commonMetadata first, the operator's labels
// over it.
func (g *generator) metadataTransformers() error {
	labels := map[string]string{}
	annotations := map[string]string{
		// A Flux Kustomization that also syncs these manifests leaves them to us.
		"kustomize.toolkit.fluxcd.io/ssa":   "Ignore",
		"kustomize.toolkit.fluxcd.io/prune": "Disabled",
	}
	if cm := g.spec.CommonMetadata; cm != nil {
		maps.Copy(labels, cm.Labels)
		maps.Copy(annotations, cm.Annotations)
	}
	maps.Copy(labels, map[string]string{
		apiv1.ManagedByLabel: ManagedBy, apiv1.InstanceLabel: g.req.Namespace, apiv1.VersionLabel: g.version, apiv1.PartOfLabel: "flux",
		OwnerNameLabel: g.req.Name, OwnerNamespaceLabel: g.req.Namespace,
	})
	fieldSpecs := func(p string) []map[string]any { return []map[string]any{{"path": p, "create": true}} }
	if err := g.writeYAML("labels.yaml", map[string]any{"apiVersion": "builtin", "kind": "LabelTransformer",
		"metadata": map[string]string{"name": "labels"}, "labels": labels, "fieldSpecs": fieldSpecs("metadata/labels")}); err != nil {
		return err
	}
	return g.writeYAML("annotations.yaml", map[string]any{"apiVersion": "builtin", "kind": "AnnotationsTransformer",
		"metadata": map[string]string{"name": "annotations"}, "annotations": annotations, "fieldSpecs": fieldSpecs("metadata/annotations")})
}
