package tagevent

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func sample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/tag_image.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit returns the sample with f applied to its decoded form.
func edit(t testing.TB, f func(ev map[string]any, d map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(sample(t), &ev); err != nil {
		t.Fatal(err)
	}
	f(ev, ev["detail"].(map[string]any))
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParse_tagResourceOfAnImage(t *testing.T) {
	e, err := Parse(sample(t))
	if err != nil {
		t.Fatal(err)
	}
	want := Event{
		ID: "0d1c7b6e-2f57-4d4e-9b7a-3f5c2c1e9a10", CloudTrailID: "a6fbde60-a55a-46fe-87d4-89ead558dffd",
		Account: "123456789012", Region: "eu-central-1", Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		Name: TagResource, ResourceARN: "arn:aws:appstream:eu-central-1:123456789012:image/office-2026-12",
		Image: "office-2026-12", Keys: []string{"FleetName", "ScaleImmediately"},
	}
	if e.ID != want.ID || e.CloudTrailID != want.CloudTrailID || e.Account != want.Account || e.Region != want.Region ||
		!e.Time.Equal(want.Time) || e.Name != want.Name || e.ResourceARN != want.ResourceARN || e.Image != want.Image ||
		!slices.Equal(e.Keys, want.Keys) || e.Failed != "" {
		t.Errorf("Parse =\n%+v\nwant\n%+v", e, want)
	}
	if !e.Concerns([]string{"FleetName"}) || e.Concerns([]string{"Approve"}) || !e.Concerns(nil) {
		t.Errorf("Concerns: wrong for keys %v", e.Keys)
	}
}

func TestParse_accepted(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(ev, d map[string]any)
		check func(*testing.T, Event)
	}{
		{"untag", func(ev, d map[string]any) {
			d["eventName"] = UntagResource
			d["requestParameters"] = map[string]any{"resourceArn": "arn:aws:appstream:eu-central-1:123456789012:image/office-2026-12", "tagKeys": []string{"Status", "FleetName"}}
		}, func(t *testing.T, e Event) {
			if e.Name != UntagResource || !slices.Equal(e.Keys, []string{"FleetName", "Status"}) || !e.Concerns([]string{"FleetName"}) {
				t.Errorf("got %+v", e)
			}
		}},
		{"a fleet's tags: parsed, but no image", func(ev, d map[string]any) {
			d["requestParameters"].(map[string]any)["resourceArn"] = "arn:aws:appstream:eu-central-1:123456789012:fleet/fleet-a"
		}, func(t *testing.T, e Event) {
			if e.Image != "" || e.Concerns(nil) {
				t.Errorf("a fleet's event concerns an image: %+v", e)
			}
		}},
		{"a failed call changes nothing", func(ev, d map[string]any) {
			d["errorCode"] = "AccessDenied"
			delete(d, "requestParameters")
		}, func(t *testing.T, e Event) {
			if e.Failed != "AccessDenied" || e.Concerns(nil) {
				t.Errorf("got %+v", e)
			}
		}},
		{"no recipientAccountId", func(ev, d map[string]any) { delete(d, "recipientAccountId") }, nil},
		{"China partition", func(ev, d map[string]any) {
			ev["region"], d["awsRegion"] = "cn-north-1", "cn-north-1"
			d["requestParameters"].(map[string]any)["resourceArn"] = "arn:aws-cn:appstream:cn-north-1:123456789012:image/office"
		}, func(t *testing.T, e Event) {
			if e.Image != "office" {
				t.Errorf("image %q", e.Image)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(edit(t, tt.edit))
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, e)
			}
		})
	}
}

func TestParse_refused(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte
		wantErr string
	}{
		{"empty", []byte(""), "not a JSON event"},
		{"not JSON", []byte("FleetName=fleet-a"), "not a JSON event"},
		{"an array", []byte("[]"), "not a JSON event"},
		{"two documents", append(sample(t), []byte(" {}")...), "more than one JSON value"},
		{"an SNS envelope", []byte(`{"Type":"Notification","Message":"{}"}`), `no "version"`},
		{"too large", make([]byte, MaxSize+1), "more than an SQS message can hold"},
		{"another source", edit(t, func(ev, d map[string]any) { ev["source"] = "aws.workspaces" }), `source "aws.workspaces"`},
		{"another detail-type", edit(t, func(ev, d map[string]any) { ev["detail-type"] = "AppStream Fleet State Change" }), "detail-type"},
		{"version 1", edit(t, func(ev, d map[string]any) { ev["version"] = "1" }), "event version"},
		{"no id", edit(t, func(ev, d map[string]any) { delete(ev, "id") }), `no "id"`},
		{"an empty id", edit(t, func(ev, d map[string]any) { ev["id"] = "" }), `no "id"`},
		{"an id of the wrong type", edit(t, func(ev, d map[string]any) { ev["id"] = 7 }), "not a JSON event"},
		{"a bad account", edit(t, func(ev, d map[string]any) { ev["account"] = "12345" }), "not 12 digits"},
		{"a bad region", edit(t, func(ev, d map[string]any) { ev["region"] = "Frankfurt" }), "not a region name"},
		{"a bad time", edit(t, func(ev, d map[string]any) { ev["time"] = "yesterday" }), "not RFC 3339"},
		{"no detail", edit(t, func(ev, d map[string]any) { delete(ev, "detail") }), `no "detail"`},
		{"detail not an object", edit(t, func(ev, d map[string]any) { ev["detail"] = "x" }), "detail:"},
		{"another event source", edit(t, func(ev, d map[string]any) { d["eventSource"] = "workspaces.amazonaws.com" }), "detail.eventSource"},
		{"another call", edit(t, func(ev, d map[string]any) { d["eventName"] = "UpdateFleet" }), "detail.eventName"},
		{"the call in another region", edit(t, func(ev, d map[string]any) { d["awsRegion"] = "us-east-1" }), "detail.awsRegion"},
		{"recipient of another account", edit(t, func(ev, d map[string]any) { d["recipientAccountId"] = "999999999999" }), "recipientAccountId"},
		{"no resourceArn", edit(t, func(ev, d map[string]any) { delete(d, "requestParameters") }), "no detail.requestParameters.resourceArn"},
		{"an ARN of another service", edit(t, func(ev, d map[string]any) {
			d["requestParameters"].(map[string]any)["resourceArn"] = "arn:aws:workspaces:eu-central-1:123456789012:workspace/ws-1"
		}), "not an AppStream ARN"},
		{"an image in another account", edit(t, func(ev, d map[string]any) {
			d["requestParameters"].(map[string]any)["resourceArn"] = "arn:aws:appstream:eu-central-1:999999999999:image/office"
		}), "in account 999999999999"},
		{"an image in another region", edit(t, func(ev, d map[string]any) {
			d["requestParameters"].(map[string]any)["resourceArn"] = "arn:aws:appstream:us-east-1:123456789012:image/office"
		}), "in region us-east-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.body)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzParse checks that Parse never panics, and that what it accepts is self-consistent: an
// image is named only by an AppStream image ARN of the event's own account and region.
func FuzzParse(f *testing.F) {
	f.Add(sample(f))
	f.Add([]byte(`{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.appstream","account":"123456789012","time":"2026-12-01T10:00:00Z","region":"eu-central-1","detail":{"eventSource":"appstream.amazonaws.com","eventName":"UntagResource","awsRegion":"eu-central-1","requestParameters":{"resourceArn":"arn:aws:appstream:eu-central-1:123456789012:image/a","tagKeys":["FleetName"]}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := Parse(body)
		if err != nil {
			return
		}
		if e.ID == "" || e.Account == "" || e.Region == "" || (e.Name != TagResource && e.Name != UntagResource) {
			t.Fatalf("accepted an incomplete event: %+v", e)
		}
		if e.Image != "" {
			want := ":appstream:" + e.Region + ":" + e.Account + ":image/" + e.Image
			if !strings.HasSuffix(e.ResourceARN, want) {
				t.Fatalf("image %q from ARN %q, not of the event's account and region", e.Image, e.ResourceARN)
			}
		}
	})
}
