// Package tagevent reads the events an EventBridge rule delivers to deskpilot's SQS queue when an
// AppStream image is tagged or untagged: "AWS API Call via CloudTrail" events of
// appstream.amazonaws.com's TagResource and UntagResource (docs/operations.md, "The event
// pipeline").
//
// An event only says which image to look at: deskpilot never acts on what an event claims the
// tags are, it reads the image's tags from AppStream and reconciles them as the scan would. So a
// forged event can at worst make deskpilot read an image sooner. Parse still refuses anything
// that is not exactly such an event, so that a misrouted or malformed message is reported, not
// silently taken for one.
package tagevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// The envelope's constants, as EventBridge sends them for CloudTrail-recorded management calls.
const (
	DetailType  = "AWS API Call via CloudTrail"
	Source      = "aws.appstream"
	EventSource = "appstream.amazonaws.com"

	TagResource   = "TagResource"
	UntagResource = "UntagResource"
)

// MaxSize is SQS's largest message, 256 KiB; an event is far smaller.
const MaxSize = 256 << 10

// Event is a tag change of an AppStream resource, from its EventBridge event.
type Event struct {
	// ID is the EventBridge event's id, unique per delivery; the replay check keys on it.
	ID string
	// CloudTrailID is CloudTrail's eventID of the call.
	CloudTrailID string
	// Account and Region are where the call was made.
	Account, Region string
	// Time is when the call was made.
	Time time.Time
	// Name is TagResource or UntagResource.
	Name string
	// ResourceARN is the resource whose tags changed.
	ResourceARN string
	// Image is the image's name when the resource is an image, else "".
	Image string
	// Keys are the tag keys the call set or removed.
	Keys []string
	// Failed is the error code when the call itself failed (CloudTrail records failed calls
	// too): nothing changed, so there is nothing to do.
	Failed string
}

// envelope is the part of the event document deskpilot reads.
type envelope struct {
	Version    *string          `json:"version"`
	ID         *string          `json:"id"`
	DetailType *string          `json:"detail-type"`
	Source     *string          `json:"source"`
	Account    *string          `json:"account"`
	Time       *string          `json:"time"`
	Region     *string          `json:"region"`
	Detail     *json.RawMessage `json:"detail"`
}

type detail struct {
	EventSource        string `json:"eventSource"`
	EventName          string `json:"eventName"`
	AWSRegion          string `json:"awsRegion"`
	EventID            string `json:"eventID"`
	EventTime          string `json:"eventTime"`
	RecipientAccountID string `json:"recipientAccountId"`
	ErrorCode          string `json:"errorCode"`
	RequestParameters  *struct {
		ResourceARN *string           `json:"resourceArn"`
		Tags        map[string]string `json:"tags"`
		TagKeys     []string          `json:"tagKeys"`
	} `json:"requestParameters"`
}

var (
	accountRE = regexp.MustCompile(`^\d{12}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	// arnRE is an AppStream ARN: partition, region, account, resource type and name.
	arnRE = regexp.MustCompile(`^arn:aws(-[a-z]+)*:appstream:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):([a-z-]+)/([a-zA-Z0-9][a-zA-Z0-9_.-]{0,255})$`)
)

// Parse reads one message body. It returns an error, saying what is wrong, for anything that
// is not an AppStream TagResource or UntagResource event as EventBridge delivers it: a body
// that is not one JSON object, a missing or empty field, another source or call, a region or
// account that does not match the call's.
func Parse(body []byte) (Event, error) {
	if len(body) > MaxSize {
		return Event{}, fmt.Errorf("%d bytes, more than an SQS message can hold", len(body))
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return Event{}, fmt.Errorf("not a JSON event: %w", err)
	}
	if dec.More() {
		return Event{}, errors.New("more than one JSON value")
	}
	missing := func(name string, v *string) error {
		if v == nil || *v == "" {
			return fmt.Errorf("no %q", name)
		}
		return nil
	}
	if err := errors.Join(missing("version", env.Version), missing("id", env.ID), missing("detail-type", env.DetailType),
		missing("source", env.Source), missing("account", env.Account), missing("time", env.Time), missing("region", env.Region)); err != nil {
		return Event{}, fmt.Errorf("not an EventBridge event: %w", err)
	}
	switch {
	case *env.Version != "0":
		return Event{}, fmt.Errorf("event version %q, want \"0\"", *env.Version)
	case *env.DetailType != DetailType:
		return Event{}, fmt.Errorf("detail-type %q, want %q", *env.DetailType, DetailType)
	case *env.Source != Source:
		return Event{}, fmt.Errorf("source %q, want %q", *env.Source, Source)
	case !accountRE.MatchString(*env.Account):
		return Event{}, fmt.Errorf("account %q is not 12 digits", *env.Account)
	case !regionRE.MatchString(*env.Region):
		return Event{}, fmt.Errorf("region %q is not a region name", *env.Region)
	case env.Detail == nil:
		return Event{}, errors.New("no \"detail\"")
	}
	at, err := time.Parse(time.RFC3339, *env.Time)
	if err != nil {
		return Event{}, fmt.Errorf("time %q is not RFC 3339", *env.Time)
	}
	var d detail
	if err := json.Unmarshal(*env.Detail, &d); err != nil {
		return Event{}, fmt.Errorf("detail: %w", err)
	}
	switch {
	case d.EventSource != EventSource:
		return Event{}, fmt.Errorf("detail.eventSource %q, want %q", d.EventSource, EventSource)
	case d.EventName != TagResource && d.EventName != UntagResource:
		return Event{}, fmt.Errorf("detail.eventName %q, want %s or %s", d.EventName, TagResource, UntagResource)
	case d.AWSRegion != *env.Region:
		return Event{}, fmt.Errorf("detail.awsRegion %q differs from the event's region %q", d.AWSRegion, *env.Region)
	case d.RecipientAccountID != "" && d.RecipientAccountID != *env.Account:
		return Event{}, fmt.Errorf("detail.recipientAccountId %q differs from the event's account %q", d.RecipientAccountID, *env.Account)
	}
	e := Event{ID: *env.ID, CloudTrailID: d.EventID, Account: *env.Account, Region: *env.Region, Time: at, Name: d.EventName, Failed: d.ErrorCode}
	if d.RequestParameters == nil || d.RequestParameters.ResourceARN == nil {
		if e.Failed != "" {
			return e, nil // a refused call may not echo its parameters
		}
		return Event{}, errors.New("no detail.requestParameters.resourceArn")
	}
	e.ResourceARN = *d.RequestParameters.ResourceARN
	m := arnRE.FindStringSubmatch(e.ResourceARN)
	switch {
	case m == nil:
		return Event{}, fmt.Errorf("resourceArn %q is not an AppStream ARN", e.ResourceARN)
	case m[2] != e.Region:
		return Event{}, fmt.Errorf("resourceArn %q is in region %s, the event in %s", e.ResourceARN, m[2], e.Region)
	case m[3] != e.Account:
		return Event{}, fmt.Errorf("resourceArn %q is in account %s, the event in %s", e.ResourceARN, m[3], e.Account)
	}
	if m[4] == "image" {
		e.Image = m[5]
	}
	if d.EventName == TagResource {
		for k := range d.RequestParameters.Tags {
			e.Keys = append(e.Keys, k)
		}
	} else {
		e.Keys = append(e.Keys, d.RequestParameters.TagKeys...)
	}
	slices.Sort(e.Keys)
	return e, nil
}

// Concerns reports whether the event may change a rollout: a successful tag change of an image
// touching one of the protocol's keys (keys nil means any). Tag keys are case-sensitive, as in
// AWS.
func (e Event) Concerns(keys []string) bool {
	if e.Image == "" || e.Failed != "" {
		return false
	}
	if keys == nil {
		return true
	}
	for _, k := range e.Keys {
		for _, want := range keys {
			if k == want {
				return true
			}
		}
	}
	return false
}
