package metrics

import (
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/fluxops/flux-operator/internal/fluxobj"
)

// text inflates segments one by one and joins their text, checking the
// length and CRC each says its text has; inflated joins their DEFLATE
// blocks and inflates them as one stream.
func text(t testing.TB, segs []Segment) string {
	t.Helper()
	var b []byte
	for i, s := range segs {
		start := len(b)
		var err error
		if b, err = appendText(b, s.Z, s.Len); err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		if crc := crc32.ChecksumIEEE(b[start:]); crc != s.CRC {
			t.Fatalf("segment %d: its text's CRC is %08x, it says %08x", i, crc, s.CRC)
		}
	}
	return string(b)
}

// deepCopy copies segments and their blocks.
func deepCopy(segs []Segment) []Segment {
	out := slices.Clone(segs)
	for i := range out {
		out[i].Z = bytes.Clone(out[i].Z)
	}
	return out
}

// sameSegments tells whether segs are byte for byte kept.
func sameSegments(segs, kept []Segment) bool {
	return slices.EqualFunc(segs, kept, func(a, b Segment) bool {
		return a.Len == b.Len && a.CRC == b.CRC && bytes.Equal(a.Z, b.Z)
	})
}

func inflated(t *testing.T, segs []Segment) string {
	t.Helper()
	var z bytes.Buffer
	for _, s := range segs {
		z.Write(s.Z)
	}
	z.Write([]byte{1, 0, 0, 0xff, 0xff}) // a final empty stored block
	out, err := io.ReadAll(flate.NewReader(&z))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// After random sequences of adds, updates and deletes of objects, the
// incremental exposition is byte for byte a full render of the series now
// there, and its DEFLATE blocks inflate to it; segments handed out earlier
// keep their text.
func TestIncrementalEqualsAFullRender(t *testing.T) {
	pool := variedSeries(t) // 300 objects of every kind, with escapes and a not-ready gauge for some
	// Group the series by object: an object's info series and its not-ready
	// series, if any, come one after the other.
	var objects [][]Series
	for i := 0; i < len(pool); i++ {
		o := []Series{pool[i]}
		if i+1 < len(pool) && pool[i+1].shape.family == ResourceNotReadySinceName {
			o = append(o, pool[i+1])
			i++
		}
		objects = append(objects, o)
	}
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed))
			r := NewRendered()
			r.chunk = 512 + rng.IntN(4096) // small chunks: many splits and removals
			present := map[int][]Series{}
			// Some start with a full build, some from nothing.
			if seed%2 == 0 {
				var all []Series
				for i := 0; i < len(objects)/2; i++ {
					present[i] = objects[i]
					all = append(all, objects[i]...)
				}
				r.Reset(all)
			}
			var frozen, frozenCopy []Segment
			var frozenText string
			for step := 0; step < 400; step++ {
				i := rng.IntN(len(objects))
				old, ok := present[i]
				switch op := rng.IntN(3); {
				case !ok || op == 0: // add, or replace by another object's series (an update)
					for j := range old {
						if !r.Remove(&old[j]) {
							t.Fatalf("step %d: the series of object %d were not there", step, i)
						}
					}
					next := objects[i]
					if ok {
						next = objects[rng.IntN(len(objects))]
						if _, taken := present[indexOf(objects, next)]; taken && indexOf(objects, next) != i {
							next = objects[i]
						}
					}
					for j := range next {
						if !r.Add(&next[j]) {
							t.Fatalf("step %d: a series of object %d was there already", step, i)
						}
					}
					delete(present, i)
					present[indexOf(objects, next)] = next
				default: // delete
					for j := range old {
						if !r.Remove(&old[j]) {
							t.Fatalf("step %d: the series of object %d were not there", step, i)
						}
					}
					delete(present, i)
				}
				if step%37 == 0 || step == 399 {
					segs, n := r.Segments()
					var all []Series
					for _, s := range present {
						all = append(all, s...)
					}
					if n != len(all) || r.Len() != len(all) {
						t.Fatalf("step %d: %d series counted, %d there", step, n, len(all))
					}
					want := string(Render(all))
					if got := text(t, segs); got != want {
						t.Fatalf("step %d: the incremental exposition differs from a full render:\n%s", step, firstDiff(got, want))
					}
					if got := inflated(t, segs); got != want {
						t.Fatalf("step %d: the DEFLATE blocks do not inflate to the text", step)
					}
					if frozen != nil && (!sameSegments(frozen, frozenCopy) || text(t, frozen) != frozenText) {
						t.Fatalf("step %d: segments handed out earlier changed", step)
					}
					frozen, frozenCopy, frozenText = segs, deepCopy(segs), want
				}
			}
		})
	}
}

// A segment handed out stays byte for byte what it was after later changes
// to its chunk: removals, additions, a split, a look-up that changes nothing,
// with and without a Segments call in between; and the chunks hold no text
// once Segments has compressed them.
func TestHandedOutSegmentsStayAsTheyAre(t *testing.T) {
	series := variedSeries(t)
	r := NewRendered()
	r.chunk = 2048
	r.Reset(series[:len(series)/2])
	first, _ := r.Segments()
	firstCopy, firstText := deepCopy(first), text(t, first)
	if firstText != string(Render(series[:len(series)/2])) {
		t.Fatal("the first segments are not the render")
	}
	present := slices.Clone(series[:len(series)/2])
	// Change every chunk: remove every third series, add the rest, look up
	// one that is there.
	var removed []Series
	for i := 0; i < len(present); i += 3 {
		if !r.Remove(&present[i]) {
			t.Fatalf("series %d was not there", i)
		}
		removed = append(removed, present[i])
	}
	if r.Add(&present[1]) {
		t.Fatal("a series was added twice")
	}
	second, _ := r.Segments()
	secondCopy := deepCopy(second)
	for i := len(series) / 2; i < len(series); i++ {
		if !r.Add(&series[i]) {
			t.Fatalf("series %d was there already", i)
		}
	}
	for i := range removed {
		if !r.Add(&removed[i]) {
			t.Fatal("a removed series was there")
		}
	}
	third, n := r.Segments()
	if n != len(series) || text(t, third) != string(Render(series)) {
		t.Fatalf("%d series: the exposition differs from a full render", n)
	}
	if !sameSegments(first, firstCopy) || text(t, first) != firstText {
		t.Fatal("the first segments changed")
	}
	if !sameSegments(second, secondCopy) {
		t.Fatal("the second segments changed")
	}
	for _, f := range r.families {
		for _, c := range f.chunks {
			if c.open || c.text != nil || c.ends != nil {
				t.Fatal("a chunk keeps its text after Segments")
			}
		}
	}
}

func indexOf(objects [][]Series, o []Series) int {
	for i := range objects {
		if &objects[i][0] == &o[0] {
			return i
		}
	}
	return -1
}

// A series that is there already is not added twice; one that is not there,
// or is there with another value, is not removed.
func TestAddAndRemoveRefuseWhatIsNotThere(t *testing.T) {
	series := variedSeries(t)
	r := NewRendered()
	r.Reset(series[:10])
	if r.Add(&series[3]) {
		t.Error("a series was added twice")
	}
	if r.Remove(&series[20]) {
		t.Error("a series that is not there was removed")
	}
	changed := series[3]
	changed.value = 42
	if r.Remove(&changed) {
		t.Error("a series with another value was removed")
	}
	if segs, n := r.Segments(); n != 10 || text(t, segs) != string(Render(series[:10])) {
		t.Errorf("the exposition changed: %d series", n)
	}
}

// A random version of object i of a kind: ready, failing or progressing
// since various times, without a condition, suspended, relabelled, with a
// new revision, or recreated with a new UID.
func randomObject(t *testing.T, b *ResourceBuilder, rng *rand.Rand, kind string, i int) *fluxobj.Object {
	t.Helper()
	spec := map[string]any{"path": fmt.Sprintf("./apps/%d", rng.IntN(3)), "sourceRef": map[string]any{"name": "fleet"},
		"url": "https://git.example.com/repo", "ref": map[string]any{"branch": "main"}}
	if rng.IntN(8) == 0 {
		spec["suspend"] = true
	}
	status := map[string]any{"lastAttemptedRevision": fmt.Sprintf("main@sha1:%d", rng.IntN(4))}
	switch rng.IntN(5) {
	case 0:
		status["conditions"] = []any{map[string]any{"type": "Ready", "status": "False", "reason": "Failed \"x\"",
			"lastTransitionTime": fmt.Sprintf("2026-03-04T10:%02d:00Z", rng.IntN(60))}}
	case 1:
		status["conditions"] = []any{map[string]any{"type": "Ready", "status": "Unknown", "reason": "Progressing",
			"lastTransitionTime": fmt.Sprintf("2026-03-04T11:%02d:00Z", rng.IntN(60))}}
	case 2: // no condition
	default:
		status["conditions"] = []any{map[string]any{"type": "Ready", "status": "True", "reason": "Succeeded\nok"}}
	}
	labels := map[string]any{"team": fmt.Sprintf("t%d", rng.IntN(3))}
	u := fluxWithLabels(kind, spec, status, labels)
	u.SetName(fmt.Sprintf("obj-%d", i))
	u.SetNamespace(fmt.Sprintf("ns-%d", i%4))
	u.SetUID(types.UID(fmt.Sprintf("uid-%d-%d", i, rng.IntN(2)))) // sometimes recreated
	return b.compactor.Compact(u.Object)
}

// Update, after random sequences of adds, updates and deletes, leaves the
// same series, rendered the same, and the same not-ready times as a full
// build of the objects now there from the previous full build.
func TestUpdateEqualsAFullBuild(t *testing.T) {
	allow, err := ParseAllowlist("team")
	if err != nil {
		t.Fatal(err)
	}
	b := NewResourceBuilder(allow)
	for seed := uint64(1); seed <= 10; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			kind := []string{"Kustomization", "GitRepository", "Alert"}[seed%3]
			cluster := map[types.NamespacedName]*fluxobj.Object{}
			for i := 0; i < 60; i++ {
				o := randomObject(t, b, rng, kind, i)
				cluster[types.NamespacedName{Namespace: o.Namespace, Name: o.Name}] = o
			}
			objects := func() []*fluxobj.Object {
				out := make([]*fluxobj.Object, 0, len(cluster))
				for _, o := range cluster {
					out = append(out, o)
				}
				return out
			}
			full := b.BuildObjects(objects(), nil)
			inc := b.BuildObjects(objects(), nil)
			r := NewRendered()
			r.chunk = 1024
			r.Reset(inc.Series)
			inc.Series = nil
			for step := 0; step < 60; step++ {
				changed := map[types.NamespacedName]*fluxobj.Object{}
				for n := rng.IntN(6); n >= 0; n-- {
					i := rng.IntN(80) // some keys never existed
					key := types.NamespacedName{Namespace: fmt.Sprintf("ns-%d", i%4), Name: fmt.Sprintf("obj-%d", i)}
					if rng.IntN(4) == 0 {
						delete(cluster, key)
						changed[key] = nil
					} else {
						cluster[key] = randomObject(t, b, rng, kind, i)
						changed[key] = cluster[key]
					}
				}
				if !b.Update(inc, r, changed) {
					t.Fatalf("step %d: Update found the rendered series out of step", step)
				}
				full = b.BuildObjects(objects(), full)
				segs, n := r.Segments()
				if want := string(Render(full.Series)); text(t, segs) != want || n != len(full.Series) {
					t.Fatalf("step %d: the updated exposition differs from a full build's:\n%s", step, firstDiff(text(t, segs), want))
				}
				if !maps.Equal(inc.NotReady, full.NotReady) {
					t.Fatalf("step %d: not-ready times %v, a full build has %v", step, inc.NotReady, full.NotReady)
				}
				if len(inc.All()) != len(cluster) {
					t.Fatalf("step %d: %d objects kept, %d there", step, len(inc.All()), len(cluster))
				}
			}
		})
	}
}

// The cost of a refresh after one object changed, at 50,000 objects: the
// update of its series and the segments handed out, against a full render
// and compression.
func BenchmarkOneChangeAt50000(b *testing.B) {
	allow, _ := ParseAllowlist("team")
	bl := NewResourceBuilder(allow)
	t := &testing.T{}
	rng := rand.New(rand.NewPCG(1, 2))
	objs := make([]*fluxobj.Object, 50000)
	for i := range objs {
		objs[i] = randomObject(t, bl, rng, "Kustomization", i)
	}
	ks := bl.BuildObjects(objs, nil)
	b.Run("update", func(b *testing.B) {
		r := NewRendered()
		r.Reset(ks.Series)
		r.Segments()
		// A copy: Update changes the objects it holds, which must stay those
		// of ks.Series when the benchmark runs again.
		inc := bl.BuildObjects(slices.Clone(objs), nil)
		inc.Series = nil
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			o := randomObject(t, bl, rng, "Kustomization", rng.IntN(len(objs)))
			if !bl.Update(inc, r, map[types.NamespacedName]*fluxobj.Object{{Namespace: o.Namespace, Name: o.Name}: o}) {
				b.Fatal("out of step")
			}
			r.Segments()
		}
	})
	b.Run("full", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			text := Render(ks.Series)
			deflateBlocks(text)
		}
	})
}
