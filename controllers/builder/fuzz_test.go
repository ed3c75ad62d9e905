package builder

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"sigs.k8s.io/yaml"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/distribution"
)

// refuseTransport counts and refuses every HTTP request.
type refuseTransport struct{ n *atomic.Int64 }

func (rt refuseTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.n.Add(1)
	return nil, fmt.Errorf("the build must not fetch %s", r.URL)
}

// FuzzBuild builds arbitrary FluxInstance specs (as YAML) from the embedded
// distribution: the build must never panic, never make an HTTP request and
// never run a program (git, helm) — whatever the spec says, it reads only
// its in-memory tree.
func FuzzBuild(f *testing.F) {
	names := make([]string, 0, len(goldenCases()))
	for name := range goldenCases() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		spec := defaultSpec()
		goldenCases()[name](&spec)
		data, err := yaml.Marshal(spec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"distribution: {version: 2.x, registry: ghcr.io/fluxcd}\nsharding: {shards: [https://attacker.example/x.yaml]}\n",
		"distribution: {version: 2.x, registry: ghcr.io/fluxcd}\nsharding: {shards: [github.com/attacker/repo]}\n",
		"distribution: {version: 2.x, registry: ghcr.io/fluxcd}\nsharding: {shards: [../../..], key: 'a b'}\n",
		"distribution: {version: 2.x, registry: ghcr.io/fluxcd}\ncluster: {domain: 'x/y?z', size: large}\n",
		"distribution: {version: 2.6.x, registry: r}\nkustomize: {patches: [{patch: 'resources: [https://attacker.example/x.yaml]'}]}\n",
		"distribution: {version: 2.x, registry: r}\nkustomize: {patches: [{patch: \"apiVersion: v1\\nkind: Namespace\\nmetadata: {name: x}\\n\", target: {name: '(a'}}]}\n",
	} {
		f.Add([]byte(s))
	}

	fetches := &atomic.Int64{}
	saved := http.DefaultTransport
	http.DefaultTransport = refuseTransport{fetches}
	f.Cleanup(func() { http.DefaultTransport = saved })
	// Programs kustomize could run record themselves and fail.
	dir := f.TempDir()
	runs := filepath.Join(dir, "runs.log")
	for _, prog := range []string{"git", "helm", "kustomize"} {
		script := "#!/bin/sh\necho " + prog + " >> " + runs + "\nexit 1\n"
		if err := os.WriteFile(filepath.Join(dir, prog), []byte(script), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	savedPath := os.Getenv("PATH")
	if err := os.Setenv("PATH", dir+":/bin:/usr/bin"); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = os.Setenv("PATH", savedPath) })

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // the API server refuses larger objects long before
		}
		var spec apiv1.FluxInstanceSpec
		if err := yaml.Unmarshal(data, &spec); err != nil {
			return
		}
		res, err := Build(context.Background(), Request{Spec: &spec, Name: "flux", Namespace: "flux-system",
			Distribution: distribution.Embedded()})
		if n := fetches.Load(); n > 0 {
			t.Fatalf("the build made %d HTTP requests for the spec:\n%s", n, data)
		}
		if ran, _ := os.ReadFile(runs); len(ran) > 0 {
			t.Fatalf("the build ran %s for the spec:\n%s", strings.TrimSpace(string(ran)), data)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("an empty error for the spec:\n%s", data)
			}
			return
		}
		if len(res.Objects) == 0 || !strings.HasPrefix(res.Revision, res.Version+"@sha256:") {
			t.Fatalf("a build without objects or revision (%q) for the spec:\n%s", res.Revision, data)
		}
	})
}
