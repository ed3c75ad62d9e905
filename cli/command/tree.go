package command

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// The kinds whose inventory the tree follows.
var (
	kustomizationGVR = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Resource: "kustomizations"}
	helmReleaseGVR   = schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Resource: "helmreleases"}
)

// The notes of a node that say something is wrong.
const (
	noteNotFound = "(not found)"
	noteCycle    = "(cycle)"
)

// node is an object of an inventory and, for a Kustomization, a HelmRelease
// or the FluxInstance, what its own inventory holds.
type node struct {
	ref      string
	children []*node
	note     string
}

func newTreeCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "tree instance|kustomization/NAME|helmrelease/NAME",
		Short: "Show what an object applied (its inventory) as a tree, through the Kustomizations and HelmReleases it applied",
		Example: `  flux-operator tree instance
  flux-operator tree kustomization/flux-system -n flux-system`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.targetCompletion([]string{"instance"}, inventoryKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := o.context()
			defer cancel()
			var gvr schema.GroupVersionResource
			var ns, name, kind string
			switch a := strings.ToLower(args[0]); {
			case a == "instance" || a == "fluxinstance" || a == "fluxinstance/flux":
				gvr, ns, name, kind = instanceGVR, o.operatorNamespace(), "flux", "FluxInstance"
			case strings.HasPrefix(a, "kustomization/") || strings.HasPrefix(a, "kustomizations/"):
				gvr, ns, kind = kustomizationGVR, o.namespace(), "Kustomization"
				_, name, _ = strings.Cut(args[0], "/")
			case strings.HasPrefix(a, "helmrelease/") || strings.HasPrefix(a, "helmreleases/"):
				gvr, ns, kind = helmReleaseGVR, o.namespace(), "HelmRelease"
				_, name, _ = strings.Cut(args[0], "/")
			default:
				return usagef("%q: give instance, kustomization/NAME or helmrelease/NAME", args[0])
			}
			if name == "" {
				return usagef("%q: the name is missing", args[0])
			}
			dc, err := o.dynamic()
			if err != nil {
				return err
			}
			if gvr.Version == "" {
				if gvr.Version, err = o.servedVersion(gvr); err != nil {
					return err
				}
			}
			root := &node{ref: kind + "/" + ns + "/" + name}
			if err := expand(ctx, dc, root, gvr, ns, name, map[string]bool{root.ref: true}, o.servedVersion); err != nil {
				return err
			}
			printTree(cmd.OutOrStdout(), root, o.painter())
			return nil
		},
	}
}

// servedVersion is the version the API server prefers for a resource.
func (o *options) servedVersion(gvr schema.GroupVersionResource) (string, error) {
	mapper, err := o.mapper()
	if err != nil {
		return "", err
	}
	full, err := mapper.ResourceFor(gvr)
	if err != nil {
		return "", fmt.Errorf("the API server does not serve %s: %w", gvr.GroupResource(), err)
	}
	return full.Version, nil
}

// expand reads the inventory of the object and adds it to n, following the
// Kustomizations and HelmReleases in it; seen stops cycles.
func expand(ctx context.Context, dc dynamic.Interface, n *node, gvr schema.GroupVersionResource, ns, name string,
	seen map[string]bool, version func(schema.GroupVersionResource) (string, error)) error {
	u, err := dc.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if len(seen) == 1 {
			return fmt.Errorf("%s does not exist", n.ref)
		}
		n.note = noteNotFound
		return nil
	}
	if err != nil {
		return err
	}
	entries, _, _ := unstructured.NestedSlice(u.Object, "status", "inventory", "entries")
	if len(entries) == 0 && len(seen) == 1 {
		n.note = "(no inventory: it has applied nothing yet)"
	}
	for _, e := range entries {
		m, _ := e.(map[string]any)
		id, _ := m["id"].(string)
		parts := strings.Split(id, "_")
		if len(parts) != 4 {
			continue
		}
		cns, cname, group, kind := parts[0], parts[1], parts[2], parts[3]
		ref := kind + "/" + cname
		if cns != "" {
			ref = kind + "/" + cns + "/" + cname
		}
		child := &node{ref: ref}
		n.children = append(n.children, child)
		var cgvr schema.GroupVersionResource
		switch {
		case group == kustomizationGVR.Group && kind == "Kustomization":
			cgvr = kustomizationGVR
		case group == helmReleaseGVR.Group && kind == "HelmRelease":
			cgvr = helmReleaseGVR
		default:
			continue
		}
		if seen[ref] {
			child.note = noteCycle
			continue
		}
		seen[ref] = true
		// Read through the version the API server prefers: the one the
		// entry was applied with (v) may no longer be served.
		if cgvr.Version, err = version(cgvr); err != nil {
			return err
		}
		if err := expand(ctx, dc, child, cgvr, cns, cname, seen, version); err != nil {
			return err
		}
	}
	slices.SortStableFunc(n.children, func(a, b *node) int { return strings.Compare(a.ref, b.ref) })
	return nil
}

// printTree writes the tree, its notes coloured by p: a missing object in
// red, a cycle in yellow.
func printTree(w io.Writer, root *node, p painter) {
	printLine(w, root.ref+noteOf(root, p))
	printChildren(w, root.children, "", p)
}

func noteOf(n *node, p painter) string {
	switch n.note {
	case "":
		return ""
	case noteNotFound:
		return " " + p.paint(red, n.note)
	case noteCycle:
		return " " + p.paint(yellow, n.note)
	}
	return " " + n.note
}

func printChildren(w io.Writer, children []*node, prefix string, p painter) {
	for i, c := range children {
		branch, next := "├── ", "│   "
		if i == len(children)-1 {
			branch, next = "└── ", "    "
		}
		printLine(w, prefix+branch+c.ref+noteOf(c, p))
		printChildren(w, c.children, prefix+next, p)
	}
}
