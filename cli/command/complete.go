package command

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// Shell completion (cobra's `completion` command writes the scripts; they
// call `flux-operator __complete ARGS... WORD`). What is completed from the
// cluster is what the commands accept: the kinds the FluxReport lists and
// the API server serves, and the names of the objects in -n's namespace.
// When the cluster does not answer, the completion is empty: the shells
// discard __complete's stderr, where cobra.CompDebugln writes only with
// BASH_COMP_DEBUG_FILE set.

// completionTimeout bounds what one completion may take: a shell waits for it.
const completionTimeout = 5 * time.Second

func (o *options) completionContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), min(o.timeout, completionTimeout))
}

// mustComplete registers a flag's completion; it fails only for a flag that
// does not exist or has one already, which every test of the commands finds.
func mustComplete(cmd *cobra.Command, flag string, f cobra.CompletionFunc) {
	if err := cmd.RegisterFlagCompletionFunc(flag, f); err != nil {
		panic(err)
	}
}

// completeNamespaceFlags completes -n and --operator-namespace with the
// cluster's namespaces.
func (o *options) completeNamespaceFlags(root *cobra.Command) {
	mustComplete(root, "namespace", o.completeNamespaces)
	mustComplete(root, "operator-namespace", o.completeNamespaces)
}

func (o *options) completeNamespaces(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel := o.completionContext()
	defer cancel()
	cfg, err := o.restConfig()
	if err != nil {
		return completionFailed(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return completionFailed(err)
	}
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return completionFailed(err)
	}
	names := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	return matching(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeKinds completes get resources' KIND with the kinds it accepts.
func (o *options) completeKinds(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := o.completionContext()
	defer cancel()
	kinds, err := o.kinds(ctx)
	if err != nil {
		return completionFailed(err)
	}
	names := make([]string, 0, len(kinds))
	for _, k := range kinds {
		names = append(names, strings.ToLower(k.gvk.Kind))
	}
	return matching(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// targetCompletion completes the one argument of a command that resolves
// words (instance, report) or KIND/NAME, KIND one of the kinds for which
// only is true.
func (o *options) targetCompletion(words []string, only func(fluxKind) bool) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return o.completeTarget(words, only, toComplete)
	}
}

// completeTarget completes words and KIND/ until a slash is typed, then
// KIND/NAME with the names of that kind's objects in the namespace the
// command would look in. KIND/ is completed without a space after it.
func (o *options) completeTarget(words []string, only func(fluxKind) bool, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel := o.completionContext()
	defer cancel()
	kindName, _, typedSlash := strings.Cut(toComplete, "/")
	kinds, err := o.kinds(ctx)
	if !typedSlash {
		out := slices.Clone(words)
		if err != nil {
			cobra.CompDebugln(err.Error(), false)
		}
		for _, k := range kinds {
			if only(k) {
				out = append(out, strings.ToLower(k.gvk.Kind)+"/")
			}
		}
		out = matching(out, toComplete)
		directive := cobra.ShellCompDirectiveNoFileComp
		if slices.ContainsFunc(out, func(c string) bool { return strings.HasSuffix(c, "/") }) {
			directive |= cobra.ShellCompDirectiveNoSpace
		}
		return out, directive
	}
	if err != nil {
		return completionFailed(err)
	}
	k, ok := kindNamed(kinds, kindName)
	if !ok || !only(k) {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	objects, err := o.listResources(ctx, []fluxKind{k}, o.namespace())
	if err != nil {
		return completionFailed(err)
	}
	out := make([]string, 0, len(objects))
	for _, r := range objects {
		out = append(out, kindName+"/"+r.Name)
	}
	return matching(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// anyFluxKind is every kind but the FluxInstance, which `instance` names.
func anyFluxKind(k fluxKind) bool { return k.gvk.Kind != apiv1.FluxInstanceKind }

// inventoryKind is a kind whose inventory tree follows.
func inventoryKind(k fluxKind) bool {
	gr := k.gvr.GroupResource()
	return gr == kustomizationGVR.GroupResource() || gr == helmReleaseGVR.GroupResource()
}

// matching are the candidates that start with what was typed, in any case,
// sorted.
func matching(candidates []string, toComplete string) []cobra.Completion {
	prefix := strings.ToLower(toComplete)
	out := make([]cobra.Completion, 0, len(candidates))
	for _, c := range candidates {
		if strings.HasPrefix(strings.ToLower(c), prefix) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

func completionFailed(err error) ([]cobra.Completion, cobra.ShellCompDirective) {
	cobra.CompDebugln(err.Error(), false)
	return nil, cobra.ShellCompDirectiveError
}
