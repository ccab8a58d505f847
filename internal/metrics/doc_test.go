package metrics_test

import (
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/deskpilot/deskpilot/internal/metrics"
)

// docRow is one row of Doc's table.
type docRow struct {
	kind    string
	labels  []string
	meaning string
}

func parseDoc(t *testing.T, doc string) map[string]docRow {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(doc, "\n"), "\n")
	if len(lines) < 2 || lines[0] != "| Metric | Type | Labels | Meaning |" || lines[1] != "|---|---|---|---|" {
		t.Fatalf("Doc does not start with the table's header:\n%s", doc)
	}
	rows := map[string]docRow{}
	for _, l := range lines[2:] {
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(l, "| "), " |"), " | ")
		if len(cells) != 4 {
			t.Fatalf("Doc row %q has %d cells, want 4", l, len(cells))
		}
		var labels []string
		if cells[2] != "—" {
			for _, lb := range strings.Split(cells[2], ", ") {
				labels = append(labels, strings.Trim(lb, "`"))
			}
		}
		rows[strings.Trim(cells[0], "`")] = docRow{kind: cells[1], labels: labels, meaning: cells[3]}
	}
	return rows
}

// everything returns a scrape in which every metric has a sample: each recording method
// called, a Source answering, one AWS call made.
func everything(t *testing.T) scrape {
	t.Helper()
	m := metrics.New(&fakeSource{counts: map[string]int{"running": 1}})
	m.StepFinished("done")
	m.Target("111111111111", "eu-central-1").SetUp(true)
	m.TagEvent("handled", time.Second)
	m.ObserveDrain(time.Minute)
	m.ObserveRestoreLag(time.Second)
	m.ResetOutcome("reset")
	m.NotificationFailed("ses", "throttled")
	m.PassSucceeded("rollouts", time.Unix(1, 0))
	m.SetLeader("replica-a", true, 3)
	url, _ := fakeAppStream(t, ok)
	if _, err := appstream.NewFromConfig(awsConfig(t, url, m)).DescribeFleets(t.Context(), &appstream.DescribeFleetsInput{}); err != nil {
		t.Fatal(err)
	}
	return scrapeOnce(t, m)
}

// Doc lists exactly the metrics that are registered, with their type, labels and HELP.
func TestDoc(t *testing.T) {
	rows := parseDoc(t, metrics.Doc())
	s := everything(t)
	for name, f := range s.families {
		row, ok := rows[name]
		if !ok {
			t.Errorf("%s is registered but not in Doc", name)
			continue
		}
		if got := strings.ToLower(f.GetType().String()); got != row.kind {
			t.Errorf("%s: Doc says %s, the registry %s", name, row.kind, got)
		}
		if !strings.HasPrefix(row.meaning, f.GetHelp()) {
			t.Errorf("%s: Doc says %q, HELP %q", name, row.meaning, f.GetHelp())
		}
		if diff := cmp.Diff(sortedCopy(row.labels), labelNames(f)); diff != "" {
			t.Errorf("%s: labels (-Doc +registered):\n%s", name, diff)
		}
	}
	for name := range rows {
		if _, ok := s.families[name]; !ok {
			t.Errorf("%s is in Doc but not registered", name)
		}
		if !strings.HasPrefix(name, "deskpilot_") {
			t.Errorf("%s does not start with deskpilot_", name)
		}
	}
	if got, want := len(rows), len(metrics.Names()); got != want {
		t.Errorf("Doc has %d rows, want %d", got, want)
	}
}

// The package documentation (doc.go) lists every metric as Doc does, with nothing more.
func TestPackageDoc(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil {
		t.Fatal("doc.go has no package comment")
	}
	text := strings.Join(strings.Fields(f.Doc.Text()), " ")
	var want strings.Builder
	for _, item := range metrics.GoDocItems() {
		if !strings.Contains(text, strings.Join(strings.Fields(item), " ")) {
			t.Errorf("doc.go does not list (or words differently):\n  - %s", item)
		}
		want.WriteString("//   - " + item + "\n")
	}
	if got, want := strings.Count(f.Doc.Text(), "\n  - deskpilot_"), len(metrics.Names()); got != want {
		t.Errorf("doc.go lists %d metrics, want %d", got, want)
	}
	if t.Failed() {
		t.Logf("the list doc.go should have (wrap the lines):\n%s", want.String())
	}
}

func labelNames(f *dto.MetricFamily) []string {
	var out []string
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if !slices.Contains(out, l.GetName()) {
				out = append(out, l.GetName())
			}
		}
	}
	slices.Sort(out)
	return out
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
