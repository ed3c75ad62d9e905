// Package builder turns a FluxInstance into the Flux objects to apply: it
// resolves the Flux release, generates a kustomization over that release's
// files of the distribution tree (namespace, labels, images, cluster
// profile, sharding, storage, sync, the user's patches last), builds it with
// kustomize in memory and returns the objects in server-side apply order,
// with the revision <version>@sha256:<digest of the built YAML> and the
// components' images.
package builder
