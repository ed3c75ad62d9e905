package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	ssaerrors "github.com/fluxcd/pkg/ssa/errors"
	ssautils "github.com/fluxcd/pkg/ssa/utils"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/builder"
)

// errChanges ends a diff that found changes: exit code 1, no "Error:" line.
var errChanges = &exitError{code: ExitFailed}

func newDiffCommand(o *options) *cobra.Command {
	diff := &cobra.Command{
		Use:   "diff",
		Short: "Show what applying a FluxInstance would change on the cluster",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("flux-operator diff needs what to compare: instance")
		},
	}
	var f buildFlags
	var showUnchanged bool
	cmd := &cobra.Command{
		Use:   "instance -f FILE",
		Short: "Show what the installer would create, change and delete for a FluxInstance",
		Long: "Builds the FluxInstance in FILE with the installer's code, then asks the API server what applying " +
			"each object would change (a server-side apply dry-run with the installer's field manager, through " +
			"fluxcd/pkg/ssa), and lists what the installer would prune: the objects of the installed instance's " +
			"inventory that the new build no longer has. Nothing is changed. Secrets' values are masked.\n\n" +
			"Exit code: 0 when the cluster already matches, 1 when something would change or the diff failed, " +
			"2 for a wrong command line.",
		Example: `  flux-operator diff instance -f flux-instance.yaml
  flux-operator diff instance -f flux-instance.yaml --show-unchanged`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fi, err := f.read(o)
			if err != nil {
				return err
			}
			ctx, cancel := o.context()
			defer cancel()
			return o.diffInstance(ctx, cmd.OutOrStdout(), o.painter(), &f, fi, showUnchanged)
		},
	}
	f.add(cmd.Flags(), false)
	cmd.Flags().BoolVar(&showUnchanged, "show-unchanged", false, "Also list the objects applying would not change.")
	diff.AddCommand(cmd)
	return diff
}

// change is one line of a diff's outcome.
type change struct {
	subject, action string
	before, after   *unstructured.Unstructured
}

func (o *options) diffInstance(ctx context.Context, w io.Writer, p painter, f *buildFlags, fi *apiv1.FluxInstance,
	showUnchanged bool) error {
	cs, err := o.clientset()
	if err != nil {
		return err
	}
	live, err := cs.FluxcdV1().FluxInstances(fi.Namespace).Get(ctx, fi.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return err
	}
	installed := ""
	if live != nil {
		installed, _, _ = strings.Cut(live.Status.LastAppliedRevision, "@")
	}
	res, err := f.build(ctx, fi, installed)
	if err != nil {
		return err
	}
	cfg, err := o.restConfig()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	m := ssa.NewResourceManager(c, nil, builder.Owner())
	m.SetOwnerLabels(res.Objects, fi.Name, fi.Namespace)

	changes, err := dryRun(ctx, m, res.Objects)
	if err != nil {
		return err
	}
	if live != nil && live.Status.Inventory != nil {
		pruned, err := stale(ctx, c, live.Status.Inventory, res.Objects)
		if err != nil {
			return err
		}
		changes = append(changes, pruned...)
	}
	return printChanges(w, p, res, changes, showUnchanged)
}

// dryRun asks the API server what applying each object would do. An
// object whose kind is defined by a CRD of the same build, or whose
// namespace the build creates, would be created: the API server cannot
// dry-run it before they exist.
func dryRun(ctx context.Context, m *ssa.ResourceManager, objects []*unstructured.Unstructured) ([]change, error) {
	built := map[schema.GroupKind]bool{}
	for _, obj := range objects {
		if obj.GetKind() == "CustomResourceDefinition" {
			group, _, _ := unstructured.NestedString(obj.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(obj.Object, "spec", "names", "kind")
			built[schema.GroupKind{Group: group, Kind: kind}] = true
		}
	}
	newNamespaces := map[string]bool{}
	// The installer applies every object it builds: its prune annotation
	// only keeps an object at removal, so nothing is excluded here.
	opts := ssa.DefaultDiffOptions()
	var out []change
	for _, obj := range objects {
		subject := ssautils.FmtUnstructured(obj)
		gk := obj.GroupVersionKind().GroupKind()
		if newNamespaces[obj.GetNamespace()] {
			out = append(out, change{subject: subject, action: string(ssa.CreatedAction)})
			continue
		}
		if _, err := m.Client().RESTMapper().RESTMapping(gk, obj.GroupVersionKind().Version); err != nil {
			if meta.IsNoMatchError(err) && built[gk] {
				out = append(out, change{subject: subject, action: string(ssa.CreatedAction)})
				continue
			}
			return nil, fmt.Errorf("%s: %w", subject, err)
		}
		entry, before, after, err := m.Diff(ctx, obj, opts)
		if err != nil {
			var dre *ssaerrors.DryRunErr
			if errors.As(err, &dre) {
				err = dre.Unwrap()
			}
			return nil, fmt.Errorf("the API server refused a dry-run of %s: %w", subject, err)
		}
		if entry.Action == ssa.CreatedAction && gk == (schema.GroupKind{Kind: "Namespace"}) {
			newNamespaces[obj.GetName()] = true
		}
		out = append(out, change{subject: subject, action: string(entry.Action), before: before, after: after})
	}
	return out, nil
}

// stale are the objects of the installed inventory the build no longer has:
// those the installer would delete. Objects already gone, and those the user
// keeps with the prune annotation, are left out, as the installer does.
func stale(ctx context.Context, c client.Client, inv *apiv1.ResourceInventory,
	objects []*unstructured.Unstructured) ([]change, error) {
	keep := map[string]bool{}
	for _, obj := range objects {
		keep[object.UnstructuredToObjMetadata(obj).String()] = true
	}
	var out []change
	for _, e := range inv.Entries {
		if keep[e.ID] {
			continue
		}
		id, err := object.ParseObjMetadata(e.ID)
		if err != nil {
			return nil, fmt.Errorf("the installed inventory has an entry %q that is not an object: %w", e.ID, err)
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(id.GroupKind.WithVersion(e.Version))
		err = c.Get(ctx, client.ObjectKey{Namespace: id.Namespace, Name: id.Name}, u)
		switch {
		case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
			continue
		case err != nil:
			return nil, err
		}
		if u.GetAnnotations()[builder.PruneAnnotation] == apiv1.DisabledValue {
			continue
		}
		out = append(out, change{subject: ssautils.FmtUnstructured(u), action: string(ssa.DeletedAction)})
	}
	return out, nil
}

func printChanges(w io.Writer, p painter, res *builder.Result, changes []change, showUnchanged bool) error {
	count := map[string]int{}
	var b strings.Builder
	for _, c := range changes {
		count[c.action]++
		switch c.action {
		case string(ssa.UnchangedAction):
			if showUnchanged {
				fmt.Fprintf(&b, "  %s %s\n", c.subject, c.action)
			}
		case string(ssa.ConfiguredAction):
			fmt.Fprintf(&b, "► %s %s\n", c.subject, p.paint(yellow, "would change"))
			text, err := yamlDiff(c.before, c.after)
			if err != nil {
				return err
			}
			for _, l := range lines(text) {
				switch {
				case strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++"):
					l = p.paint(green, strings.TrimSuffix(l, "\n")) + "\n"
				case strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---"):
					l = p.paint(red, strings.TrimSuffix(l, "\n")) + "\n"
				}
				b.WriteString(l)
			}
		case string(ssa.CreatedAction):
			fmt.Fprintf(&b, "► %s %s\n", c.subject, p.paint(green, "would be created"))
		case string(ssa.DeletedAction):
			fmt.Fprintf(&b, "► %s %s\n", c.subject, p.paint(red, "would be deleted"))
		}
	}
	changed := count[string(ssa.CreatedAction)] + count[string(ssa.ConfiguredAction)] + count[string(ssa.DeletedAction)]
	fmt.Fprintf(&b, "Revision %s: %d to create, %d to change, %d to delete, %d unchanged",
		res.Revision, count[string(ssa.CreatedAction)], count[string(ssa.ConfiguredAction)],
		count[string(ssa.DeletedAction)], count[string(ssa.UnchangedAction)])
	b.WriteString("\n")
	for _, warning := range res.Warnings {
		fmt.Fprintf(&b, "Warning: %s\n", warning)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if changed > 0 {
		return errChanges
	}
	return nil
}

// yamlDiff is a unified diff of two objects as YAML, without what the API
// server keeps for itself.
func yamlDiff(before, after *unstructured.Unstructured) (string, error) {
	a, err := diffYAML(before)
	if err != nil {
		return "", err
	}
	b, err := diffYAML(after)
	if err != nil {
		return "", err
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: lines(a), B: lines(b),
		FromFile: "cluster", ToFile: "after apply", Context: 3,
	})
}

func diffYAML(u *unstructured.Unstructured) (string, error) {
	if u == nil {
		return "", nil
	}
	u = u.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp"} {
		unstructured.RemoveNestedField(u.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(u.Object, "status")
	data, err := yaml.Marshal(u.Object)
	return string(data), err
}

// lines splits text after each newline, with no empty last line.
func lines(text string) []string {
	out := strings.SplitAfter(text, "\n")
	if len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
