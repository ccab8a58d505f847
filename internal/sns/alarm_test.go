package sns

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseAlarm(t *testing.T) {
	changed := time.Date(2024, 5, 1, 10, 5, 12, 345e6, time.UTC)
	sample := Alarm{
		AlarmName:       "ws-unhealthy-ws-dk1xzr417",
		AlarmArn:        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ws-unhealthy-ws-dk1xzr417",
		NewStateValue:   StateAlarm,
		OldStateValue:   StateOK,
		MetricName:      "Unhealthy",
		Namespace:       "AWS/WorkSpaces",
		Region:          "US East (N. Virginia)",
		StateChangeTime: changed,
		WorkspaceIDs:    []string{wsID},
	}
	with := func(edit func(*Alarm)) Alarm {
		a := sample
		a.WorkspaceIDs = append([]string(nil), a.WorkspaceIDs...)
		edit(&a)
		return a
	}
	replace := func(doc, old, new string) string {
		if !strings.Contains(doc, old) {
			t.Fatalf("test document lacks %q", old)
		}
		return strings.Replace(doc, old, new, 1)
	}
	const dims = `"Dimensions": [ { "value": "ws-dk1xzr417", "name": "WorkspaceId" } ]`

	tests := []struct {
		name string
		doc  string
		want Alarm
		err  string
	}{
		{name: "aws sample", doc: sampleAlarm, want: sample},
		{name: "metric math", doc: mathAlarm, want: Alarm{
			AlarmName:       "desk-disconnects",
			AlarmArn:        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:desk-disconnects",
			NewStateValue:   StateAlarm,
			OldStateValue:   StateInsufficientData,
			MetricName:      "SessionDisconnect",
			Namespace:       "AWS/WorkSpaces",
			Region:          "US East (N. Virginia)",
			StateChangeTime: changed,
			WorkspaceIDs:    []string{"ws-aaaaaaaa1", "ws-bbbbbbbb2"},
		}},
		{name: "metric math over different metrics", doc: replace(mathAlarm, `"MetricName": "SessionDisconnect", "Namespace": "AWS/WorkSpaces"}, "Period": 60, "Stat": "Sum", "Unit"`, `"MetricName": "UserConnected", "Namespace": "AWS/WorkSpaces"}, "Period": 60, "Stat": "Sum", "Unit"`), want: Alarm{
			AlarmName:       "desk-disconnects",
			AlarmArn:        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:desk-disconnects",
			NewStateValue:   StateAlarm,
			OldStateValue:   StateInsufficientData,
			Region:          "US East (N. Virginia)",
			StateChangeTime: changed,
			WorkspaceIDs:    []string{"ws-aaaaaaaa1", "ws-bbbbbbbb2"},
		}},
		{name: "name before value", doc: replace(sampleAlarm, dims, `"Dimensions": [ { "name": "WorkspaceId", "value": "ws-dk1xzr417" } ]`), want: sample},
		{name: "API casing", doc: replace(sampleAlarm, dims, `"Dimensions": [ { "Value": "ws-dk1xzr417", "Name": "WorkspaceId" } ]`), want: sample},
		{name: "other dimensions first", doc: replace(sampleAlarm, dims, `"Dimensions": [ { "value": "d-1234567890", "name": "DirectoryId" }, { "value": "ws-dk1xzr417", "name": "WorkspaceId" } ]`), want: sample},
		{name: "dimension name in other case", doc: replace(sampleAlarm, dims, `"Dimensions": [ { "value": "ws-dk1xzr417", "name": "workspaceid" } ]`), want: sample},
		{name: "deduplicated", doc: replace(sampleAlarm, dims, `"Dimensions": [ { "value": "ws-dk1xzr417", "name": "WorkspaceId" }, { "value": "ws-dk1xzr417", "name": "WorkspaceId" }, { "value": "ws-00000000z", "name": "WorkspaceId" } ]`),
			want: with(func(a *Alarm) { a.WorkspaceIDs = []string{wsID, "ws-00000000z"} })},
		{name: "OK state", doc: replace(replace(sampleAlarm, `"NewStateValue": "ALARM"`, `"NewStateValue": "OK"`), `"OldStateValue": "OK"`, `"OldStateValue": "ALARM"`),
			want: with(func(a *Alarm) { a.NewStateValue, a.OldStateValue = StateOK, StateAlarm })},
		{name: "insufficient data", doc: replace(sampleAlarm, `"NewStateValue": "ALARM"`, `"NewStateValue": "INSUFFICIENT_DATA"`),
			want: with(func(a *Alarm) { a.NewStateValue = StateInsufficientData })},
		{name: "no old state", doc: replace(sampleAlarm, `"OldStateValue": "OK",`, ``), want: with(func(a *Alarm) { a.OldStateValue = "" })},
		{name: "RFC 3339 Z", doc: replace(sampleAlarm, `2024-05-01T10:05:12.345+0000`, `2024-05-01T10:05:12.345Z`), want: sample},
		{name: "RFC 3339 offset", doc: replace(sampleAlarm, `2024-05-01T10:05:12.345+0000`, `2024-05-01T12:05:12.345+02:00`), want: sample},
		{name: "offset without colon", doc: replace(sampleAlarm, `2024-05-01T10:05:12.345+0000`, `2024-05-01T12:05:12.345+0200`), want: sample},
		{name: "no milliseconds", doc: replace(sampleAlarm, `2024-05-01T10:05:12.345+0000`, `2024-05-01T10:05:12+0000`),
			want: with(func(a *Alarm) { a.StateChangeTime = changed.Truncate(time.Second) })},

		{name: "empty", doc: ``, err: "not a JSON"},
		{name: "not JSON", doc: `ALARM ws-dk1xzr417`, err: "not a JSON"},
		{name: "array", doc: `[` + sampleAlarm + `]`, err: "not a JSON"},
		{name: "null", doc: `null`, err: "no AlarmName"},
		{name: "eventbridge shape", doc: `{"detail-type":"CloudWatch Alarm State Change","detail":{"alarmName":"a","state":{"value":"ALARM"}}}`, err: "no AlarmName"},
		{name: "no WorkspaceId", doc: replace(sampleAlarm, dims, `"Dimensions": [ { "value": "d-1234567890", "name": "DirectoryId" } ]`), err: "no WorkspaceId"},
		{name: "no dimensions", doc: replace(sampleAlarm, dims, `"Dimensions": []`), err: "no WorkspaceId"},
		{name: "no trigger", doc: `{"AlarmName":"a","NewStateValue":"ALARM","StateChangeTime":"2024-05-01T10:05:12.345+0000"}`, err: "no Trigger"},
		{name: "WorkspaceId not a WorkSpace ID", doc: replace(sampleAlarm, `"ws-dk1xzr417", "name"`, `"ws-DK1XZR417", "name"`), err: "not a WorkSpace ID"},
		{name: "WorkspaceId injection", doc: replace(sampleAlarm, `"ws-dk1xzr417", "name"`, `"ws-dk1xzr417 ws-aaaaaaaa1", "name"`), err: "not a WorkSpace ID"},
		{name: "WorkspaceId null", doc: replace(sampleAlarm, `"ws-dk1xzr417", "name"`, `null, "name"`), err: "not a WorkSpace ID"},
		{name: "WorkspaceId number", doc: replace(sampleAlarm, `"ws-dk1xzr417", "name"`, `17, "name"`), err: "not a JSON"},
		{name: "dimensions by position only", doc: replace(sampleAlarm, dims, `"Dimensions": [ [ "WorkspaceId", "ws-dk1xzr417" ] ]`), err: "not a JSON"},
		{name: "bad math metric WorkspaceId", doc: replace(mathAlarm, `"ws-bbbbbbbb2"`, `"bbbbbbbb2"`), err: "not a WorkSpace ID"},
		{name: "no name", doc: replace(sampleAlarm, `"AlarmName": "ws-unhealthy-ws-dk1xzr417",`, ``), err: "no AlarmName"},
		{name: "unknown state", doc: replace(sampleAlarm, `"NewStateValue": "ALARM"`, `"NewStateValue": "alarm"`), err: "NewStateValue"},
		{name: "no state", doc: replace(sampleAlarm, `"NewStateValue": "ALARM",`, ``), err: "NewStateValue"},
		{name: "unknown old state", doc: replace(sampleAlarm, `"OldStateValue": "OK"`, `"OldStateValue": "FINE"`), err: "OldStateValue"},
		{name: "no time", doc: replace(sampleAlarm, `"StateChangeTime": "2024-05-01T10:05:12.345+0000",`, ``), err: "no StateChangeTime"},
		{name: "bad time", doc: replace(sampleAlarm, `2024-05-01T10:05:12.345+0000`, `01/05/24 10:05:12`), err: "StateChangeTime"},
		{name: "ancient time", doc: replace(sampleAlarm, `2024-05-01T10:05:12.345+0000`, `0001-01-01T00:00:00.000+0000`), err: "out of range"},
		{name: "too large", doc: `{"AlarmName":"` + strings.Repeat("a", MaxMessageBytes) + `"}`, err: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAlarm(tt.doc)
			if tt.err != "" {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseAlarm = %+v, %v; want ErrMalformed", got, err)
				}
				mustContain(t, err.Error(), tt.err)
				if diff := cmp.Diff(Alarm{}, got); diff != "" {
					t.Errorf("a failed ParseAlarm returned an alarm (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseAlarm (-want +got):\n%s", diff)
			}
		})
	}
}
