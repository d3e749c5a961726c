package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Prometheus runs an instant query through Prometheus' HTTP API
// (/api/v1/query). It is a small client of its own rather than
// client_golang's api package: the answer needed is one number, and the
// errors Fledge shows (no data, several series, NaN, Prometheus' own error
// text) are easier to word from the raw answer.
type Prometheus struct {
	client  *httpClient
	Address string
	Query   string
}

// Kind implements Provider.
func (*Prometheus) Kind() string { return "prometheus" }

// Numeric implements Provider: the result is one float64.
func (*Prometheus) Numeric() bool { return true }

// promResponse is the envelope of Prometheus' HTTP API.
type promResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

type promData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"`
}

// Measure implements Provider: the query must answer a scalar or a vector
// of exactly one sample. An empty vector or NaN is ErrNoData (a ratio of
// nothing to nothing is not a pass); several samples are an error asking
// for an aggregation.
func (p *Prometheus) Measure(ctx context.Context) (any, error) {
	data, err := p.call(ctx, "query", url.Values{"query": {p.Query}})
	if err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, fmt.Errorf("prometheus: decode scalar: %w", err)
		}
		return sampleValue(v)
	case "vector":
		var vec []promSample
		if err := json.Unmarshal(data.Result, &vec); err != nil {
			return nil, fmt.Errorf("prometheus: decode vector: %w", err)
		}
		switch len(vec) {
		case 0:
			return nil, fmt.Errorf("prometheus: the query answered an empty vector: %w", ErrNoData)
		case 1:
			return sampleValue(vec[0].Value)
		}
		return nil, fmt.Errorf("prometheus: the query answered %d series (%s, ...); it must answer one number: aggregate it, e.g. with sum()", len(vec), labels(vec[0].Metric))
	}
	return nil, fmt.Errorf("prometheus: the query answered a %s; it must answer a scalar or a vector of one sample", data.ResultType)
}

// Range runs a range query (/api/v1/query_range) that must answer one
// series, and returns its values in time order; NaN points are dropped.
func (p *Prometheus) Range(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]float64, error) {
	data, err := p.call(ctx, "query_range", url.Values{
		"query": {query},
		"start": {strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64)},
		"end":   {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	})
	if err != nil {
		return nil, err
	}
	if data.ResultType != "matrix" {
		return nil, fmt.Errorf("prometheus: the range query answered a %s, want a matrix", data.ResultType)
	}
	var series []promSample
	if err := json.Unmarshal(data.Result, &series); err != nil {
		return nil, fmt.Errorf("prometheus: decode matrix: %w", err)
	}
	switch len(series) {
	case 0:
		return nil, fmt.Errorf("prometheus: the range query answered no series: %w", ErrNoData)
	case 1:
	default:
		return nil, fmt.Errorf("prometheus: the range query answered %d series (%s, ...); it must answer one: aggregate it, e.g. with sum()", len(series), labels(series[0].Metric))
	}
	out := make([]float64, 0, len(series[0].Values))
	for _, v := range series[0].Values {
		f, err := sampleValue(v)
		if err != nil {
			continue // NaN points: no traffic in that step
		}
		out = append(out, f.(float64))
	}
	return out, nil
}

func (p *Prometheus) call(ctx context.Context, endpoint string, q url.Values) (promData, error) {
	u := strings.TrimRight(p.Address, "/") + "/api/v1/" + endpoint + "?" + q.Encode()
	// Prometheus answers errors as JSON with 400, 422 and 503.
	accept := func(s int) bool {
		return s == http.StatusOK || s == http.StatusBadRequest || s == http.StatusUnprocessableEntity || s == http.StatusServiceUnavailable
	}
	status, body, err := p.client.get(ctx, u, nil, accept)
	if err != nil {
		return promData{}, fmt.Errorf("prometheus: %w", err)
	}
	var r promResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return promData{}, fmt.Errorf("prometheus: answer %d is not the API's JSON: %s", status, snippet(body))
	}
	if r.Status != "success" {
		return promData{}, fmt.Errorf("prometheus: %s: %s", r.ErrorType, r.Error)
	}
	var d promData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return promData{}, fmt.Errorf("prometheus: decode data: %w", err)
	}
	return d, nil
}

// sampleValue reads a [time, "value"] pair; NaN is ErrNoData.
func sampleValue(v [2]any) (any, error) {
	s, ok := v[1].(string)
	if !ok {
		return nil, fmt.Errorf("prometheus: sample value %v is not a string", v[1])
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("prometheus: sample value %q: %w", s, err)
	}
	if math.IsNaN(f) {
		return nil, fmt.Errorf("prometheus: the query answered NaN (a ratio of no requests?): %w", ErrNoData)
	}
	return f, nil
}

func labels(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+strconv.Quote(v))
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, ",") + "}"
}
