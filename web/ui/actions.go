package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// Actions a signed-in user can take on an object.
const (
	ActionReconcile = "reconcile"
	ActionSuspend   = "suspend"
	ActionResume    = "resume"
)

// patchFor returns the merge patch of an action on an object of kind, as
// the Flux CLI and the Flux Operator write it: a reconcile request is the
// requestedAt annotation; suspending a FluxInstance is its reconcile
// annotation, any other Flux object its spec.suspend; resuming also asks for
// a reconcile.
func patchFor(kind, action string, now time.Time) (map[string]any, error) {
	requested := map[string]any{apiv1.ReconcileRequestAnnotation: now.Format(time.RFC3339Nano)}
	switch action {
	case ActionReconcile:
		return map[string]any{"metadata": map[string]any{"annotations": requested}}, nil
	case ActionSuspend, ActionResume:
		suspend := action == ActionSuspend
		if kind == "FluxInstance" {
			ann := map[string]any{apiv1.ReconcileAnnotation: apiv1.EnabledValue}
			if suspend {
				ann[apiv1.ReconcileAnnotation] = apiv1.DisabledValue
			} else {
				ann[apiv1.ReconcileRequestAnnotation] = requested[apiv1.ReconcileRequestAnnotation]
			}
			return map[string]any{"metadata": map[string]any{"annotations": ann}}, nil
		}
		p := map[string]any{"spec": map[string]any{"suspend": suspend}}
		if !suspend {
			p["metadata"] = map[string]any{"annotations": requested}
		}
		return p, nil
	}
	return nil, fmt.Errorf("unknown action %q: use reconcile, suspend or resume", action)
}

// act patches an object as the signed-in user, with the user's own token:
// the API server's RBAC decides, and its audit log names the user.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := s.Auth.Authenticate(r)
	if err != nil {
		http.Error(w, err.Error(), reviewCode(err))
		return
	}
	if !s.Auth.CheckFormToken(r, u) {
		http.Error(w, "Forbidden: the form was not served by this UI to you; reload the page and try again", http.StatusForbidden)
		return
	}
	kindName, ns, name, action := r.PathValue("kind"), r.PathValue("namespace"), r.PathValue("name"), r.PathValue("action")
	back := resourceURL(kindName, ns, name)
	done := func(class, msg string) {
		http.Redirect(w, r, back+"?"+url.Values{"notice": {msg}, "noticeClass": {class}}.Encode(), http.StatusSeeOther)
	}
	kinds, err := s.Catalog.FluxKinds(ctx)
	if err != nil {
		done("error", err.Error())
		return
	}
	k, ok := KindNamed(kinds, kindName)
	if !ok {
		http.Error(w, kindName+" is not a Flux kind this cluster serves", http.StatusNotFound)
		return
	}
	patch, err := patchFor(kindName, action, time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body, err := json.Marshal(patch)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	dc, err := s.Auth.ClientFor(u)
	if err != nil {
		done("error", err.Error())
		return
	}
	_, err = dc.Resource(k.GVK.GroupVersion().WithResource(k.Resource)).Namespace(ns).
		Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: "flux-operator-web"})
	switch {
	case apierrors.IsForbidden(err):
		s.Log.Info("action refused by RBAC", "user", u.Name(), "action", action, "kind", kindName, "namespace", ns, "name", name)
		done("error", fmt.Sprintf("%s refused: user %s may not patch %s.%s in namespace %s (RBAC: patch on %s)",
			action, u.Name(), k.Resource, k.GVK.Group, ns, k.Resource))
	case err != nil:
		done("error", fmt.Sprintf("%s failed: %v", action, err))
	default:
		s.Log.Info("action", "user", u.Name(), "action", action, "kind", kindName, "namespace", ns, "name", name)
		done("ok", fmt.Sprintf("%s requested by %s", action, u.Name()))
	}
}
