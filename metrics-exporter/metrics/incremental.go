package metrics

import (
	"bytes"
	"slices"
	"sort"
)

// chunkTarget is the size of text a chunk of a rendered family holds, about
// 240 flux_resource_info lines: small enough that re-rendering and
// recompressing the chunk of one changed object costs a fraction of a
// millisecond, large enough that a scrape writes a few hundred pieces at
// 50,000 objects and the DEFLATE window (32 KiB) loses little at the seams.
const chunkTarget = 64 << 10

// Rendered keeps the resource families rendered in the text format, kept up
// to date series by series: each family is its HELP and TYPE lines and then
// its series in the registry's order, cut in chunks that each hold their
// text and their DEFLATE blocks. A change re-renders and recompresses only
// the chunks it touches; Segments hands out the result, which later changes
// never modify (a chunk is copied before it is changed once handed out).
//
// The text is byte for byte Render's for the same series
// (TestIncrementalEqualsAFullRender). Rendered is not safe for concurrent
// use; what Segments returns is, for reading.
type Rendered struct {
	families map[string]*renderedFamily
	chunk    int
}

type renderedFamily struct {
	header  Segment
	chunks  []*chunk
	series  int
	scratch []span
}

// chunk is a run of lines of a family, in order. A chunk handed out by
// Segments is frozen: it is copied before any change.
type chunk struct {
	text   []byte
	ends   []int32 // ends[i] is the end of line i in text
	z      []byte  // DEFLATE blocks of text; nil until compressed
	frozen bool
}

// Segment is a piece of the exposition: its text and the same as non-final
// DEFLATE blocks ending byte-aligned.
type Segment struct {
	Text, Z []byte
}

// NewRendered returns an empty Rendered.
func NewRendered() *Rendered {
	return &Rendered{families: map[string]*renderedFamily{}, chunk: chunkTarget}
}

// Reset replaces every series with series.
func (r *Rendered) Reset(series []Series) {
	r.families = map[string]*renderedFamily{}
	byFamily := map[string][]*Series{}
	for i := range series {
		s := &series[i]
		byFamily[s.shape.family] = append(byFamily[s.shape.family], s)
	}
	for name, rows := range byFamily {
		slices.SortFunc(rows, compareSeries)
		f := r.family(rows[0])
		// Room for a chunk's text and its last line, which is rarely more
		// than a few hundred bytes: the text is not copied to grow.
		newChunk := func() *chunk { return &chunk{text: make([]byte, 0, r.chunk+4096)} }
		c := newChunk()
		for _, s := range rows {
			c.text = appendLine(c.text, s)
			c.ends = append(c.ends, int32(len(c.text)))
			if len(c.text) >= r.chunk {
				f.chunks = append(f.chunks, c)
				c = newChunk()
			}
		}
		if len(c.ends) > 0 {
			f.chunks = append(f.chunks, c)
		}
		f.series = len(rows)
		r.families[name] = f
	}
}

func (r *Rendered) family(s *Series) *renderedFamily {
	f := r.families[s.shape.family]
	if f == nil {
		f = &renderedFamily{header: Segment{Text: familyHeader(s.shape.family, s.shape.help)}}
		f.header.Z = deflateBlocks(f.header.Text)
		r.families[s.shape.family] = f
	}
	return f
}

// Len is the number of series.
func (r *Rendered) Len() int {
	n := 0
	for _, f := range r.families {
		n += f.series
	}
	return n
}

// Add adds a series. It returns false, changing nothing, when an equal
// series (the same family and label values) is there already.
func (r *Rendered) Add(s *Series) bool {
	f := r.family(s)
	line := appendLine(nil, s)
	ci, li, found := f.find(s)
	if found {
		return false
	}
	if len(f.chunks) == 0 {
		f.chunks = []*chunk{{}}
		ci = 0
	}
	c := f.own(ci)
	at := int32(0)
	if li > 0 {
		at = c.ends[li-1]
	}
	c.text = slices.Insert(c.text, int(at), line...)
	c.ends = slices.Insert(c.ends, li, at)
	for i := li; i < len(c.ends); i++ {
		c.ends[i] += int32(len(line))
	}
	f.series++
	if len(c.text) >= 2*r.chunk {
		f.split(ci)
	}
	return true
}

// Remove removes the series equal to s (the same family and label values,
// and value). It returns false, changing nothing, when there is none.
func (r *Rendered) Remove(s *Series) bool {
	f := r.families[s.shape.family]
	if f == nil {
		return false
	}
	ci, li, found := f.find(s)
	if !found {
		return false
	}
	c := f.chunks[ci]
	start := int32(0)
	if li > 0 {
		start = c.ends[li-1]
	}
	if !bytes.Equal(c.text[start:c.ends[li]], appendLine(nil, s)) {
		return false // the same labels with another value: not this series
	}
	c = f.own(ci)
	n := c.ends[li] - start
	c.text = slices.Delete(c.text, int(start), int(c.ends[li]))
	c.ends = slices.Delete(c.ends, li, li+1)
	for i := li; i < len(c.ends); i++ {
		c.ends[i] -= n
	}
	f.series--
	if len(c.ends) == 0 {
		f.chunks = slices.Delete(f.chunks, ci, ci+1)
	}
	if f.series == 0 {
		delete(r.families, s.shape.family)
	}
	return true
}

// Segments compresses the chunks changed since the last call and returns
// the exposition as segments, families in name order, and the number of
// series. The segments are never modified afterwards.
func (r *Rendered) Segments() ([]Segment, int) {
	names := make([]string, 0, len(r.families))
	size := 0
	for name, f := range r.families {
		names = append(names, name)
		size += 1 + len(f.chunks)
	}
	sort.Strings(names)
	out := make([]Segment, 0, size)
	n := 0
	for _, name := range names {
		f := r.families[name]
		out = append(out, f.header)
		for _, c := range f.chunks {
			if c.z == nil {
				c.z = deflateBlocks(c.text)
			}
			c.frozen = true
			out = append(out, Segment{Text: c.text, Z: c.z})
		}
		n += f.series
	}
	return out, n
}

// own returns chunk i ready to be changed: a copy when it was handed out.
func (f *renderedFamily) own(i int) *chunk {
	c := f.chunks[i]
	if c.frozen {
		c = &chunk{text: slices.Clone(c.text), ends: slices.Clone(c.ends)}
		f.chunks[i] = c
	}
	c.z = nil
	return c
}

// split cuts chunk i in two at its middle line.
func (f *renderedFamily) split(i int) {
	c := f.chunks[i]
	mid := len(c.ends) / 2
	cut := c.ends[mid-1]
	second := &chunk{text: slices.Clone(c.text[cut:]), ends: make([]int32, 0, len(c.ends)-mid)}
	for _, e := range c.ends[mid:] {
		second.ends = append(second.ends, e-cut)
	}
	c.text = c.text[:cut:cut]
	c.ends = c.ends[:mid:mid]
	f.chunks = slices.Insert(f.chunks, i+1, second)
}

// find returns where s is or would go: the chunk, the line in it, and
// whether a series with the same label values is there.
func (f *renderedFamily) find(s *Series) (ci, li int, found bool) {
	if len(f.chunks) == 0 {
		return 0, 0, false
	}
	// The first chunk whose last line is not before s; the last chunk when
	// s is after every line.
	ci = sort.Search(len(f.chunks), func(i int) bool {
		c := f.chunks[i]
		return f.compare(s, c.line(len(c.ends)-1)) <= 0
	})
	if ci == len(f.chunks) {
		ci--
	}
	c := f.chunks[ci]
	li = sort.Search(len(c.ends), func(i int) bool { return f.compare(s, c.line(i)) <= 0 })
	return ci, li, li < len(c.ends) && f.compare(s, c.line(li)) == 0
}

func (c *chunk) line(i int) []byte {
	start := int32(0)
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.text[start:c.ends[i]]
}

// compare orders s against a rendered line as compareSeries orders series:
// fewer labels first, then label values in label-name order. It reads the
// line in place, without allocating.
func (f *renderedFamily) compare(s *Series, line []byte) int {
	f.scratch = lineValues(f.scratch[:0], line)
	if len(s.values) != len(f.scratch) {
		return len(s.values) - len(f.scratch)
	}
	for k, v := range s.values {
		if c := compareValue(v, line[f.scratch[k].start:f.scratch[k].end], f.scratch[k].escaped); c != 0 {
			return c
		}
	}
	return 0
}

// span is where a label value is in a line, as written (escaped or not).
type span struct {
	start, end int
	escaped    bool
}

// lineValues appends where the label values of a rendered line are, in the
// order the line has them.
func lineValues(dst []span, line []byte) []span {
	i := bytes.IndexByte(line, '{')
	if i < 0 {
		return dst
	}
	for i < len(line) && line[i] != '}' {
		eq := bytes.Index(line[i:], []byte(`="`))
		if eq < 0 {
			return dst
		}
		i += eq + 2
		sp := span{start: i}
		for i < len(line) && line[i] != '"' {
			if line[i] == '\\' {
				sp.escaped = true
				i++
			}
			i++
		}
		sp.end = min(i, len(line))
		dst = append(dst, sp)
		i++ // the closing quote; then ',' or '}'
	}
	return dst
}

// compareValue compares a label value with one as a line writes it,
// unescaping the latter on the way.
func compareValue(v string, raw []byte, escaped bool) int {
	j := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if escaped && c == '\\' && i+1 < len(raw) {
			i++
			if c = raw[i]; c == 'n' {
				c = '\n'
			}
		}
		if j == len(v) {
			return -1
		}
		if v[j] != c {
			if v[j] < c {
				return -1
			}
			return 1
		}
		j++
	}
	if j < len(v) {
		return 1
	}
	return 0
}
