// Package ui is the status web UI of flux-operator-web: server-rendered
// pages of the FluxReport, the FluxInstance, every Flux object and the Flux
// events, read from compact informer caches, that follow changes live
// through server-sent events and work without JavaScript. With
// authentication on, each user sees only what Kubernetes RBAC lets them list
// and acts (reconcile, suspend, resume) with their own token.
package ui
