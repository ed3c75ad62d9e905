package builder

import (
	"context"
	"testing"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/distribution"
)

// BenchmarkBuild measures one build of the embedded v2.9.5 distribution, as
// each reconcile of a FluxInstance does: a default instance, and one with
// four shards (five copies of the shardable controllers).
func BenchmarkBuild(b *testing.B) {
	for _, bc := range []struct {
		name string
		spec apiv1.FluxInstanceSpec
	}{
		{"default", defaultSpec()},
		{"shards=4", func() apiv1.FluxInstanceSpec {
			s := defaultSpec()
			s.Sharding = &apiv1.Sharding{Shards: []string{"shard1", "shard2", "shard3", "shard4"}}
			return s
		}()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var objects int
			for b.Loop() {
				res, err := Build(context.Background(), Request{Spec: &bc.spec, Distribution: distribution.Embedded()})
				if err != nil {
					b.Fatal(err)
				}
				objects = len(res.Objects)
			}
			b.ReportMetric(float64(objects), "objects")
		})
	}
}
