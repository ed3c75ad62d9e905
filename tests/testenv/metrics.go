package testenv

import (
	dto "github.com/prometheus/client_model/go"
)

// Sample is one series of a metric family.
type Sample struct {
	// Labels are the series' labels by name.
	Labels map[string]string
	// Value is the value of the counter, gauge or untyped metric.
	Value float64
}

// Samples returns the series of mf that carry every label of match, in the
// family's order; none when mf is nil.
func Samples(mf *dto.MetricFamily, match map[string]string) []Sample {
	var out []Sample
	for _, m := range mf.GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		ok := true
		for k, v := range match {
			ok = ok && l[k] == v
		}
		if !ok {
			continue
		}
		v := m.GetGauge().GetValue()
		if c := m.GetCounter(); c != nil {
			v = c.GetValue()
		} else if u := m.GetUntyped(); u != nil {
			v = u.GetValue()
		}
		out = append(out, Sample{Labels: l, Value: v})
	}
	return out
}
