package testenv

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReceiverKeepsEventsAndRejectsTheRest(t *testing.T) {
	rc := StartReceiver(t)
	post := func(method, body string) int {
		req, err := http.NewRequest(method, rc.URL, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusAccepted, post(http.MethodPost, `{"reason":"Progressing","message":"first"}`))
	assert.Equal(t, http.StatusAccepted, post(http.MethodPost, `{"reason":"Succeeded","message":"second"}`))
	assert.Equal(t, http.StatusAccepted, post(http.MethodPost, `{"reason":"Succeeded","message":"third"}`))
	assert.Equal(t, http.StatusBadRequest, post(http.MethodPost, `not an event`))
	assert.Equal(t, http.StatusBadRequest, post(http.MethodPut, `{"reason":"Succeeded"}`))

	e, err := rc.Find("Succeeded")
	require.NoError(t, err)
	assert.Equal(t, "second", e.Message, "the first event with the reason")
	assert.Equal(t, 2, rc.Count("Succeeded"))
	assert.Equal(t, []string{"Progressing", "Succeeded", "Succeeded"}, rc.Reasons())
	assert.Equal(t, []string{"not an event", `{"reason":"Succeeded"}`}, rc.Rejected())
	_, err = rc.Find("Failed")
	assert.ErrorContains(t, err, "no Failed event received; got [Progressing Succeeded Succeeded]")
}

func TestSamplesMatchLabelsAndReadEveryType(t *testing.T) {
	label := func(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }
	value := func(v float64) *float64 { return &v }
	mf := &dto.MetricFamily{Metric: []*dto.Metric{
		{Label: []*dto.LabelPair{label("kind", "a"), label("x", "1")}, Counter: &dto.Counter{Value: value(3)}},
		{Label: []*dto.LabelPair{label("kind", "b")}, Gauge: &dto.Gauge{Value: value(4)}},
		{Label: []*dto.LabelPair{label("kind", "a")}, Untyped: &dto.Untyped{Value: value(5)}},
	}}
	assert.Equal(t, []Sample{
		{Labels: map[string]string{"kind": "a", "x": "1"}, Value: 3},
		{Labels: map[string]string{"kind": "a"}, Value: 5},
	}, Samples(mf, map[string]string{"kind": "a"}))
	assert.Equal(t, []Sample{{Labels: map[string]string{"kind": "b"}, Value: 4}}, Samples(mf, map[string]string{"kind": "b"}))
	assert.Len(t, Samples(mf, nil), 3)
	assert.Empty(t, Samples(mf, map[string]string{"kind": "c"}))
	assert.Empty(t, Samples(nil, nil))
}
