package metrics

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var updateOps = flag.Bool("update-operations", false, "write the metrics table into docs/operations.md")

const opsDoc, tableMark = "../../docs/operations.md", "<!-- metrics table: generated from internal/metrics -->"

// TestOperationsDoc checks that docs/operations.md lists the metrics exactly as Doc() does
// (run with -update-operations to rewrite the table).
func TestOperationsDoc(t *testing.T) {
	raw, err := os.ReadFile(opsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	at := strings.Index(doc, tableMark)
	if at < 0 {
		t.Fatalf("%s has no %q", opsDoc, tableMark)
	}
	// The table is the lines starting with "|" after the mark (and the blank lines before
	// them); what follows is kept.
	lines := strings.SplitAfter(doc[at+len(tableMark):], "\n")
	i := 1 // the rest of the mark's line
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	for i < len(lines) && strings.HasPrefix(lines[i], "|") {
		i++
	}
	want := doc[:at+len(tableMark)] + "\n\n" + strings.TrimRight(Doc(), "\n") + "\n" + strings.Join(lines[i:], "")
	if *updateOps {
		if err := os.WriteFile(opsDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if doc != want {
		t.Errorf("%s: the metrics table differs from metrics.Doc(); run go test ./internal/metrics -run TestOperationsDoc -update-operations", opsDoc)
	}
}
