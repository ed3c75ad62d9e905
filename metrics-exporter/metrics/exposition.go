package metrics

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Exposition holds the families the exporter derives from the FluxReport
// (flux_report_*) and from the Flux resources (flux_resource_info and
// flux_resource_not_ready_timestamp_seconds), rendered once per refresh in
// the Prometheus text format (version 0.0.4) exactly as the standard encoder
// would write them. It keeps the report gauges' text and DEFLATE blocks, and
// of the resource series only their DEFLATE blocks, with the length and
// CRC-32 of their text: at 50,000 objects the blocks take about 1.6 MiB,
// where keeping the text as well took some 15 MiB more. A gzip scrape copies
// the blocks as they are, which costs it nothing per series, where building
// and encoding 50,000 metric objects per scrape took hundreds of
// milliseconds and as many MiB; a plain scrape inflates them on the way.
// Swap replaces them all at once: a scrape never sees the gauges of one
// report with the resources of another.
type Exposition struct {
	p atomic.Pointer[rendered]
}

type rendered struct {
	// report is the text of the report gauges, reportZ the same as non-final
	// DEFLATE blocks ending byte-aligned; resources are the resource
	// families' segments, which follow (flux_report_* sorts before
	// flux_resource_*), resLen and resCRC the length and CRC-32 of their
	// text, for the gzip trailer.
	report, reportZ []byte
	resources       []Segment
	resLen          int
	resCRC          uint32
	series          int
}

// Swap makes report (the report gauges) and series (the resource series) the
// served set.
func (e *Exposition) Swap(report []prometheus.Metric, series []Series) error {
	r := NewRendered()
	r.Reset(series)
	segs, n := r.Segments()
	return e.SwapSegments(report, segs, n)
}

// SwapSegments makes report (the report gauges) and the segments of a
// Rendered, holding n series, the served set.
func (e *Exposition) SwapSegments(report []prometheus.Metric, segs []Segment, n int) error {
	rt, err := encodeStandard(report)
	if err != nil {
		return err
	}
	next := &rendered{report: rt, reportZ: deflateBlocks(rt), resources: segs, series: n}
	for i := range segs {
		next.resCRC = segs[i].combine(next.resCRC)
		next.resLen += segs[i].Len
	}
	e.p.Store(next)
	return nil
}

// SwapReport replaces the report gauges and keeps the resource series.
func (e *Exposition) SwapReport(report []prometheus.Metric) error {
	rt, err := encodeStandard(report)
	if err != nil {
		return err
	}
	next := &rendered{report: rt, reportZ: deflateBlocks(rt)}
	if old := e.p.Load(); old != nil {
		next.resources, next.resLen, next.resCRC, next.series = old.resources, old.resLen, old.resCRC, old.series
	}
	e.p.Store(next)
	return nil
}

// encodeStandard writes metrics with the registry and the text encoder.
func encodeStandard(ms []prometheus.Metric) ([]byte, error) {
	s := &Snapshot{}
	s.Swap(ms)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(s); err != nil {
		return nil, err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("the report gauges do not gather: %w", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "flux_report_") {
			return nil, fmt.Errorf("%s is not a report gauge", mf.GetName())
		}
		if err := enc.Encode(mf); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// deflateBlocks compresses text into non-final DEFLATE blocks that end
// byte-aligned (a sync flush), to be copied into a gzip stream. BestSpeed:
// the blocks are rebuilt on every refresh and decompressed at once by the
// scraper; a higher level saves little on these repetitive lines for several
// times the CPU.
func deflateBlocks(text []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(text)/8 + 64)
	zw := flatePool.Get().(*flate.Writer)
	zw.Reset(&buf)
	_, _ = zw.Write(text)
	_ = zw.Flush()
	flatePool.Put(zw)
	// Kept as long as the text is: no spare capacity.
	return bytes.Clone(buf.Bytes())
}

// Len returns the number of resource series served.
func (e *Exposition) Len() int {
	if r := e.p.Load(); r != nil {
		return r.series
	}
	return 0
}

// Text returns the rendered families; nil before the first Swap. It
// inflates the resource series: for the scrapes that are not served from
// the text as it is (protobuf, a name[] filter).
func (e *Exposition) Text() ([]byte, error) {
	r := e.p.Load()
	if r == nil {
		return nil, nil
	}
	out := append(make([]byte, 0, len(r.report)+r.resLen), r.report...)
	for _, s := range r.resources {
		var err error
		if out, err = appendText(out, s.Z, s.Len); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeText writes the text of the report gauges and the resource series to
// w, inflating one segment at a time into a pooled buffer. That is the cost
// of not keeping the text: at 50,000 objects a plain scrape inflates about
// 13 MiB, some 25 ms of CPU, where it used to copy the text. Prometheus asks
// for gzip, which copies the blocks as they are.
func (r *rendered) writeText(w io.Writer) error {
	if _, err := w.Write(r.report); err != nil {
		return err
	}
	bp := textPool.Get().(*[]byte)
	defer textPool.Put(bp)
	for _, s := range r.resources {
		text, err := appendText((*bp)[:0], s.Z, s.Len)
		*bp = text
		if err != nil {
			return err
		}
		if _, err := w.Write(text); err != nil {
			return err
		}
	}
	return nil
}

// textPool keeps the buffers plain scrapes inflate a segment into.
var textPool = sync.Pool{New: func() any { return new([]byte) }}

// The rendered families sort between these names; the registry serves
// none of them.
const (
	firstFamily = "flux_report_"
	lastFamily  = ResourceNotReadySinceName
)

// Render writes the series in the Prometheus text format, as the standard
// registry and encoder do: one family per metric name in name order, with
// its HELP and TYPE lines; within a family, series ordered by their number
// of labels, then by their label values taken in label-name order; labels in
// name order; values as strconv's shortest 'g' form. A family without series
// is left out.
func Render(series []Series) []byte {
	byFamily := map[string][]*Series{}
	size := 0
	for i := range series {
		s := &series[i]
		byFamily[s.shape.family] = append(byFamily[s.shape.family], s)
		size += 32
		for k, v := range s.values {
			size += len(s.shape.sorted[k]) + len(v) + 4
		}
	}
	var b bytes.Buffer
	b.Grow(size + 1024)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range byFamily {
			if !yield(k) {
				return
			}
		}
	}) {
		rows := byFamily[name]
		slices.SortFunc(rows, compareSeries)
		b.Write(familyHeader(name, rows[0].shape.help))
		var line []byte
		for _, s := range rows {
			line = appendLine(line[:0], s)
			b.Write(line)
		}
	}
	return b.Bytes()
}

// familyHeader is the HELP and TYPE lines of a family.
func familyHeader(name, help string) []byte {
	var b bytes.Buffer
	b.WriteString("# HELP ")
	b.WriteString(name)
	b.WriteByte(' ')
	helpEscaper.WriteString(&b, help) //nolint:errcheck // bytes.Buffer does not fail
	b.WriteString("\n# TYPE ")
	b.WriteString(name)
	b.WriteString(" gauge\n")
	return b.Bytes()
}

// appendLine appends the line of one series, as the text encoder writes it.
func appendLine(b []byte, s *Series) []byte {
	b = append(b, s.shape.family...)
	for k, v := range s.values {
		if k == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = append(b, s.shape.sorted[k]...)
		b = append(b, '=', '"')
		if strings.ContainsAny(v, "\\\n\"") {
			b = appendEscaped(b, v)
		} else {
			b = append(b, v...)
		}
		b = append(b, '"')
	}
	if len(s.values) > 0 {
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, s.value)
	return append(b, '\n')
}

// appendEscaped appends a label value escaped as the text format wants:
// backslash, newline and double quote.
func appendEscaped(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '"':
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}

var helpEscaper = strings.NewReplacer("\\", `\\`, "\n", `\n`)

// compareSeries orders the series of a family as the registry does
// (MetricSorter in client_golang): fewer labels first, then label values in
// label-name order.
func compareSeries(a, b *Series) int {
	if len(a.values) != len(b.values) {
		return len(a.values) - len(b.values)
	}
	for k, v := range a.values {
		if c := strings.Compare(v, b.values[k]); c != 0 {
			return c
		}
	}
	return 0
}

// appendFloat formats a sample value as the text encoder does.
func appendFloat(dst []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(dst, '1')
	case f == 0:
		return append(dst, '0')
	case f == -1:
		return append(dst, "-1"...)
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, +1):
		return append(dst, "+Inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-Inf"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// gzipMember writes one gzip member whose data is prefix, then the
// exposition, then suffix: the exposition's DEFLATE blocks are copied as they
// are between the blocks of prefix and suffix, which are compressed now.
// DEFLATE blocks may follow one another from independent compressors as long
// as each ends byte-aligned and only the last is final, so this is one valid
// stream that any gzip reader decodes.
func (r *rendered) gzipMember(dst io.Writer, prefix, suffix []byte) error {
	rz := r.reportZ
	if rz == nil {
		rz = emptyDeflate
	}
	// Header: magic, CM=deflate, no flags, no mtime, XFL 0, OS unknown.
	if _, err := dst.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}); err != nil {
		return err
	}
	zw := flatePool.Get().(*flate.Writer)
	defer flatePool.Put(zw)
	zw.Reset(dst)
	if _, err := zw.Write(prefix); err != nil {
		return err
	}
	if err := zw.Flush(); err != nil {
		return err
	}
	if _, err := dst.Write(rz); err != nil {
		return err
	}
	for _, s := range r.resources {
		if _, err := dst.Write(s.Z); err != nil {
			return err
		}
	}
	zw.Reset(dst)
	if _, err := zw.Write(suffix); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	// The CRC of the whole text without reading the resource series': their
	// CRC, kept, combined with that of what comes before.
	crc := crc32.ChecksumIEEE(prefix)
	crc = crc32.Update(crc, crc32.IEEETable, r.report)
	crc = crc32Combine(crc, r.resCRC, r.resLen)
	crc = crc32.Update(crc, crc32.IEEETable, suffix)
	size := len(prefix) + len(r.report) + r.resLen + len(suffix)
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc)
	binary.LittleEndian.PutUint32(trailer[4:], uint32(size))
	_, err := dst.Write(trailer[:])
	return err
}

// finalBlock is an empty final DEFLATE block with the fixed codes: BFINAL
// 1, BTYPE 01 and the end-of-block code 0000000, 10 bits. After blocks that
// end byte-aligned, it ends the stream.
var finalBlock = [2]byte{0x03, 0x00}

// blocks reads DEFLATE blocks z and then finalBlock, for a flate reader;
// as an io.ByteReader the reader does not wrap it in a bufio.Reader.
type blocks struct {
	z []byte
	i int
}

func (b *blocks) ReadByte() (byte, error) {
	switch {
	case b.i < len(b.z):
		b.i++
		return b.z[b.i-1], nil
	case b.i < len(b.z)+len(finalBlock):
		b.i++
		return finalBlock[b.i-1-len(b.z)], nil
	}
	return 0, io.EOF
}

func (b *blocks) Read(p []byte) (int, error) {
	n := 0
	if b.i < len(b.z) {
		n = copy(p, b.z[b.i:])
		b.i += n
	}
	if k := b.i - len(b.z); k >= 0 && k < len(finalBlock) {
		m := copy(p[n:], finalBlock[k:])
		b.i += m
		n += m
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// inflater is a flate reader and its source, pooled: a reader holds a 32
// KiB window and its tables.
type inflater struct {
	src blocks
	r   io.ReadCloser
}

var inflaterPool = sync.Pool{New: func() any {
	in := &inflater{}
	in.r = flate.NewReader(&in.src)
	return in
}}

// appendText appends to dst the text the DEFLATE blocks z hold, n bytes.
func appendText(dst, z []byte, n int) ([]byte, error) {
	in := inflaterPool.Get().(*inflater)
	defer inflaterPool.Put(in)
	in.src = blocks{z: z}
	if err := in.r.(flate.Resetter).Reset(&in.src, nil); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	if _, err := io.ReadFull(in.r, dst[start:]); err != nil {
		return dst[:start], fmt.Errorf("DEFLATE blocks do not inflate to %d bytes: %w", n, err)
	}
	var more [1]byte
	if k, err := in.r.Read(more[:]); k != 0 || err != io.EOF {
		return dst[:start], fmt.Errorf("DEFLATE blocks inflate to more than %d bytes", n)
	}
	return dst, nil
}

// flatePool keeps the compressors of scrapes: each holds about 1 MiB of
// state, too much to allocate per scrape.
var flatePool = sync.Pool{New: func() any {
	zw, _ := flate.NewWriter(io.Discard, flate.BestSpeed)
	return zw
}}
