package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sort"
)

// chunkTarget is the size of text a chunk of a rendered family holds, about
// 240 flux_resource_info lines: small enough that inflating, re-rendering
// and recompressing the chunk of one changed object costs a fraction of a
// millisecond, large enough that a scrape writes a few hundred pieces at
// 50,000 objects and the DEFLATE window (32 KiB) loses little at the seams.
const chunkTarget = 64 << 10

// Rendered keeps the resource families rendered in the text format, kept up
// to date series by series: each family is its HELP and TYPE lines and then
// its series in the registry's order, cut in chunks of about chunkTarget
// bytes of text. Between changes a chunk keeps only its text's DEFLATE
// blocks, the text's length, CRC-32 and number of lines, and a copy of its
// last line (to find the chunk a series belongs to): at 50,000 objects the
// text is about 13 MiB, its blocks about 1.6 MiB, and the exporter serves
// gzip from the blocks as they are. A change inflates the one chunk it
// touches back to text, edits it, and Segments recompresses it; the text is
// dropped again.
//
// Segments hands out the chunks' blocks, which nothing modifies afterwards:
// a changed chunk gets new blocks. The text is byte for byte Render's for
// the same series (TestIncrementalEqualsAFullRender). Rendered is not safe
// for concurrent use; what Segments returns is, for reading.
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

// chunk is a run of lines of a family, in order. It is closed (its blocks,
// text length, CRC, line count and last line) or, from the first look at its
// lines until the next Segments, open: its text and line ends, and its
// blocks until it is changed.
type chunk struct {
	z     []byte // DEFLATE blocks of the text; nil once changed, until compressed
	size  int    // length of the text, when closed
	lines int    // number of lines, when closed
	crc   uint32 // CRC-32 (IEEE) of the text, when closed
	shift uint32 // crc32Shift(size), when closed
	last  []byte // the last line, when closed

	open bool
	text []byte
	ends []int32 // ends[i] is the end of line i in text
}

// Segment is a piece of the exposition: non-final DEFLATE blocks ending
// byte-aligned, never modified once handed out, and the length and CRC-32
// (IEEE) of the text they hold.
type Segment struct {
	Z   []byte
	Len int
	CRC uint32
	// shift is crc32Shift(Len), or 0 (which it never is) when not known.
	shift uint32
}

// combine returns the CRC-32 of a text whose CRC is crc followed by s's.
func (s *Segment) combine(crc uint32) uint32 {
	if s.shift == 0 {
		return crc32Combine(crc, s.CRC, s.Len)
	}
	return crc32CombineShift(crc, s.CRC, s.shift)
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
	// One chunk's text at a time, compressed at once: the whole text is
	// never held. Room for a chunk and its last line, which is rarely more
	// than a few hundred bytes: the text is not copied to grow.
	text := make([]byte, 0, r.chunk+4096)
	var ends []int32
	for name, rows := range byFamily {
		slices.SortFunc(rows, compareSeries)
		f := r.family(rows[0])
		for i, s := range rows {
			text = appendLine(text, s)
			ends = append(ends, int32(len(text)))
			if len(text) >= r.chunk || i == len(rows)-1 {
				c := &chunk{}
				c.compress(text, ends)
				f.chunks = append(f.chunks, c)
				text, ends = text[:0], ends[:0]
			}
		}
		f.series = len(rows)
		r.families[name] = f
	}
}

func (r *Rendered) family(s *Series) *renderedFamily {
	f := r.families[s.shape.family]
	if f == nil {
		text := familyHeader(s.shape.family, s.shape.help)
		f = &renderedFamily{header: Segment{Z: deflateBlocks(text), Len: len(text), CRC: crc32.ChecksumIEEE(text),
			shift: crc32Shift(len(text))}}
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
// series (the same family and label values) is there already, or when the
// blocks of its chunk do not inflate (a bug: the caller rebuilds).
func (r *Rendered) Add(s *Series) bool {
	f := r.family(s)
	line := appendLine(nil, s)
	ci, li, found, ok := f.find(s)
	if found || !ok {
		return false
	}
	if len(f.chunks) == 0 {
		f.chunks = []*chunk{{open: true}}
		ci = 0
	}
	c := f.chunks[ci]
	c.z = nil
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
// and value). It returns false, changing nothing, when there is none, or
// when the blocks of its chunk do not inflate (a bug: the caller rebuilds).
func (r *Rendered) Remove(s *Series) bool {
	f := r.families[s.shape.family]
	if f == nil {
		return false
	}
	ci, li, found, ok := f.find(s)
	if !found || !ok {
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
	c.z = nil
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

// Segments compresses the chunks changed since the last call, closes the
// open ones (their text is dropped), and returns the exposition as
// segments, families in name order, and the number of series. The segments'
// blocks are never modified afterwards.
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
			if c.open {
				c.close()
			}
			out = append(out, Segment{Z: c.z, Len: c.size, CRC: c.crc, shift: c.shift})
		}
		n += f.series
	}
	return out, n
}

// compress makes c's blocks of text, the lines ending at ends, and keeps
// what find needs of them; text is neither kept nor changed.
func (c *chunk) compress(text []byte, ends []int32) {
	c.z = deflateBlocks(text)
	c.size, c.lines = len(text), len(ends)
	c.crc, c.shift = crc32.ChecksumIEEE(text), crc32Shift(len(text))
	last := int32(0)
	if len(ends) > 1 {
		last = ends[len(ends)-2]
	}
	c.last = bytes.Clone(text[last:])
}

// close compresses c, open, unless it is unchanged, and drops its text.
func (c *chunk) close() {
	if c.z == nil {
		c.compress(c.text, c.ends)
	}
	c.open, c.text, c.ends = false, nil, nil
}

// openChunk opens chunk i: inflates its blocks back to text, and finds its
// line ends. The blocks are kept (a look-up changes nothing) and are not
// written to: segments handed out share them.
func (f *renderedFamily) openChunk(i int) (*chunk, error) {
	c := f.chunks[i]
	if c.open {
		return c, nil
	}
	// Room for a few lines more: an added line does not copy the text.
	text, err := appendText(make([]byte, 0, c.size+4096), c.z, c.size)
	if err != nil {
		return nil, err
	}
	ends := make([]int32, 0, c.lines+16)
	for at := 0; at < len(text); {
		nl := bytes.IndexByte(text[at:], '\n')
		if nl < 0 {
			return nil, errors.New("the text of a chunk does not end a line")
		}
		at += nl + 1
		ends = append(ends, int32(at))
	}
	if len(ends) != c.lines {
		return nil, fmt.Errorf("a chunk inflates to %d lines, it had %d", len(ends), c.lines)
	}
	c.open, c.text, c.ends = true, text, ends
	return c, nil
}

// lastLine is the last line of chunk i, open or not.
func (f *renderedFamily) lastLine(i int) []byte {
	c := f.chunks[i]
	if c.open {
		return c.line(len(c.ends) - 1)
	}
	return c.last
}

// split cuts chunk i, open, in two at its middle line.
func (f *renderedFamily) split(i int) {
	c := f.chunks[i]
	mid := len(c.ends) / 2
	cut := c.ends[mid-1]
	second := &chunk{open: true, text: slices.Clone(c.text[cut:]), ends: make([]int32, 0, len(c.ends)-mid)}
	for _, e := range c.ends[mid:] {
		second.ends = append(second.ends, e-cut)
	}
	c.text = c.text[:cut:cut]
	c.ends = c.ends[:mid:mid]
	f.chunks = slices.Insert(f.chunks, i+1, second)
}

// find returns where s is or would go: the chunk, open, the line in it, and
// whether a series with the same label values is there; ok is false when
// the chunk does not inflate. Chunks are chosen by their last line alone:
// only the chosen one is opened.
func (f *renderedFamily) find(s *Series) (ci, li int, found, ok bool) {
	if len(f.chunks) == 0 {
		return 0, 0, false, true
	}
	// The first chunk whose last line is not before s; the last chunk when
	// s is after every line.
	ci = sort.Search(len(f.chunks), func(i int) bool { return f.compare(s, f.lastLine(i)) <= 0 })
	if ci == len(f.chunks) {
		ci--
	}
	c, err := f.openChunk(ci)
	if err != nil {
		return ci, 0, false, false
	}
	li = sort.Search(len(c.ends), func(i int) bool { return f.compare(s, c.line(i)) <= 0 })
	return ci, li, li < len(c.ends) && f.compare(s, c.line(li)) == 0, true
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
