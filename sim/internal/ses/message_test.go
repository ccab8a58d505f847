package ses

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMessage_JSON(t *testing.T) {
	m := Message{
		ID:      "0100018f2b3c4d5e-11111111-2222-4333-8444-555555555555-000000",
		Source:  "alerts@example.com",
		To:      []string{"ops@example.org"},
		Subject: "s",
		Text:    "t",
		HTML:    "<p>h</p>",
		Time:    time.Date(2026, 5, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600)),
		API:     "sesv2",
	}
	got, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"MessageId":"0100018f2b3c4d5e-11111111-2222-4333-8444-555555555555-000000","Source":"alerts@example.com",` +
		`"Destinations":{"ToAddresses":["ops@example.org"],"CcAddresses":[],"BccAddresses":[]},` +
		`"Subject":"s","Text":"t","Html":"\u003cp\u003eh\u003c/p\u003e","Raw":"","Time":"2026-05-01T10:00:00Z","Api":"sesv2"}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
	var back Message
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Time.Equal(m.Time) {
		t.Errorf("time %v after round trip, want %v", back.Time, m.Time)
	}
	back.Time = m.Time
	if diff := cmp.Diff(m, back, cmp.Comparer(func(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") })); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
