package metrics

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Exposition holds the flux_resource_info and
// flux_resource_not_ready_timestamp_seconds families rendered once per
// refresh in the Prometheus text format (version 0.0.4), exactly as the
// standard encoder would write them, and their DEFLATE stream. Serving them
// as they are costs a scrape nothing per series, where building and encoding
// 50,000 metric objects per scrape took hundreds of milliseconds and as many
// MiB. Swap replaces both families at once.
type Exposition struct {
	p atomic.Pointer[rendered]
}

type rendered struct {
	text    []byte
	deflate []byte // text as non-final DEFLATE blocks, ending byte-aligned
	series  int
}

// Swap makes the series the served set.
func (e *Exposition) Swap(series []Series) {
	text := Render(series)
	var buf bytes.Buffer
	buf.Grow(len(text) / 8)
	// BestSpeed: the stream is rebuilt on every refresh, and the scraper
	// decompresses it at once; a higher level saves little on these
	// repetitive lines for several times the CPU.
	zw := flatePool.Get().(*flate.Writer)
	zw.Reset(&buf)
	_, _ = zw.Write(text)
	_ = zw.Flush()
	flatePool.Put(zw)
	e.p.Store(&rendered{text: text, deflate: buf.Bytes(), series: len(series)})
}

// Len returns the number of series served.
func (e *Exposition) Len() int {
	if r := e.p.Load(); r != nil {
		return r.series
	}
	return 0
}

// Text returns the rendered families; nil before the first Swap.
func (e *Exposition) Text() []byte {
	if r := e.p.Load(); r != nil {
		return r.text
	}
	return nil
}

// Families are the names of the families an Exposition holds, in order.
var Families = []string{ResourceInfoName, ResourceNotReadySinceName}

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
		b.WriteString("# HELP ")
		b.WriteString(name)
		b.WriteByte(' ')
		helpEscaper.WriteString(&b, rows[0].shape.help) //nolint:errcheck // bytes.Buffer does not fail
		b.WriteString("\n# TYPE ")
		b.WriteString(name)
		b.WriteString(" gauge\n")
		var num []byte
		for _, s := range rows {
			b.WriteString(name)
			for k, v := range s.values {
				if k == 0 {
					b.WriteByte('{')
				} else {
					b.WriteByte(',')
				}
				b.WriteString(s.shape.sorted[k])
				b.WriteString(`="`)
				if strings.ContainsAny(v, "\\\n\"") {
					valueEscaper.WriteString(&b, v) //nolint:errcheck // bytes.Buffer does not fail
				} else {
					b.WriteString(v)
				}
				b.WriteByte('"')
			}
			if len(s.values) > 0 {
				b.WriteByte('}')
			}
			b.WriteByte(' ')
			num = appendFloat(num[:0], s.value)
			b.Write(num)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

var (
	helpEscaper  = strings.NewReplacer("\\", `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer("\\", `\\`, "\n", `\n`, "\"", `\"`)
)

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
	if _, err := dst.Write(r.deflate); err != nil {
		return err
	}
	zw.Reset(dst)
	if _, err := zw.Write(suffix); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	crc := crc32.Update(crc32.Update(crc32.ChecksumIEEE(prefix), crc32.IEEETable, r.text), crc32.IEEETable, suffix)
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc)
	binary.LittleEndian.PutUint32(trailer[4:], uint32(len(prefix)+len(r.text)+len(suffix)))
	_, err := dst.Write(trailer[:])
	return err
}

// flatePool keeps the compressors of scrapes: each holds about 1 MiB of
// state, too much to allocate per scrape.
var flatePool = sync.Pool{New: func() any {
	zw, _ := flate.NewWriter(io.Discard, flate.BestSpeed)
	return zw
}}
