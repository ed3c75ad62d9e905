package command

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// target is the object an action works on.
type target struct {
	kind, namespace, name string
	gvr                   schema.GroupVersionResource
}

func (t target) String() string { return t.kind + " " + t.namespace + "/" + t.name }

var (
	instanceGVR = apiv1.GroupVersion.WithResource("fluxinstances")
	reportGVR   = apiv1.GroupVersion.WithResource("fluxreports")
)

// resolve turns "instance", "report" or KIND/NAME into a target.
func (o *options) resolve(ctx context.Context, arg string, allowReport bool) (target, error) {
	switch strings.ToLower(arg) {
	case "instance", "fluxinstance", "fluxinstance/flux":
		return target{kind: apiv1.FluxInstanceKind, namespace: o.operatorNamespace(), name: apiv1.DefaultName, gvr: instanceGVR}, nil
	case "report", "fluxreport", "fluxreport/flux":
		if !allowReport {
			return target{}, usagef("the FluxReport cannot be suspended or resumed here: annotate it with %s=%s",
				apiv1.ReconcileAnnotation, apiv1.DisabledValue)
		}
		return target{kind: "FluxReport", namespace: o.operatorNamespace(), name: apiv1.DefaultName, gvr: reportGVR}, nil
	}
	kindName, name, ok := strings.Cut(arg, "/")
	if !ok || kindName == "" || name == "" {
		return target{}, usagef("%q: give instance, report or KIND/NAME (e.g. kustomization/apps)", arg)
	}
	kinds, err := o.kinds(ctx)
	if err != nil {
		return target{}, err
	}
	k, found := kindNamed(kinds, kindName)
	if !found {
		return target{}, usagef("%q is not a Flux kind this cluster serves; the report lists: %s", kindName, kindNames(kinds))
	}
	return target{kind: k.gvk.Kind, namespace: o.namespace(), name: name, gvr: k.gvr}, nil
}

// patch merges p into the object, and says plainly when it is not there.
func (o *options) patch(ctx context.Context, t target, p map[string]any) (*unstructured.Unstructured, error) {
	dc, err := o.dynamic()
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	u, err := dc.Resource(t.gvr).Namespace(t.namespace).Patch(ctx, t.name, types.MergePatchType, body,
		metav1.PatchOptions{FieldManager: "flux-operator-cli"})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s does not exist", t)
	}
	return u, err
}

func annotations(kv ...string) map[string]any {
	a := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		a[kv[i]] = kv[i+1]
	}
	return map[string]any{"metadata": map[string]any{"annotations": a}}
}

func newReconcileCommand(o *options) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "reconcile instance|report|KIND/NAME",
		Short: "Ask for a reconciliation now (reconcile.fluxcd.io/requestedAt) and, with --wait, say how it ended",
		Example: `  flux-operator reconcile instance --wait
  flux-operator reconcile kustomization/apps -n apps --wait --timeout 5m`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.targetCompletion([]string{"instance", "report"}, anyFluxKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := o.context()
			defer cancel()
			t, err := o.resolve(ctx, args[0], true)
			if err != nil {
				return err
			}
			return o.reconcile(ctx, cmd, t, wait, nil)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "Wait until the object has handled the request, and exit 0 only when it is Ready.")
	return cmd
}

// reconcile sets the request annotation, with extra merged in, and waits
// for its outcome when asked.
func (o *options) reconcile(ctx context.Context, cmd *cobra.Command, t target, wait bool, extra map[string]any) error {
	token := time.Now().Format(time.RFC3339Nano)
	p := annotations(apiv1.ReconcileRequestAnnotation, token)
	for k, v := range extra {
		if k == "metadata" {
			for ak, av := range v.(map[string]any)["annotations"].(map[string]any) {
				p["metadata"].(map[string]any)["annotations"].(map[string]any)[ak] = av
			}
			continue
		}
		p[k] = v
	}
	if _, err := o.patch(ctx, t, p); err != nil {
		return err
	}
	if !wait {
		printf(cmd.OutOrStdout(), "► reconciliation of %s requested\n", t)
		return nil
	}
	printf(cmd.OutOrStdout(), "◎ waiting for %s to reconcile\n", t)
	dc, err := o.dynamic()
	if err != nil {
		return err
	}
	return waitHandled(ctx, cmd, dc, t, token)
}

// waitHandled polls the object until status.lastHandledReconcileAt is
// token, then reports its Ready condition.
func waitHandled(ctx context.Context, cmd *cobra.Command, dc dynamic.Interface, t target, token string) error {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		u, err := dc.Resource(t.gvr).Namespace(t.namespace).Get(ctx, t.name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
			return err
		}
		if u != nil {
			handled, _, _ := unstructured.NestedString(u.Object, "status", "lastHandledReconcileAt")
			if handled == token {
				r := resourceOf(u)
				if r.Ready == "True" {
					printf(cmd.OutOrStdout(), "✔ %s reconciled: %s\n", t, orDash(r.Message))
					return nil
				}
				if r.Ready == "False" {
					return fmt.Errorf("%s failed: %s: %s", t, r.Reason, r.Message)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not finish reconciling within --timeout: see its events (kubectl -n %s events --for %s/%s)",
				t, t.namespace, strings.ToLower(t.kind), t.name)
		case <-tick.C:
		}
	}
}

func newSuspendCommand(o *options, suspend bool) *cobra.Command {
	verb, short := "suspend", "Stop the reconciliation of the instance or a Flux object"
	if !suspend {
		verb, short = "resume", "Resume the reconciliation of the instance or a Flux object, and ask for one now"
	}
	var wait bool
	cmd := &cobra.Command{
		Use:               verb + " instance|KIND/NAME",
		Short:             short,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.targetCompletion([]string{"instance"}, anyFluxKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := o.context()
			defer cancel()
			t, err := o.resolve(ctx, args[0], false)
			if err != nil {
				return err
			}
			var p map[string]any
			if t.kind == apiv1.FluxInstanceKind {
				v := apiv1.DisabledValue
				if !suspend {
					v = apiv1.EnabledValue
				}
				p = annotations(apiv1.ReconcileAnnotation, v)
			} else {
				p = map[string]any{"spec": map[string]any{"suspend": suspend}}
			}
			if suspend {
				if _, err := o.patch(ctx, t, p); err != nil {
					return err
				}
				printf(cmd.OutOrStdout(), "✔ %s suspended\n", t)
				return nil
			}
			if err := o.reconcile(ctx, cmd, t, wait, p); err != nil {
				return err
			}
			if !wait {
				printf(cmd.OutOrStdout(), "✔ %s resumed\n", t)
			}
			return nil
		},
	}
	if !suspend {
		cmd.Flags().BoolVar(&wait, "wait", false, "Wait until the object has reconciled, and exit 0 only when it is Ready.")
	}
	return cmd
}
