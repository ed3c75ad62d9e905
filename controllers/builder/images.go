package builder

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/fluxops/flux-operator/controllers/distribution"
)

// registryVariants are the registries whose image variant is known.
var registryVariants = map[string]string{
	"fluxcd":                                        "upstream-alpine",
	"ghcr.io/fluxcd":                                "upstream-alpine",
	"docker.io/fluxcd":                              "upstream-alpine",
	"ghcr.io/controlplaneio-fluxcd/alpine":          "enterprise-alpine",
	"ghcr.io/controlplaneio-fluxcd/distroless":      "enterprise-distroless",
	"ghcr.io/controlplaneio-fluxcd/distroless-fips": "enterprise-distroless-fips",
}

// image is one component's image.
type image struct {
	Component, Repository, Tag, Digest string
}

// images returns the images of the components: from the variant's image list
// of the release (tags and digests), or, for a registry whose variant is
// unknown and not given (a mirror), the tags of the release without digests,
// with a warning saying so.
func images(fsys fs.FS, version, registry, variant string, comps []string, manifestTags map[string]string) ([]image, []string, error) {
	registry = strings.TrimSuffix(registry, "/")
	var warnings []string
	implied := variant == ""
	if implied {
		variant = registryVariants[registry]
	}
	byName := map[string]types.Image{}
	if variant == "" {
		warnings = append(warnings, fmt.Sprintf("spec.distribution.registry %q has no known image variant and spec.distribution.variant "+
			"is empty: the images are %s/<component> with the tags of Flux %s and no digest; set spec.distribution.variant "+
			"to pin the digests of a variant", registry, registry, version))
	} else {
		file := path.Join(distribution.ImagesDir, version, variant+".yaml")
		data, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, nil, missingVariant(fsys, version, registry, variant, implied)
		}
		var list struct {
			Images []types.Image `json:"images"`
		}
		if err := yaml.Unmarshal(data, &list); err != nil {
			return nil, nil, fmt.Errorf("the image list %s is not valid: %w", file, err)
		}
		for _, img := range list.Images {
			byName[path.Base(img.Name)] = img
		}
	}
	out := make([]image, 0, len(comps))
	var missing, unpinned []string
	for _, c := range comps {
		img := image{Component: c, Repository: registry + "/" + c}
		if variant == "" {
			img.Tag = manifestTags[c]
		} else if li, ok := byName[c]; ok {
			img.Tag, img.Digest = li.NewTag, li.Digest
			if img.Digest == "" {
				unpinned = append(unpinned, c+":"+img.Tag)
			}
		} else {
			missing = append(missing, c)
		}
		out = append(out, img)
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("the %s image list of Flux %s has no image for %s", variant, version, strings.Join(missing, ", "))
	}
	if len(unpinned) > 0 {
		warnings = append(warnings, fmt.Sprintf("the %s image list of Flux %s has no digest for %s: these images are pulled "+
			"by tag; a distribution artifact whose image list has their digests pins them", variant, version, strings.Join(unpinned, ", ")))
	}
	return out, warnings, nil
}

// missingVariant says which variants the distribution has image lists for
// when it has none for variant (given, or implied by the registry when
// implied), and how to get one: the enterprise variants' lists come with a
// distribution artifact that carries them, not in the embedded distribution.
func missingVariant(fsys fs.FS, version, registry, variant string, implied bool) error {
	dir := path.Join(distribution.ImagesDir, version)
	var have []string
	entries, _ := fs.ReadDir(fsys, dir)
	for _, e := range entries {
		if v, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && !e.IsDir() {
			have = append(have, v)
		}
	}
	what := fmt.Sprintf("spec.distribution.variant %q", variant)
	if implied {
		what = fmt.Sprintf("spec.distribution.registry %q (variant %s)", registry, variant)
	}
	has := "no image list"
	if len(have) > 0 {
		has = "image lists for " + strings.Join(have, ", ") + " only"
	}
	return fmt.Errorf("%s: the Flux distribution in use has %s for %s in %s; set spec.distribution.artifact "+
		"(or the installer's --manifests-path) to a distribution that lists the %s images, or use a variant it has",
		what, has, version, dir, variant)
}
