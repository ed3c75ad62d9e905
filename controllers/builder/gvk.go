package builder

import "sigs.k8s.io/kustomize/kyaml/resid"

func gvk(group, kind string) resid.Gvk { return resid.Gvk{Group: group, Kind: kind} }

func gvkOf(group, version, kind string) resid.Gvk {
	return resid.Gvk{Group: group, Version: version, Kind: kind}
}
