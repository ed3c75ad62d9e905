package builder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/fluxcd/pkg/ssa"
	"github.com/opencontainers/go-digest"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/distribution"
)

// Labels the build puts on every object.
const (
	ManagedBy           = "flux-operator"
	OwnerNameLabel      = "fluxcd.controlplane.io/name"
	OwnerNamespaceLabel = "fluxcd.controlplane.io/namespace"
	PruneAnnotation     = "fluxcd.controlplane.io/prune"
	ShardRoleAnnotation = "sharding.fluxcd.io/role"
)

// FieldManager is the field manager the installer applies with. With the
// API group it is the installer's server-side apply owner (Owner), which also
// names the labels it sets on everything it installs.
const FieldManager = "flux-operator"

// Owner is the installer's server-side apply owner: the same for the
// installer, which applies, and for the CLI's diff, which dry-runs.
func Owner() ssa.Owner { return ssa.Owner{Field: FieldManager, Group: apiv1.GroupVersion.Group} }

// profileAnnotation names the size profile (spec.cluster.size) on every
// Deployment built with one.
const profileAnnotation = "fluxcd.controlplane.io/profile"

// Request is what to build.
type Request struct {
	// Spec is the FluxInstance spec.
	Spec *apiv1.FluxInstanceSpec
	// Name and Namespace are the FluxInstance's; Flux is installed in
	// Namespace.
	Name, Namespace string
	// Distribution is the distribution tree: embedded, a directory or a
	// pulled artifact.
	Distribution fs.FS
	// LastAppliedVersion is the Flux version installed now (from
	// status.lastAppliedRevision), "" for a first install.
	LastAppliedVersion string
}

// Result is a built FluxInstance.
type Result struct {
	// Version is the Flux release built, e.g. v2.9.5; Newest the newest the
	// distribution has, and Outdated whether Version is older.
	Version, Newest string
	Outdated        bool
	// Revision is <Version>@sha256:<hex of the digest of YAML>.
	Revision string
	// Objects are the objects to apply, in server-side apply order.
	Objects []*unstructured.Unstructured
	// YAML is the built multi-document YAML the revision is computed from.
	YAML []byte
	// Components are the images of the components' Deployments.
	Components []apiv1.ComponentImage
	// Warnings are what the build did not do as asked, without failing:
	// each says what and what to do.
	Warnings []string
}

// Copy returns a copy of r whose slices are its own; the objects are
// shared.
func (r *Result) Copy() *Result {
	out := *r
	out.Objects = slices.Clone(r.Objects)
	out.Components = slices.Clone(r.Components)
	out.Warnings = slices.Clone(r.Warnings)
	return &out
}

// Build builds req. Its errors name the field, the value and what to do,
// as a BuildFailed condition carries them; nothing is written anywhere but
// to memory, and nothing is read but req.Distribution: every resource of
// the generated kustomizations is checked to be in the in-memory tree
// before kustomize runs, so no spec value can make it fetch a URL or clone
// a repository. A cancelled ctx stops the build between kustomize runs.
func Build(ctx context.Context, req Request) (*Result, error) {
	res, _, err := buildCounting(ctx, req)
	return res, err
}

// buildCounting is Build that also says how many times kustomize ran.
func buildCounting(ctx context.Context, req Request) (*Result, int, error) {
	g := &generator{}
	out, err := g.build(ctx, req)
	return out, g.runs, err
}

func (g *generator) build(ctx context.Context, req Request) (*Result, error) {
	spec := req.Spec
	if spec == nil {
		return nil, fmt.Errorf("the FluxInstance has no spec")
	}
	if req.Namespace == "" {
		req.Namespace = apiv1.DefaultNamespace
	}
	if req.Name == "" {
		req.Name = apiv1.DefaultName
	}
	available, err := supported(req.Distribution)
	if err != nil {
		return nil, err
	}
	res, err := distribution.Resolve(spec.Distribution.Version, available, req.LastAppliedVersion)
	if err != nil {
		return nil, err
	}
	if err := validate(spec); err != nil {
		return nil, err
	}
	g.req, g.spec, g.version, g.minor = req, spec, distribution.VersionString(res.Version), res.Version.Minor()
	if g.components, err = components(spec, g.minor); err != nil {
		return nil, err
	}
	if err := releaseRules(spec, g.minor, g.version); err != nil {
		return nil, err
	}
	nPatches := 0
	if spec.Kustomize != nil {
		nPatches = len(spec.Kustomize.Patches)
	}
	rm, err := g.run(ctx, nPatches)
	if err != nil {
		return nil, g.explain(ctx, err, nPatches)
	}
	data, err := rm.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("failed to encode the built manifests: %w", err)
	}
	out := &Result{Version: g.version, Newest: distribution.VersionString(res.Newest), Outdated: res.Outdated,
		YAML: data, Revision: g.version + "@" + digest.FromBytes(data).String(), Warnings: g.warnings}
	for _, r := range rm.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("failed to read the built %s %s: %w", r.GetKind(), r.GetName(), err)
		}
		out.Objects = append(out.Objects, u)
	}
	sort.Sort(ssa.SortableUnstructureds(out.Objects))
	out.Components = componentImages(out.Objects, g.components)
	return out, nil
}

// run generates the kustomization with the first n user patches and builds it.
func (g *generator) run(ctx context.Context, n int) (resmap.ResMap, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("the build was stopped: %w", err)
	}
	g.runs++
	g.fs, g.warnings = filesys.MakeFsInMemory(), nil
	if err := g.generate(n); err != nil {
		return nil, err
	}
	if err := localResources(g.fs, root); err != nil {
		return nil, err
	}
	opts := krusty.MakeDefaultOptions()
	// Shards include the component files of their grandparent directory;
	// localResources proved every resource is in the in-memory tree.
	opts.LoadRestrictions = types.LoadRestrictionsNone
	return krusty.MakeKustomizer(opts).Run(g.fs, root)
}

// localResources checks that every resource of the kustomization in dir,
// and of those it includes, is a file or directory of fsys. kustomize
// fetches a resource it does not find as a URL or clones it as a Git
// repository; the installer runs with cluster-admin and must build only
// what it wrote.
func localResources(fsys filesys.FileSystem, dir string) error {
	data, err := fsys.ReadFile(path.Join(dir, "kustomization.yaml"))
	if err != nil {
		return fmt.Errorf("failed to read the generated kustomization in %s: %w", dir, err)
	}
	var k types.Kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		return fmt.Errorf("failed to read the generated kustomization in %s: %w", dir, err)
	}
	for _, r := range k.Resources {
		p := path.Join(dir, r)
		if !strings.HasPrefix(p, root+"/") || !fsys.Exists(p) {
			return &buildError{fmt.Errorf("the generated kustomization in %s names %q, which is not in the build's tree: "+
				"the build reads nothing else (report this as a bug)", strings.TrimPrefix(dir, root+"/"), r)}
		}
		if fsys.IsDir(p) {
			if err := localResources(fsys, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// MinVersion is the oldest Flux release the installer builds: the first
// whose controllers' manifests have the layout the build patches (the
// Flux Operator's lower bound too). Releases from it on are built from any
// distribution tree that carries them, each with its release's rules
// (workload identity from 2.6, source-watcher from 2.7, …); a release whose
// files do not have the layout fails with the file or object it lacks.
var MinVersion = semver.MustParse("2.2.0")

// supported returns the Flux 2 releases of a distribution tree from
// MinVersion on.
func supported(fsys fs.FS) ([]*semver.Version, error) {
	all, err := distribution.Versions(fsys)
	if err != nil {
		return nil, err
	}
	var out, skipped []*semver.Version
	for _, v := range all {
		if v.Major() == MinVersion.Major() && !v.LessThan(MinVersion) {
			out = append(out, v)
		} else {
			skipped = append(skipped, v)
		}
	}
	if len(out) == 0 {
		names := make([]string, len(skipped))
		for i, v := range skipped {
			names[i] = distribution.VersionString(v)
		}
		return nil, fmt.Errorf("the distribution has no Flux 2 release from v%s on to build (it has %s)", MinVersion, strings.Join(names, ", "))
	}
	return out, nil
}

// explain names the user patch that fails a build: when the build without
// the user's patches works, it finds the first patch whose addition fails
// the build by bisection, in about log2(n)+1 builds rather than n+1.
func (g *generator) explain(ctx context.Context, err error, n int) error {
	var bad *buildError
	if errors.As(err, &bad) || n == 0 || ctx.Err() != nil {
		return err
	}
	if _, base := g.run(ctx, 0); base != nil {
		return fmt.Errorf("failed to build the Flux manifests: %w", err)
	}
	// The build with 0 patches works and the one with n fails: find the
	// smallest i whose build fails, keeping its error.
	ok, failing, ferr := 0, n, err
	for failing-ok > 1 {
		mid := ok + (failing-ok)/2
		_, merr := g.run(ctx, mid)
		if ctx.Err() != nil {
			return err
		}
		if merr != nil {
			failing, ferr = mid, merr
		} else {
			ok = mid
		}
	}
	return fmt.Errorf("spec.kustomize.patches[%d]%s failed: %w; fix or remove the patch (the running installation is left as it is)",
		failing-1, targetString(g.spec.Kustomize.Patches[failing-1].Target), ferr)
}

// buildError is an error of the spec found before kustomize runs.
type buildError struct{ err error }

func (e *buildError) Error() string { return e.err.Error() }

func targetString(t *apiv1.PatchSelector) string {
	if t == nil {
		return ""
	}
	var parts []string
	for _, kv := range [][2]string{{"group", t.Group}, {"version", t.Version}, {"kind", t.Kind}, {"name", t.Name},
		{"namespace", t.Namespace}, {"labelSelector", t.LabelSelector}, {"annotationSelector", t.AnnotationSelector}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return " (target " + strings.Join(parts, ", ") + ")"
}

// componentImages reads the image of each component's Deployment.
func componentImages(objs []*unstructured.Unstructured, comps []string) []apiv1.ComponentImage {
	var out []apiv1.ComponentImage
	for _, c := range comps {
		for _, o := range objs {
			if o.GetKind() != "Deployment" || o.GetName() != c {
				continue
			}
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			for _, ct := range containers {
				cm, _ := ct.(map[string]any)
				if cm["name"] != "manager" {
					continue
				}
				ref, _ := cm["image"].(string)
				repo, tag, dig := splitImage(ref)
				out = append(out, apiv1.ComponentImage{Name: c, Repository: repo, Tag: tag, Digest: dig})
			}
		}
	}
	return out
}

// splitImage splits repo[:tag][@digest].
func splitImage(ref string) (repo, tag, dig string) {
	repo, dig, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	if tag == "" {
		tag = "latest"
	}
	return repo, tag, dig
}

const root = "/flux"

// generator writes the kustomization of one build into an in-memory tree.
type generator struct {
	req        Request
	spec       *apiv1.FluxInstanceSpec
	version    string
	minor      uint64
	components []string
	fs         filesys.FileSystem
	warnings   []string
	// runs counts the kustomize builds of one Build.
	runs int
}

func (g *generator) write(name string, data []byte) error {
	p := path.Join(root, name)
	if err := g.fs.MkdirAll(path.Dir(p)); err != nil {
		return err
	}
	return g.fs.WriteFile(p, data)
}

func (g *generator) writeYAML(name string, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return g.write(name, data)
}

func (g *generator) copyFile(name string) ([]byte, error) {
	data, err := fs.ReadFile(g.req.Distribution, path.Join(distribution.FluxDir, g.version, name))
	if err != nil {
		return nil, fmt.Errorf("the distribution of Flux %s has no %s: %w", g.version, name, err)
	}
	return data, nil
}
