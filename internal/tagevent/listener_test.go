package tagevent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// queue is an SQS queue holding one batch.
type queue struct {
	batch     []Message
	deleted   []string
	deleteErr error
}

func (q *queue) Receive(context.Context, time.Duration) ([]Message, error) {
	b := q.batch
	q.batch = nil
	return b, nil
}

func (q *queue) Delete(_ context.Context, receipt string) error {
	if q.deleteErr != nil {
		return q.deleteErr
	}
	q.deleted = append(q.deleted, receipt)
	return nil
}

type images struct {
	scanned []string
	err     error
}

func (i *images) ScanImage(_ context.Context, name string) error {
	i.scanned = append(i.scanned, name)
	return i.err
}

type seen map[string]bool

func (s seen) MarkSeen(_ context.Context, id string, _ time.Time) (bool, error) {
	was := s[id]
	s[id] = true
	return was, nil
}

func (s seen) Forget(_ context.Context, id string) error {
	delete(s, id)
	return nil
}

type outcomes []string

func (o *outcomes) TagEvent(outcome string, _ time.Duration) { *o = append(*o, outcome) }

func TestListener_outcomes(t *testing.T) {
	tagged := string(sample(t))
	otherAccount := string(edit(t, func(ev, d map[string]any) {
		ev["account"], d["recipientAccountId"] = "210987654321", "210987654321"
		d["requestParameters"].(map[string]any)["resourceArn"] = "arn:aws:appstream:eu-central-1:210987654321:image/office-2026-12"
	}))
	otherRegion := string(edit(t, func(ev, d map[string]any) {
		ev["region"], d["awsRegion"] = "eu-west-1", "eu-west-1"
		d["requestParameters"].(map[string]any)["resourceArn"] = "arn:aws:appstream:eu-west-1:123456789012:image/office-2026-12"
	}))
	otherKeys := string(edit(t, func(ev, d map[string]any) {
		d["requestParameters"].(map[string]any)["tags"] = map[string]any{"CostCenter": "42"}
	}))
	tests := []struct {
		name        string
		body        string
		alreadySeen bool
		scanErr     error
		want        string
		wantScanned []string
		wantDeleted bool
	}{
		{name: "a tag event of the image", body: tagged, want: OutcomeHandled, wantScanned: []string{"office-2026-12"}, wantDeleted: true},
		{name: "not json", body: "hello", want: OutcomeMalformed, wantDeleted: true},
		{name: "another account", body: otherAccount, want: OutcomeForeign, wantDeleted: true},
		{name: "another region", body: otherRegion, want: OutcomeForeign, wantDeleted: true},
		{name: "keys of no rollout", body: otherKeys, want: OutcomeIgnored, wantDeleted: true},
		{name: "replayed", body: tagged, alreadySeen: true, want: OutcomeReplayed, wantDeleted: true},
		{name: "reconciling fails", body: tagged, scanErr: errors.New("throttled"), want: OutcomeFailed, wantScanned: []string{"office-2026-12"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &queue{batch: []Message{{ID: "m-1", Receipt: "r-1", Body: tt.body, Receives: 1}}}
			imgs := &images{err: tt.scanErr}
			s := seen{}
			if tt.alreadySeen {
				s["tag-event:0d1c7b6e-2f57-4d4e-9b7a-3f5c2c1e9a10"] = true
			}
			var got outcomes
			var logs bytes.Buffer
			l := &Listener{
				Queue: q, Images: imgs, Seen: s, Account: "123456789012", Region: "eu-central-1",
				Keys: []string{"FleetName", "ScaleImmediately"}, Observer: &got,
				Now: func() time.Time { return time.Date(2026, 12, 1, 10, 0, 2, 0, time.UTC) },
				Log: slog.New(slog.NewTextHandler(&logs, nil)),
			}
			if err := l.Pass(t.Context(), 0); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, outcomes{tt.want}) {
				t.Errorf("outcomes = %v, want [%s]", got, tt.want)
			}
			if !slices.Equal(imgs.scanned, tt.wantScanned) {
				t.Errorf("scanned %v, want %v", imgs.scanned, tt.wantScanned)
			}
			if deleted := slices.Equal(q.deleted, []string{"r-1"}); deleted != tt.wantDeleted {
				t.Errorf("deleted %v, want deleted=%v", q.deleted, tt.wantDeleted)
			}
			if tt.want != OutcomeHandled && tt.want != OutcomeIgnored && !strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("a %s message was not logged as a warning:\n%s", tt.want, logs.String())
			}
			if tt.want == OutcomeFailed && s["tag-event:0d1c7b6e-2f57-4d4e-9b7a-3f5c2c1e9a10"] {
				t.Error("a failed event stays marked as seen: its redelivery would be taken for a replay")
			}
		})
	}
}

func TestListener_deleteFailureStillCounts(t *testing.T) {
	q := &queue{batch: []Message{{ID: "m-1", Receipt: "r-1", Body: string(sample(t))}}, deleteErr: errors.New("network")}
	var got outcomes
	l := &Listener{
		Queue: q, Images: &images{}, Seen: seen{}, Account: "123456789012", Region: "eu-central-1",
		Observer: &got, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if err := l.Pass(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, outcomes{OutcomeHandled}) {
		t.Errorf("outcomes = %v, want [handled]", got)
	}
}
