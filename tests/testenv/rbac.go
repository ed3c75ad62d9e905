package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// GeneratedRBAC reads config/rbac/<component>/role.yaml, the ClusterRole and
// the Role generated from a binary's RBAC markers (component is installer,
// reporter, exporter or web).
func GeneratedRBAC(component string) (*rbacv1.ClusterRole, *rbacv1.Role, error) {
	path := filepath.Join(RepoRoot(), "config", "rbac", component, "role.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var cr *rbacv1.ClusterRole
	var role *rbacv1.Role
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			break
		}
		switch u.GetKind() {
		case "ClusterRole":
			cr = &rbacv1.ClusterRole{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, cr); err != nil {
				return nil, nil, err
			}
		case "Role":
			role = &rbacv1.Role{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, role); err != nil {
				return nil, nil, err
			}
		}
	}
	if cr == nil || role == nil {
		return nil, nil, fmt.Errorf("%s must hold a ClusterRole and a Role", path)
	}
	return cr, role, nil
}

// Bind creates cr, role (in namespace ns) and bindings of both to user.
func Bind(ctx context.Context, c client.Client, user, ns string, cr *rbacv1.ClusterRole, role *rbacv1.Role) error {
	role.Namespace = ns
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: user, APIGroup: rbacv1.GroupName}}
	for _, o := range []client.Object{
		cr, role,
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: cr.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name},
			Subjects:   subject,
		},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects:   subject,
		},
	} {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("failed to create %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}
