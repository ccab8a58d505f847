package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/deskpilot/deskpilot/internal/metrics"
)

// scrape is one scrape of the handler over HTTP: the families as parsed from the text
// exposition, and every sample flattened to `name{label="value",…}` → value (histograms as
// their _bucket, _sum and _count series).
type scrape struct {
	families map[string]*dto.MetricFamily
	samples  map[string]float64
}

// scrapeOnce serves m's handler on a real HTTP server, GETs it once in the text format, and
// parses the answer.
func scrapeOnce(t *testing.T, m *metrics.Metrics) scrape {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	return scrapeURL(t, srv.URL)
}

func scrapeURL(t *testing.T, url string) scrape {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape: Content-Type %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse the exposition: %v\n%s", err, body)
	}
	s := scrape{families: families, samples: map[string]float64{}}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			labels := m.GetLabel()
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s.samples[series(name, labels)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.samples[series(name, labels)] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				s.samples[series(name+"_count", labels)] = float64(h.GetSampleCount())
				s.samples[series(name+"_sum", labels)] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					le := &dto.LabelPair{Name: new("le"), Value: new(strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))}
					s.samples[series(name+"_bucket", append(slices.Clone(labels), le))] = float64(b.GetCumulativeCount())
				}
			default:
				t.Fatalf("%s: unexpected type %s", name, f.GetType())
			}
		}
	}
	return s
}

// series is a sample's key: name{a="1",b="2"}, labels sorted by name, or the bare name.
func series(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	ls := make([]string, len(labels))
	for i, l := range labels {
		ls[i] = l.GetName() + "=" + strconv.Quote(l.GetValue())
	}
	slices.Sort(ls)
	return name + "{" + strings.Join(ls, ",") + "}"
}

// withPrefix returns the samples whose key starts with prefix.
func (s scrape) withPrefix(prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s.samples {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// fakeSource is a Source with set answers. With block set, every read waits for its context
// to end and returns its error.
type fakeSource struct {
	mu       sync.Mutex
	counts   map[string]int
	drained  int
	pending  int
	outbox   int
	errs     map[string]error // by method name
	block    bool
	lastCtxs []context.Context
}

func (f *fakeSource) read(ctx context.Context, method string) error {
	f.mu.Lock()
	f.lastCtxs = append(f.lastCtxs, ctx)
	block, err := f.block, f.errs[method]
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

// The fake's counts are all of account 111111111111 in eu-central-1.
func (f *fakeSource) RolloutCounts(ctx context.Context) ([]metrics.Count, error) {
	if err := f.read(ctx, "RolloutCounts"); err != nil {
		return nil, err
	}
	var out []metrics.Count
	for state, n := range f.counts {
		out = append(out, metrics.Count{Account: "111111111111", Region: "eu-central-1", Label: state, N: n})
	}
	return out, nil
}

func (f *fakeSource) DrainedFleets(ctx context.Context) ([]metrics.Count, error) {
	if err := f.read(ctx, "DrainedFleets"); err != nil {
		return nil, err
	}
	return []metrics.Count{{Account: "111111111111", Region: "eu-central-1", N: f.drained}}, nil
}

func (f *fakeSource) PendingResets(ctx context.Context) ([]metrics.Count, error) {
	if err := f.read(ctx, "PendingResets"); err != nil {
		return nil, err
	}
	return []metrics.Count{{Account: "111111111111", Region: "eu-central-1", N: f.pending}}, nil
}

func (f *fakeSource) OutboxDepth(ctx context.Context) (int, error) {
	if err := f.read(ctx, "OutboxDepth"); err != nil {
		return 0, err
	}
	return f.outbox, nil
}

var _ metrics.Source = (*fakeSource)(nil)
