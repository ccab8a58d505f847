package sns

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Alarm states, as CloudWatch writes NewStateValue and OldStateValue.
const (
	StateAlarm            = "ALARM"
	StateOK               = "OK"
	StateInsufficientData = "INSUFFICIENT_DATA"
)

// DimensionWorkspaceID is the CloudWatch dimension naming a WorkSpace.
const DimensionWorkspaceID = "WorkspaceId"

// workspaceIDRE is the WorkSpaces model's pattern for a WorkSpace ID.
var workspaceIDRE = regexp.MustCompile(`^ws-[0-9a-z]{8,63}$`)

// Alarm is the part of a CloudWatch alarm notification deskpilot uses.
type Alarm struct {
	AlarmName     string
	AlarmArn      string
	NewStateValue string // StateAlarm, StateOK or StateInsufficientData
	OldStateValue string // as NewStateValue, or empty if the document has none
	// MetricName and Namespace come from the Trigger; for a metric-math
	// alarm, from its metrics if they all agree, else they are empty.
	MetricName string
	Namespace  string
	// Region is the display name CloudWatch writes, such as
	// "US East (N. Virginia)", not a region code.
	Region          string
	StateChangeTime time.Time // UTC
	// WorkspaceIDs are the values of every dimension named WorkspaceId in
	// the Trigger and in each of its metrics, deduplicated, in order of
	// first appearance. There is at least one.
	WorkspaceIDs []string
}

// alarmDoc is the alarm document of aws-semantics.md §5.2. encoding/json
// matches keys case-insensitively, which is what the lower-case name and
// value of dimensions need.
type alarmDoc struct {
	AlarmName       string
	AlarmArn        string
	NewStateValue   string
	OldStateValue   string
	Region          string
	StateChangeTime string
	Trigger         *struct {
		MetricName string
		Namespace  string
		Dimensions []dimension
		Metrics    []struct {
			MetricStat *struct {
				Metric *struct {
					MetricName string
					Namespace  string
					Dimensions []dimension
				}
			}
		}
	}
}

type dimension struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// stateChangeLayouts are the layouts StateChangeTime is read with: what
// CloudWatch writes (+0000, not Z), then RFC 3339 for other producers.
var stateChangeLayouts = []string{
	"2006-01-02T15:04:05.000-0700",
	"2006-01-02T15:04:05-0700",
	time.RFC3339Nano,
}

// ParseAlarm reads the CloudWatch alarm document in an SNS Notification's
// Message. It requires AlarmName, a NewStateValue of ALARM, OK or
// INSUFFICIENT_DATA (and OldStateValue, if present, likewise),
// StateChangeTime in CloudWatch's layout 2006-01-02T15:04:05.000-0700 or in
// RFC 3339, and at least one WorkspaceId dimension whose value is a
// WorkSpace ID (ws-…).
//
// Dimensions are read by key, never by position, and keys match in any case
// (the SNS document writes name and value in lower case, the CloudWatch API
// Name and Value); so does the dimension name WorkspaceId. They come from
// Trigger.Dimensions and, for metric-math alarms, from every
// Trigger.Metrics[].MetricStat.Metric.Dimensions. Every error wraps
// ErrMalformed.
func ParseAlarm(message string) (Alarm, error) {
	a, err := parseAlarm(message)
	if err != nil {
		return Alarm{}, fmt.Errorf("%w: alarm: %w", ErrMalformed, err)
	}
	return a, nil
}

func parseAlarm(message string) (Alarm, error) {
	if len(message) > MaxMessageBytes {
		return Alarm{}, fmt.Errorf("document is %d bytes, more than %d", len(message), MaxMessageBytes)
	}
	var doc alarmDoc
	if err := json.Unmarshal([]byte(message), &doc); err != nil {
		return Alarm{}, fmt.Errorf("not a JSON alarm document: %w", err)
	}
	a := Alarm{
		AlarmName:     doc.AlarmName,
		AlarmArn:      doc.AlarmArn,
		NewStateValue: doc.NewStateValue,
		OldStateValue: doc.OldStateValue,
		Region:        doc.Region,
	}
	if a.AlarmName == "" {
		return Alarm{}, errors.New("no AlarmName")
	}
	if !validState(a.NewStateValue) {
		return Alarm{}, fmt.Errorf("NewStateValue %q is not ALARM, OK or INSUFFICIENT_DATA", a.NewStateValue)
	}
	if a.OldStateValue != "" && !validState(a.OldStateValue) {
		return Alarm{}, fmt.Errorf("OldStateValue %q is not ALARM, OK or INSUFFICIENT_DATA", a.OldStateValue)
	}
	t, err := parseStateChangeTime(doc.StateChangeTime)
	if err != nil {
		return Alarm{}, err
	}
	a.StateChangeTime = t
	if doc.Trigger == nil {
		return Alarm{}, errors.New("no Trigger")
	}

	seen := map[string]bool{}
	add := func(dims []dimension) error {
		for _, d := range dims {
			if !strings.EqualFold(d.Name, DimensionWorkspaceID) {
				continue
			}
			if !workspaceIDRE.MatchString(d.Value) {
				return fmt.Errorf("dimension %s is %q, not a WorkSpace ID", d.Name, d.Value)
			}
			if !seen[d.Value] {
				seen[d.Value] = true
				a.WorkspaceIDs = append(a.WorkspaceIDs, d.Value)
			}
		}
		return nil
	}
	if err := add(doc.Trigger.Dimensions); err != nil {
		return Alarm{}, err
	}
	a.MetricName, a.Namespace = doc.Trigger.MetricName, doc.Trigger.Namespace
	names, namespaces := map[string]bool{}, map[string]bool{}
	for _, m := range doc.Trigger.Metrics {
		if m.MetricStat == nil || m.MetricStat.Metric == nil {
			continue // an expression
		}
		metric := m.MetricStat.Metric
		if err := add(metric.Dimensions); err != nil {
			return Alarm{}, err
		}
		names[metric.MetricName] = true
		namespaces[metric.Namespace] = true
	}
	if a.MetricName == "" && a.Namespace == "" && len(names) == 1 && len(namespaces) == 1 {
		for n := range names {
			a.MetricName = n
		}
		for n := range namespaces {
			a.Namespace = n
		}
	}
	if len(a.WorkspaceIDs) == 0 {
		return Alarm{}, errors.New("no WorkspaceId dimension")
	}
	return a, nil
}

func validState(s string) bool {
	return s == StateAlarm || s == StateOK || s == StateInsufficientData
}

func parseStateChangeTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("no StateChangeTime")
	}
	for _, layout := range stateChangeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			// A four-digit UTC year keeps the value printable and readable
			// again; anything before 1970 is nonsense anyway.
			if y := t.Year(); y < 1970 || y > 9999 {
				return time.Time{}, fmt.Errorf("StateChangeTime %q is out of range", s)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("StateChangeTime %q is neither 2006-01-02T15:04:05.000-0700 nor RFC 3339", s)
}
