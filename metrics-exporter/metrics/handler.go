package metrics

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Handler serves /metrics: the families of g (the registry: the exporter's
// small families, controller-runtime's and the Go runtime's) and those of e,
// in one exposition ordered by family name, as promhttp would serve them
// together. In the text format, which Prometheus negotiates with the
// exporter, e's families are served from their DEFLATE blocks: copied as
// they are into a gzip stream, or inflated on the way for a plain scrape;
// other formats (protobuf, or a name[] filter) go through promhttp with e's
// families inflated and parsed back from the text.
func Handler(g prometheus.Gatherer, e *Exposition) http.Handler {
	slow := promhttp.HandlerFor(prometheus.Gatherers{g, expositionGatherer{e}},
		promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
		if format.FormatType() != expfmt.TypeTextPlain || (r.URL != nil && r.URL.Query().Has("name[]")) {
			slow.ServeHTTP(w, r)
			return
		}
		mfs, err := g.Gather()
		if err != nil {
			http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		var prefix, suffix bytes.Buffer
		pe, se := expfmt.NewEncoder(&prefix, format), expfmt.NewEncoder(&suffix, format)
		for _, mf := range mfs {
			switch name := mf.GetName(); {
			case name < firstFamily:
				err = pe.Encode(mf)
			case name > lastFamily:
				err = se.Encode(mf)
			default:
				// A family of the registry among the rendered ones: merge
				// them the slow way rather than serve a wrong order.
				slow.ServeHTTP(w, r)
				return
			}
			if err != nil {
				http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		rd := e.p.Load()
		if rd == nil {
			rd = &rendered{}
		}
		h := w.Header()
		h.Add("Vary", "Accept")
		h.Add("Vary", "Accept-Encoding")
		h.Set("Content-Type", string(format))
		if acceptsGzip(r) {
			h.Set("Content-Encoding", "gzip")
			_ = rd.gzipMember(w, prefix.Bytes(), suffix.Bytes())
			return
		}
		// A known length spares the chunked encoding of a body of MiBs; the
		// resource series are inflated as they are written.
		n := prefix.Len() + len(rd.report) + rd.resLen + suffix.Len()
		h.Set("Content-Length", strconv.Itoa(n))
		if _, err := w.Write(prefix.Bytes()); err != nil {
			return
		}
		if err := rd.writeText(w); err != nil {
			return
		}
		_, _ = w.Write(suffix.Bytes())
	})
}

// emptyDeflate is the DEFLATE stream of nothing: one empty stored block.
var emptyDeflate = []byte{0, 0, 0, 0xff, 0xff}

// acceptsGzip tells whether the request accepts the gzip content coding
// (RFC 9110: a listed coding without q=0, or "*").
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "*" {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			if q == "q=0" || strings.HasPrefix(q, "q=0.") && strings.Trim(q[4:], "0") == "" {
				return false
			}
			return true
		}
	}
	return false
}

// expositionGatherer reads an Exposition back into metric families, for the
// encoders other than the text one.
type expositionGatherer struct{ e *Exposition }

func (g expositionGatherer) Gather() ([]*dto.MetricFamily, error) {
	text, err := g.e.Text()
	if err != nil {
		return nil, err
	}
	if len(text) == 0 {
		return nil, nil
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	byName, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("the rendered Flux resource series do not parse: %w", err)
	}
	out := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		out = append(out, mf)
	}
	return out, nil
}
