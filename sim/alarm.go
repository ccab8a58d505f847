package sim

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// regionNames are the display names CloudWatch puts in alarm notifications (Region member and
// Subject). Regions missing here are shown by their code.
var regionNames = map[string]string{
	"us-east-1":      "US East (N. Virginia)",
	"us-east-2":      "US East (Ohio)",
	"us-west-1":      "US West (N. California)",
	"us-west-2":      "US West (Oregon)",
	"ca-central-1":   "Canada (Central)",
	"sa-east-1":      "South America (Sao Paulo)",
	"eu-west-1":      "EU (Ireland)",
	"eu-west-2":      "EU (London)",
	"eu-west-3":      "EU (Paris)",
	"eu-central-1":   "EU (Frankfurt)",
	"eu-central-2":   "EU (Zurich)",
	"eu-north-1":     "EU (Stockholm)",
	"eu-south-1":     "EU (Milan)",
	"af-south-1":     "Africa (Cape Town)",
	"il-central-1":   "Israel (Tel Aviv)",
	"ap-south-1":     "Asia Pacific (Mumbai)",
	"ap-northeast-1": "Asia Pacific (Tokyo)",
	"ap-northeast-2": "Asia Pacific (Seoul)",
	"ap-northeast-3": "Asia Pacific (Osaka)",
	"ap-southeast-1": "Asia Pacific (Singapore)",
	"ap-southeast-2": "Asia Pacific (Sydney)",
	"us-gov-west-1":  "AWS GovCloud (US-West)",
}

func regionName(code string) string {
	if name, ok := regionNames[code]; ok {
		return name
	}
	return code
}

// alarmTime formats a time as CloudWatch does in alarm documents: milliseconds and "+0000".
func alarmTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000-0700")
}

// alarmDimension is a dimension in an alarm notification: lower-case keys, value first.
type alarmDimension struct {
	Value string `json:"value"`
	Name  string `json:"name"`
}

type alarmTrigger struct {
	MetricName                       string           `json:"MetricName"`
	Namespace                        string           `json:"Namespace"`
	StatisticType                    string           `json:"StatisticType"`
	Statistic                        string           `json:"Statistic"`
	Unit                             *string          `json:"Unit"`
	Dimensions                       []alarmDimension `json:"Dimensions"`
	Period                           int              `json:"Period"`
	EvaluationPeriods                int              `json:"EvaluationPeriods"`
	DatapointsToAlarm                int              `json:"DatapointsToAlarm"`
	ComparisonOperator               string           `json:"ComparisonOperator"`
	Threshold                        json.Number      `json:"Threshold"`
	TreatMissingData                 string           `json:"TreatMissingData"`
	EvaluateLowSampleCountPercentile string           `json:"EvaluateLowSampleCountPercentile"`
}

// alarmDocument is the CloudWatch alarm state change that SNS carries as its Message, members
// in the order CloudWatch writes them.
type alarmDocument struct {
	AlarmName                          string       `json:"AlarmName"`
	AlarmDescription                   string       `json:"AlarmDescription"`
	AWSAccountId                       string       `json:"AWSAccountId"`
	AlarmConfigurationUpdatedTimestamp string       `json:"AlarmConfigurationUpdatedTimestamp"`
	NewStateValue                      string       `json:"NewStateValue"`
	NewStateReason                     string       `json:"NewStateReason"`
	StateChangeTime                    string       `json:"StateChangeTime"`
	Region                             string       `json:"Region"`
	AlarmArn                           string       `json:"AlarmArn"`
	OldStateValue                      string       `json:"OldStateValue"`
	OKActions                          []string     `json:"OKActions"`
	AlarmActions                       []string     `json:"AlarmActions"`
	InsufficientDataActions            []string     `json:"InsufficientDataActions"`
	Trigger                            alarmTrigger `json:"Trigger"`
}

// maxSubjectLength is SNS's limit on Subject.
const maxSubjectLength = 100

// disconnectAlarm builds the SNS subject and message of the alarm a WorkSpace's SessionDisconnect
// metric trips: alarm "SessionDisconnect-<id>", Sum of SessionDisconnect ≥ 1 over one minute,
// notifying topicArn. at is the state change; configured is when the alarm was set up (the
// WorkSpace's creation).
func (s *Sim) disconnectAlarm(workspaceID, topicArn string, at, configured time.Time) (subject, message string) {
	name := "SessionDisconnect-" + workspaceID
	region := regionName(s.opts.Region)
	period := at.UTC().Truncate(time.Minute)
	doc := alarmDocument{
		AlarmName:                          name,
		AlarmDescription:                   "A user disconnected from WorkSpace " + workspaceID + ".",
		AWSAccountId:                       s.opts.AccountID,
		AlarmConfigurationUpdatedTimestamp: alarmTime(configured),
		NewStateValue:                      "ALARM",
		NewStateReason: fmt.Sprintf("Threshold Crossed: 1 out of the last 1 datapoints [1.0 (%s)] was greater than or equal to the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition).",
			period.Format("02/01/06 15:04:05")),
		StateChangeTime:         alarmTime(at),
		Region:                  region,
		AlarmArn:                fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", s.opts.Region, s.opts.AccountID, name),
		OldStateValue:           "OK",
		OKActions:               []string{},
		AlarmActions:            []string{topicArn},
		InsufficientDataActions: []string{},
		Trigger: alarmTrigger{
			MetricName: "SessionDisconnect", Namespace: "AWS/WorkSpaces", StatisticType: "Statistic", Statistic: "SUM",
			Dimensions: []alarmDimension{{Value: workspaceID, Name: "WorkspaceId"}},
			Period:     60, EvaluationPeriods: 1, DatapointsToAlarm: 1,
			ComparisonOperator: "GreaterThanOrEqualToThreshold", Threshold: "1.0",
			TreatMissingData: "notBreaching", EvaluateLowSampleCountPercentile: "",
		},
	}
	// CloudWatch writes "OK -> ALARM" literally; encoding/json would escape the '>'.
	var body strings.Builder
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(doc)
	subject = `ALARM: "` + name + `" in ` + region
	if r := []rune(subject); len(r) > maxSubjectLength {
		subject = string(r[:maxSubjectLength])
	}
	return subject, strings.TrimSuffix(body.String(), "\n")
}
