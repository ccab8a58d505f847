package sim

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// The emulator's SQS: standard queues over the JSON 1.0 protocol (X-Amz-Target:
// AmazonSQS.<Op>) with SQS's query-compatible error codes, as aws-sdk-go-v2, boto3 and the AWS
// CLI speak it. Its state is guarded by the emulator's lock and runs on the emulator's clock
// (s.now); a long poll releases the lock while it waits.

// sqsTargetPrefix is SQS's X-Amz-Target prefix.
const sqsTargetPrefix = "AmazonSQS"

// sqsPollTick is how often a waiting long poll looks at its queue again (real time), to see a
// message whose visibility timeout or delay ran out, or a manual clock that moved. A sent or
// delivered message wakes it at once.
const sqsPollTick = 20 * time.Millisecond

// sqsRecentlyDeleted is how long SQS refuses to create a queue of a name just deleted, and how
// often it lets a queue be purged.
const sqsRecentlyDeleted = 60 * time.Second

// sqsBackend is the SQS state: the queues and the emulated EventBridge targets (events.go).
// Everything in it is guarded by Sim.mu.
type sqsBackend struct {
	queues map[string]*sqsQueue
	// deleted is when each recently deleted queue name went.
	deleted map[string]time.Time
	// seq numbers receipt handles.
	seq uint64

	targets []*eventTarget
	// delivered counts event messages sent to targets, dropped the events lost on purpose,
	// dropNext the events still to lose.
	delivered, dropped, dropNext int

	// waiting counts the long polls waiting now (found nothing and sleep); it is read without
	// the state lock, so that a test can wait for a poll to be waiting (WaitingPolls).
	waiting atomic.Int64
}

func newSQS() *sqsBackend { return &sqsBackend{} }

// reset forgets every queue and target; the caller holds Sim.mu.
func (b *sqsBackend) reset() {
	*b = sqsBackend{queues: map[string]*sqsQueue{}, deleted: map[string]time.Time{}}
}

type sqsQueue struct {
	name, arn         string
	created, modified time.Time
	// attrs are the settable attributes in their canonical form (sqsSettable), defaults
	// included.
	attrs    map[string]string
	redrive  *redrivePolicy
	tags     map[string]string
	messages []*sqsMessage // in the order they arrived
	purged   time.Time
	// wake is closed and replaced when a message becomes receivable at once, waking long polls.
	wake chan struct{}
}

type redrivePolicy struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

type sqsMessage struct {
	id, body, bodyMD5 string
	sender            string
	attributes        map[string]messageAttribute
	traceHeader       string
	groupID           string
	// sourceArn is the queue a dead-lettered message came from.
	sourceArn string
	sent      time.Time
	// visibleAt is when the message can next be received (a delay, or a visibility timeout).
	visibleAt    time.Time
	receives     int
	firstReceive time.Time
	// receipt is the handle of the latest receive, receivedAt its time.
	receipt    string
	receivedAt time.Time
}

// messageAttribute is a message attribute as the JSON protocol spells it (binary values are
// base64 in JSON, []byte here).
type messageAttribute struct {
	DataType         string
	StringValue      *string  `json:",omitempty"`
	BinaryValue      []byte   `json:",omitempty"`
	StringListValues []string `json:",omitempty"`
	BinaryListValues [][]byte `json:",omitempty"`
}

// sqsErr is an SQS error: shape is the error's name in the JSON protocol's __type, queryCode
// the code the query protocol used, which the SDKs report (through x-amzn-query-error).
type sqsErr struct {
	shape, queryCode, message string
	status                    int
}

func (e *sqsErr) Error() string { return e.queryCode + ": " + e.message }

func newSQSErr(shape, queryCode string, status int, format string, args ...any) *sqsErr {
	return &sqsErr{shape: shape, queryCode: queryCode, status: status, message: fmt.Sprintf(format, args...)}
}

// sqsError builds an error whose shape and query code are the same, HTTP 400.
func sqsError(code, format string, args ...any) *sqsErr {
	return newSQSErr(code, code, http.StatusBadRequest, format, args...)
}

func invalidParameter(format string, args ...any) *sqsErr {
	return sqsError("InvalidParameterValue", format, args...)
}

func missingParameter(name string) *sqsErr {
	return sqsError("MissingParameter", "The request must contain the parameter %s.", name)
}

func queueDoesNotExist() *sqsErr {
	return newSQSErr("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", http.StatusBadRequest, "The specified queue does not exist.")
}

func invalidReceipt(handle string) *sqsErr {
	return newSQSErr("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", http.StatusNotFound, "The input receipt handle %q is not a valid receipt handle.", handle)
}

// writeSQSError answers an SQS error as AWS does: the JSON body with the namespaced shape, and
// the query code in x-amzn-query-error, which aws-sdk-go-v2, boto3 and the CLI report.
func writeSQSError(w http.ResponseWriter, e *sqsErr) {
	wire.NoteError(w, e.queryCode)
	h := w.Header()
	h.Set("Content-Type", wire.JSON10.ContentType())
	h.Set("X-Amzn-ErrorType", "com.amazonaws.sqs#"+e.shape)
	fault := "Sender"
	if e.status >= 500 {
		fault = "Receiver"
	}
	h.Set("X-Amzn-Query-Error", e.queryCode+";"+fault)
	w.WriteHeader(e.status)
	body, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.sqs#" + e.shape, "message": e.message})
	_, _ = w.Write(body)
}

// sqsCall is one SQS request as an operation sees it.
type sqsCall struct {
	ctx  context.Context
	body []byte
	// base is the emulator's URL as the client reached it (queue URLs are built on it).
	base string
}

// sqsOp answers one SQS operation. Operations take the emulator's lock themselves (a long
// poll must release it while it waits).
type sqsOp func(s *Sim, c *sqsCall) (any, error)

var sqsOps = map[string]sqsOp{
	"CreateQueue":             (*Sim).sqsCreateQueue,
	"GetQueueUrl":             (*Sim).sqsGetQueueURL,
	"ListQueues":              (*Sim).sqsListQueues,
	"DeleteQueue":             (*Sim).sqsDeleteQueue,
	"PurgeQueue":              (*Sim).sqsPurgeQueue,
	"GetQueueAttributes":      (*Sim).sqsGetQueueAttributes,
	"SetQueueAttributes":      (*Sim).sqsSetQueueAttributes,
	"SendMessage":             (*Sim).sqsSendMessage,
	"ReceiveMessage":          (*Sim).sqsReceiveMessage,
	"DeleteMessage":           (*Sim).sqsDeleteMessage,
	"ChangeMessageVisibility": (*Sim).sqsChangeMessageVisibility,
}

// errRequestGone ends a long poll whose client went away: nothing is answered.
var errRequestGone = errors.New("the client went away")

// serveSQS answers an SQS call and notes in c the queue it names.
func (s *Sim) serveSQS(w *recorder, r *http.Request, c *Call) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeSQSError(w, sqsError("SerializationException", "%v", err))
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	var named []resourceRef
	if name := sqsQueueNamed(body); name != "" {
		c.Resource = name
		named = []resourceRef{{kind: "queue", name: name}}
	}
	if s.intercept(w, r, ServiceSQS, c.Operation, wire.JSON10, "", named) {
		return
	}
	op, ok := sqsOps[c.Operation]
	if !ok {
		writeSQSError(w, sqsError("UnknownOperationException", "deskpilot sim does not implement the SQS operation %q.", c.Operation))
		return
	}
	call := &sqsCall{ctx: r.Context(), body: body, base: requestBase(r)}
	out, err := runSQS(s, op, call)
	var se *sqsErr
	switch {
	case err == nil:
		wire.WriteJSON(w, wire.JSON10, out)
	case errors.Is(err, errRequestGone):
	case errors.As(err, &se):
		writeSQSError(w, se)
	default:
		writeSQSError(w, newSQSErr("InternalFailure", "InternalFailure", http.StatusInternalServerError, "%v", err))
	}
}

// runSQS runs an operation; a panic is an emulator bug, answered as an internal failure. The
// operations release the lock with defer, so a panic never leaves it held.
func runSQS(s *Sim, op sqsOp, c *sqsCall) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("deskpilot sim bug: %v", r)
		}
	}()
	return op(s, c)
}

// decodeSQS reads a request body; a body that is not the input structure is a
// SerializationException, as the JSON protocols answer.
func decodeSQS(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return sqsError("SerializationException", "The request body is not the operation's input: %v", err)
	}
	return nil
}

// sqsQueueNamed is the queue a request names (QueueName, or the name in QueueUrl), for the
// call log and resource-scoped faults.
func sqsQueueNamed(body []byte) string {
	var in struct{ QueueName, QueueUrl *string }
	if json.Unmarshal(body, &in) != nil {
		return ""
	}
	if in.QueueName != nil {
		return *in.QueueName
	}
	if in.QueueUrl != nil {
		if _, name, ok := splitQueueURL(*in.QueueUrl); ok {
			return name
		}
	}
	return ""
}

// requestBase is the URL a client reached the emulator at: http, or https behind TLS.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// splitQueueURL reads http(s)://HOST/ACCOUNT/NAME, or /ACCOUNT/NAME. The host is not checked:
// clients reach the emulator by several names.
func splitQueueURL(u string) (account, name string, ok bool) {
	path := u
	if i := strings.Index(u, "://"); i >= 0 {
		j := strings.Index(u[i+3:], "/")
		if j < 0 {
			return "", "", false
		}
		path = u[i+3+j:]
	}
	parts := strings.Split(path, "/")
	if len(parts) != 3 || parts[0] != "" || parts[1] == "" || parts[2] == "" {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// queueURL is a queue's URL on base.
func (s *Sim) queueURL(base, name string) string {
	return base + "/" + s.opts.AccountID + "/" + name
}

// queueARN is the ARN of the queue name.
func (s *Sim) queueARN(name string) string {
	return "arn:aws:sqs:" + s.opts.Region + ":" + s.opts.AccountID + ":" + name
}

// queueByURL finds the queue a QueueUrl names; the caller holds the lock.
func (s *Sim) queueByURL(u *string) (*sqsQueue, error) {
	if u == nil || *u == "" {
		return nil, missingParameter("QueueUrl")
	}
	account, name, ok := splitQueueURL(*u)
	if !ok || account != s.opts.AccountID {
		return nil, queueDoesNotExist()
	}
	q, ok := s.sqs.queues[name]
	if !ok {
		return nil, queueDoesNotExist()
	}
	return q, nil
}

// queueByARN finds a queue by its ARN; the caller holds the lock.
func (s *Sim) queueByARN(arn string) *sqsQueue {
	prefix := "arn:aws:sqs:" + s.opts.Region + ":" + s.opts.AccountID + ":"
	name, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return nil
	}
	return s.sqs.queues[name]
}

// The settable queue attributes and their defaults (standard queues), from the SQS API
// reference. Attributes without a default are absent until set.
var sqsDefaults = map[string]string{
	"DelaySeconds":                  "0",
	"MaximumMessageSize":            "1048576",
	"MessageRetentionPeriod":        "345600",
	"ReceiveMessageWaitTimeSeconds": "0",
	"VisibilityTimeout":             "30",
	"SqsManagedSseEnabled":          "true",
}

// sqsIntRanges bound the integer attributes.
var sqsIntRanges = map[string][2]int{
	"DelaySeconds":                  {0, 900},
	"MaximumMessageSize":            {1024, 1048576},
	"MessageRetentionPeriod":        {60, 1209600},
	"ReceiveMessageWaitTimeSeconds": {0, 20},
	"VisibilityTimeout":             {0, 43200},
	"KmsDataKeyReusePeriodSeconds":  {60, 86400},
}

// sqsSettable are the attributes CreateQueue and SetQueueAttributes take for a standard
// queue; sqsReadOnly the ones GetQueueAttributes adds.
var (
	sqsSettable = []string{"DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "Policy", "ReceiveMessageWaitTimeSeconds",
		"VisibilityTimeout", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"}
	sqsReadOnly = []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
		"CreatedTimestamp", "LastModifiedTimestamp", "QueueArn"}
	// sqsFIFOOnly are attributes of FIFO queues, which the emulator does not have.
	sqsFIFOOnly = []string{"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
)

var sqsQueueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// canonicalAttrs checks attributes for CreateQueue or SetQueueAttributes and returns them in
// canonical form (integers without leading zeros, RedrivePolicy re-encoded), with the parsed
// redrive policy when one is set. A RedrivePolicy's dead-letter queue must exist, or be
// among planned (queue ARNs CloudFormation is about to create).
func (s *Sim) canonicalAttrs(attrs map[string]string, planned map[string]bool) (map[string]string, *redrivePolicy, error) {
	out := make(map[string]string, len(attrs))
	var rp *redrivePolicy
	for _, k := range sortedKeys(attrs) {
		v := attrs[k]
		switch {
		case slices.Contains(sqsFIFOOnly, k):
			if k == "FifoQueue" && v == "false" {
				continue
			}
			return nil, nil, newSQSErr("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", http.StatusBadRequest,
				"deskpilot sim emulates standard queues only; %s is an attribute of FIFO queues.", k)
		case !slices.Contains(sqsSettable, k):
			return nil, nil, sqsError("InvalidAttributeName", "Unknown Attribute %s.", k)
		}
		if r, ok := sqsIntRanges[k]; ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < r[0] || n > r[1] {
				return nil, nil, sqsError("InvalidAttributeValue", "Invalid value for the parameter %s.", k)
			}
			out[k] = strconv.Itoa(n)
			continue
		}
		switch k {
		case "SqsManagedSseEnabled":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, nil, sqsError("InvalidAttributeValue", "Invalid value for the parameter %s.", k)
			}
			out[k] = strconv.FormatBool(b)
		case "Policy", "RedriveAllowPolicy":
			if v != "" && !json.Valid([]byte(v)) {
				return nil, nil, sqsError("InvalidAttributeValue", "Invalid value for the parameter %s.", k)
			}
			out[k] = v
		case "RedrivePolicy":
			if v == "" {
				out[k] = ""
				continue
			}
			p, err := s.parseRedrive(v, planned)
			if err != nil {
				return nil, nil, err
			}
			rp = p
			enc, _ := json.Marshal(p)
			out[k] = string(enc)
		default:
			out[k] = v
		}
	}
	return out, rp, nil
}

// parseRedrive reads a RedrivePolicy: deadLetterTargetArn and maxReceiveCount (a number or a
// string, 1–1000).
func (s *Sim) parseRedrive(v string, planned map[string]bool) (*redrivePolicy, error) {
	invalid := func(reason string) error {
		return invalidParameter("Value %s for parameter RedrivePolicy is invalid. Reason: %s", v, reason)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, invalid("Redrive policy is not a valid JSON map.")
	}
	var p redrivePolicy
	for k, val := range raw {
		switch k {
		case "deadLetterTargetArn":
			if json.Unmarshal(val, &p.DeadLetterTargetArn) != nil {
				return nil, invalid("Invalid value for deadLetterTargetArn.")
			}
		case "maxReceiveCount":
			var n json.Number
			var str string
			if json.Unmarshal(val, &str) == nil {
				n = json.Number(str)
			} else if json.Unmarshal(val, &n) != nil {
				return nil, invalid("Invalid value for maxReceiveCount.")
			}
			i, err := strconv.Atoi(string(n))
			if err != nil || i < 1 || i > 1000 {
				return nil, invalid(fmt.Sprintf("Invalid value for maxReceiveCount: %s, valid values are from 1 to 1000 both inclusive.", n))
			}
			p.MaxReceiveCount = i
		default:
			return nil, invalid("Only following attributes are supported: [deadLetterTargetArn, maxReceiveCount].")
		}
	}
	switch {
	case p.DeadLetterTargetArn == "":
		return nil, invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
	case p.MaxReceiveCount == 0:
		return nil, invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
	case s.queueByARN(p.DeadLetterTargetArn) == nil && !planned[p.DeadLetterTargetArn]:
		return nil, invalid("Dead letter target does not exist.")
	}
	return &p, nil
}

// createQueueLocked creates a queue, or answers the existing one when the request's attributes
// are its own (CreateQueue is idempotent). It returns the queue and whether it is new.
func (s *Sim) createQueueLocked(name *string, attrs, tags map[string]string, planned map[string]bool) (*sqsQueue, bool, error) {
	if name == nil || *name == "" {
		return nil, false, missingParameter("QueueName")
	}
	if strings.HasSuffix(*name, ".fifo") && attrs["FifoQueue"] == "true" {
		return nil, false, newSQSErr("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", http.StatusBadRequest,
			"deskpilot sim emulates standard queues only; FIFO queue %s cannot be created.", *name)
	}
	if !sqsQueueNameRE.MatchString(*name) {
		return nil, false, invalidParameter("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	set, rp, err := s.canonicalAttrs(attrs, planned)
	if err != nil {
		return nil, false, err
	}
	if q, ok := s.sqs.queues[*name]; ok {
		for _, k := range sortedKeys(set) {
			if q.attr(k) != set[k] {
				return nil, false, newSQSErr("QueueNameExists", "QueueAlreadyExists", http.StatusBadRequest,
					"A queue already exists with the same name and a different value for attribute %s", k)
			}
		}
		return q, false, nil
	}
	if at, ok := s.sqs.deleted[*name]; ok && s.now.Sub(at) < s.scale(sqsRecentlyDeleted) {
		return nil, false, newSQSErr("QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently", http.StatusBadRequest,
			"You must wait 60 seconds after deleting a queue before you can create another with the same name.")
	}
	q := &sqsQueue{name: *name, arn: s.queueARN(*name), created: s.now, modified: s.now, attrs: map[string]string{},
		tags: map[string]string{}, wake: make(chan struct{})}
	for k, v := range sqsDefaults {
		q.attrs[k] = v
	}
	q.setAttrs(set, rp)
	for k, v := range tags {
		q.tags[k] = v
	}
	s.sqs.queues[q.name] = q
	delete(s.sqs.deleted, q.name)
	return q, true, nil
}

// attr is a settable attribute's current value ("" when unset).
func (q *sqsQueue) attr(k string) string { return q.attrs[k] }

// sqsRemovable are the attributes without a default, which an empty value removes.
var sqsRemovable = []string{"RedrivePolicy", "Policy", "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds"}

// setAttrs applies canonical attributes; an empty value removes an attribute of sqsRemovable.
func (q *sqsQueue) setAttrs(set map[string]string, rp *redrivePolicy) {
	for k, v := range set {
		if v == "" && slices.Contains(sqsRemovable, k) {
			delete(q.attrs, k)
			if k == "RedrivePolicy" {
				q.redrive = nil
			}
			continue
		}
		q.attrs[k] = v
	}
	if rp != nil {
		q.redrive = rp
	}
	if q.attrs["KmsMasterKeyId"] != "" && q.attrs["KmsDataKeyReusePeriodSeconds"] == "" {
		q.attrs["KmsDataKeyReusePeriodSeconds"] = "300"
	}
}

// seconds reads an integer attribute as a duration on the emulator's clock (divided by Speed,
// like every emulated duration).
func (s *Sim) seconds(q *sqsQueue, k string) time.Duration {
	n, _ := strconv.Atoi(q.attrs[k])
	return s.scale(time.Duration(n) * time.Second)
}

// wakeLocked wakes the long polls waiting on q.
func (q *sqsQueue) wakeLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// expireLocked drops the messages older than the retention period.
func (s *Sim) expireLocked(q *sqsQueue) {
	keep := s.seconds(q, "MessageRetentionPeriod")
	q.messages = slices.DeleteFunc(q.messages, func(m *sqsMessage) bool { return s.now.Sub(m.sent) >= keep })
}

func (s *Sim) sqsCreateQueue(c *sqsCall) (any, error) {
	var in struct {
		QueueName  *string
		Attributes map[string]string
		Tags       map[string]string `json:"tags"`
	}
	if err := decodeSQS(c.body, &in); err != nil {
		return nil, err
	}
	s.lock()
	defer s.mu.Unlock()
	q, _, err := s.createQueueLocked(in.QueueName, in.Attributes, in.Tags, nil)
	if err != nil {
		return nil, err
	}
	return map[string]string{"QueueUrl": s.queueURL(c.base, q.name)}, nil
}

func (s *Sim) sqsGetQueueURL(c *sqsCall) (any, error) {
	var in struct{ QueueName, QueueOwnerAWSAccountId *string }
	if err := decodeSQS(c.body, &in); err != nil {
		return nil, err
	}
	if in.QueueName == nil || *in.QueueName == "" {
		return nil, missingParameter("QueueName")
	}
	s.lock()
	defer s.mu.Unlock()
	q, ok := s.sqs.queues[*in.QueueName]
	if !ok || (in.QueueOwnerAWSAccountId != nil && *in.QueueOwnerAWSAccountId != s.opts.AccountID) {
		return nil, queueDoesNotExist()
	}
	return map[string]string{"QueueUrl": s.queueURL(c.base, q.name)}, nil
}

func (s *Sim) sqsListQueues(c *sqsCall) (any, error) {
	var in struct {
		QueueNamePrefix, NextToken *string
		MaxResults                 *int
	}
	if err := decodeSQS(c.body, &in); err != nil {
		return nil, err
	}
	limit := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, invalidParameter("Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *in.MaxResults)
		}
		limit = *in.MaxResults
	}
	after := ""
	if in.NextToken != nil && *in.NextToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil || !utf8.Valid(raw) {
			return nil, invalidParameter("Invalid NextToken value.")
		}
		after = string(raw)
	}
	s.lock()
	defer s.mu.Unlock()
	var names []string
	more := false
	for _, name := range sortedKeys(s.sqs.queues) {
		if name <= after || (in.QueueNamePrefix != nil && !strings.HasPrefix(name, *in.QueueNamePrefix)) {
			continue
		}
		if len(names) == limit {
			more = true
			break
		}
		names = append(names, name)
	}
	out := map[string]any{}
	if len(names) > 0 {
		urls := make([]string, len(names))
		for i, name := range names {
			urls[i] = s.queueURL(c.base, name)
		}
		out["QueueUrls"] = urls
	}
	// As SQS, a NextToken only when the caller set MaxResults.
	if more && in.MaxResults != nil {
		out["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte(names[len(names)-1]))
	}
	return out, nil
}

func (s *Sim) sqsDeleteQueue(c *sqsCall) (any, error) {
	var in struct{ QueueUrl *string }
	if err := decodeSQS(c.body, &in); err != nil {
		return nil, err
	}
	s.lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	s.deleteQueueLocked(q)
	return struct{}{}, nil
}

// deleteQueueLocked removes a queue; its long polls end (their queue no longer exists).
func (s *Sim) deleteQueueLocked(q *sqsQueue) {
	delete(s.sqs.queues, q.name)
	s.sqs.deleted[q.name] = s.now
	q.wakeLocked()
}

func (s *Sim) sqsPurgeQueue(c *sqsCall) (any, error) {
	var in struct{ QueueUrl *string }
	if err := decodeSQS(c.body, &in); err != nil {
		return nil, err
	}
	s.lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if !q.purged.IsZero() && s.now.Sub(q.purged) < s.scale(sqsRecentlyDeleted) {
		return nil, newSQSErr("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", http.StatusBadRequest,
			"Only one PurgeQueue operation on %s is allowed every 60 seconds.", q.name)
	}
	q.purged = s.now
	q.messages = nil
	return struct{}{}, nil
}

func (s *Sim) sqsGetQueueAttributes(c *sqsCall) (any, error) {
	var in struct {
		QueueUrl       *string
		AttributeNames []string
	}
	if err := decodeSQS(c.body, &in); err != nil {
		return nil, err
	}
	for _, n := range in.AttributeNames {
		if n != "All" && !slices.Contains(sqsSettable, n) && !slices.Contains(sqsReadOnly, n) && !slices.Contains(sqsFIFOOnly, n) {
			return nil, sqsError("InvalidAttributeName", "Unknown Attribute %s.", n)
		}
	}
	s.lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	all := s.queueAttributesLocked(q)
	out := map[string]string{}
	for _, n := range in.AttributeNames {
		if n == "All" {
			out = all
			break
		}
		if v, ok := all[n]; ok {
			out[n] = v
		}
	}
	if len(out) == 0 {
		return struct{}{}, nil
	}
	return map[string]any{"Attributes": out}, nil
}

// queueAttributesLocked is every attribute of q that has a value, as GetQueueAttributes All
// answers.
func (s *Sim) queueAttributesLocked(q *sqsQueue) map[string]string {
	s.expireLocked(q)
	visible, inFlight, delayed := 0, 0, 0
	for _, m := range q.messages {
		switch {
		case !m.visibleAt.After(s.now):
			visible++
		case m.receives > 0:
			inFlight++
		default:
			delayed++
		}
	}
	out := map[string]string{
		"QueueArn":                              q.arn,
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inFlight),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(delayed),
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
		"LastModifiedTimestamp":                 strconv.FormatInt(q.modified.Unix(), 10),
	}
	for k, v := range q.attrs {
		out[k] = v
	}
	return out
}

func (s *Sim) sqsSetQueueAttributes(c *sqsCall) (any, error) {
	var in struct {
		QueueUrl   *string
		Attributes map[string]string
	}
	if err := decodeSQS(c.body, &in); err != nil {
		return nil, err
	}
	if in.Attributes == nil {
		return nil, missingParameter("Attributes")
	}
	s.lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	set, rp, err := s.canonicalAttrs(in.Attributes, nil)
	if err != nil {
		return nil, err
	}
	q.setAttrs(set, rp)
	q.modified = s.now
	return struct{}{}, nil
}

// sqsXMLChars is the character set SQS accepts in bodies and attribute values.
func sqsXMLChars(v string) bool {
	for _, r := range v {
		if !(r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)) {
			return false
		}
	}
	return utf8.ValidString(v)
}

var sqsAttrNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)

// checkMessageAttributes validates message attributes and returns their size in bytes, as SQS
// counts it against MaximumMessageSize.
func checkMessageAttributes(attrs map[string]messageAttribute) (int, error) {
	if len(attrs) > 10 {
		return 0, invalidParameter("Number of message attributes [%d] exceeds the allowed maximum [10].", len(attrs))
	}
	size := 0
	for name, a := range attrs {
		if !sqsAttrNameRE.MatchString(name) || strings.HasPrefix(strings.ToLower(name), "aws.") || strings.HasPrefix(strings.ToLower(name), "amazon.") ||
			strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
			return 0, invalidParameter("Message (user) attribute '%s' is invalid: the name can contain alphanumeric characters, '_', '-' and '.', must not start or end with '.', and must not start with 'AWS.' or 'Amazon.'.", name)
		}
		base, _, _ := strings.Cut(a.DataType, ".")
		switch base {
		case "String", "Number":
			if a.StringValue == nil || *a.StringValue == "" {
				return 0, invalidParameter("Message (user) attribute '%s' must contain a non-empty value of message attribute type '%s'.", name, a.DataType)
			}
			if base == "Number" {
				if _, err := strconv.ParseFloat(*a.StringValue, 64); err != nil {
					return 0, invalidParameter("Can't cast the value of message (user) attribute '%s' to a number.", name)
				}
			}
			if !sqsXMLChars(*a.StringValue) {
				return 0, sqsError("InvalidMessageContents", "Invalid characters found in message (user) attribute '%s'.", name)
			}
			size += len(*a.StringValue)
		case "Binary":
			if len(a.BinaryValue) == 0 {
				return 0, invalidParameter("Message (user) attribute '%s' must contain a non-empty value of message attribute type '%s'.", name, a.DataType)
			}
			size += len(a.BinaryValue)
		default:
			return 0, invalidParameter("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
		}
		if len(a.StringListValues) > 0 || len(a.BinaryListValues) > 0 {
			return 0, invalidParameter("Message (user) attribute '%s': list values are not supported.", name)
		}
		size += len(name) + len(a.DataType)
	}
	return size, nil
}

// attributesMD5 is the MD5 of message attributes as SQS computes it: for each attribute in name
// order, the length-prefixed name, data type and value, with a transport byte (1 for strings
// and numbers, 2 for binary) before the value.
func attributesMD5(attrs map[string]messageAttribute) string {
	h := md5.New()
	put := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		put([]byte(name))
		put([]byte(a.DataType))
		if a.StringValue != nil {
			h.Write([]byte{1})
			put([]byte(*a.StringValue))
		} else {
			h.Write([]byte{2})
			put(a.BinaryValue)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func bodyMD5(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

func (s *Sim) sqsSendMessage(c *sqsCall) (any, error) {
	var in struct {
		QueueUrl, MessageBody, MessageDeduplicationId, MessageGroupId *string
		DelaySeconds                                                  *int
		MessageAttributes                                             map[string]messageAttribute
		MessageSystemAttributes                                       map[string]messageAttribute
	}
	if err := decodeSQS(c.body, &in); err != nil {
		return nil, err
	}
	if in.MessageBody == nil || *in.MessageBody == "" {
		return nil, missingParameter("MessageBody")
	}
	if !sqsXMLChars(*in.MessageBody) {
		return nil, sqsError("InvalidMessageContents", "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
	}
	if in.DelaySeconds != nil && (*in.DelaySeconds < 0 || *in.DelaySeconds > 900) {
		return nil, invalidParameter("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", *in.DelaySeconds)
	}
	if in.MessageDeduplicationId != nil {
		return nil, invalidParameter("The request include parameter that is not valid for this queue type")
	}
	attrSize, err := checkMessageAttributes(in.MessageAttributes)
	if err != nil {
		return nil, err
	}
	trace := ""
	for name, a := range in.MessageSystemAttributes {
		if name != "AWSTraceHeader" || a.DataType != "String" || a.StringValue == nil {
			return nil, invalidParameter("Message system attribute '%s' is invalid: only AWSTraceHeader, a String, is supported.", name)
		}
		trace = *a.StringValue
	}
	s.lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if limit, _ := strconv.Atoi(q.attrs["MaximumMessageSize"]); len(*in.MessageBody)+attrSize > limit {
		return nil, invalidParameter("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", limit)
	}
	delay := s.seconds(q, "DelaySeconds")
	if in.DelaySeconds != nil {
		delay = s.scale(time.Duration(*in.DelaySeconds) * time.Second)
	}
	m := &sqsMessage{body: *in.MessageBody, sender: s.authOf(c.ctx).who.UserID, attributes: in.MessageAttributes,
		traceHeader: trace, groupID: deref(in.MessageGroupId)}
	s.enqueueLocked(q, m, delay)
	out := map[string]string{"MessageId": m.id, "MD5OfMessageBody": m.bodyMD5}
	if len(m.attributes) > 0 {
		out["MD5OfMessageAttributes"] = attributesMD5(m.attributes)
	}
	if len(in.MessageSystemAttributes) > 0 {
		out["MD5OfMessageSystemAttributes"] = attributesMD5(in.MessageSystemAttributes)
	}
	return out, nil
}

// enqueueLocked adds a message to q, receivable after delay.
func (s *Sim) enqueueLocked(q *sqsQueue, m *sqsMessage, delay time.Duration) {
	m.id = newUUID(s)
	m.bodyMD5 = bodyMD5(m.body)
	m.sent = s.now
	m.visibleAt = s.now.Add(delay)
	q.messages = append(q.messages, m)
	if delay <= 0 {
		q.wakeLocked()
	}
}

// receiveInput is ReceiveMessage's input.
type receiveInput struct {
	QueueUrl                    *string
	MaxNumberOfMessages         *int
	WaitTimeSeconds             *int
	VisibilityTimeout           *int
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
	ReceiveRequestAttemptId     *string
}

var messageSystemAttributeNames = []string{"All", "SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
	"SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader", "DeadLetterQueueSourceArn"}

// WaitingPolls returns how many ReceiveMessage long polls are waiting now, having found no
// message: a test that must send while a poll waits, or advance a manual clock under one, waits
// for it rather than sleeping.
func (s *Sim) WaitingPolls() int { return int(s.sqs.waiting.Load()) }

// sqsReceiveMessage answers at once when a message is receivable or WaitTimeSeconds is 0;
// otherwise it waits without holding the lock until a message arrives, the wait has passed on
// the emulator's clock, the same wait has passed in real time (so that a manual clock nobody
// moves cannot hold a client forever), or the client goes away.
func (s *Sim) sqsReceiveMessage(c *sqsCall) (any, error) {
	var in receiveInput
	if err := decodeSQS(c.body, &in); err != nil {
		return nil, err
	}
	n := 1
	if in.MaxNumberOfMessages != nil {
		n = *in.MaxNumberOfMessages
		if n < 1 || n > 10 {
			return nil, invalidParameter("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", n)
		}
	}
	if in.WaitTimeSeconds != nil && (*in.WaitTimeSeconds < 0 || *in.WaitTimeSeconds > 20) {
		return nil, invalidParameter("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *in.WaitTimeSeconds)
	}
	if in.VisibilityTimeout != nil && (*in.VisibilityTimeout < 0 || *in.VisibilityTimeout > 43200) {
		return nil, invalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *in.VisibilityTimeout)
	}
	names := append(slices.Clone(in.AttributeNames), in.MessageSystemAttributeNames...)
	for _, name := range names {
		if !slices.Contains(messageSystemAttributeNames, name) {
			return nil, sqsError("InvalidAttributeName", "Unknown Attribute %s.", name)
		}
	}
	var (
		queue       string
		wait, vis   time.Duration
		until       time.Time
		errNotFound error
	)
	func() {
		s.lock()
		defer s.mu.Unlock()
		q, err := s.queueByURL(in.QueueUrl)
		if err != nil {
			errNotFound = err
			return
		}
		queue = q.name
		wait = s.seconds(q, "ReceiveMessageWaitTimeSeconds")
		if in.WaitTimeSeconds != nil {
			wait = s.scale(time.Duration(*in.WaitTimeSeconds) * time.Second)
		}
		vis = s.seconds(q, "VisibilityTimeout")
		if in.VisibilityTimeout != nil {
			vis = s.scale(time.Duration(*in.VisibilityTimeout) * time.Second)
		}
		until = s.now.Add(wait)
	}()
	if errNotFound != nil {
		return nil, errNotFound
	}
	realUntil := time.Now().Add(wait) // real time on purpose: the cap a manual clock cannot hold off
	var tick *time.Ticker
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	for {
		msgs, wake, done, err := s.pollQueue(c.ctx, queue, func(q *sqsQueue) []map[string]any {
			return s.receiveLocked(q, n, vis, names, in.MessageAttributeNames)
		}, until, realUntil)
		switch {
		case err != nil:
			return nil, err
		case len(msgs) > 0:
			return map[string]any{"Messages": msgs}, nil
		case done:
			return struct{}{}, nil
		}
		if tick == nil {
			tick = time.NewTicker(sqsPollTick)
			s.sqs.waiting.Add(1)
			defer s.sqs.waiting.Add(-1)
		}
		select {
		case <-c.ctx.Done():
		case <-wake:
		case <-tick.C:
		}
	}
}

// pollQueue is one look at a long-polled queue, under the lock: it receives (unless the client
// went away, so that no message is hidden from others for nobody), and says whether the wait
// is over and what to wait on next.
func (s *Sim) pollQueue(ctx context.Context, name string, receive func(*sqsQueue) []map[string]any, until, realUntil time.Time) (
	msgs []map[string]any, wake <-chan struct{}, done bool, err error) {
	s.lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		return nil, nil, true, errRequestGone
	}
	q := s.sqs.queues[name]
	if q == nil {
		return nil, nil, true, queueDoesNotExist()
	}
	msgs = receive(q)
	return msgs, q.wake, !s.now.Before(until) || !time.Now().Before(realUntil), nil
}

// receiveLocked receives up to n receivable messages, oldest first: each is hidden for vis and
// gets a new receipt handle. A message already received maxReceiveCount times moves to the
// dead-letter queue instead, as SQS moves it when a receive would exceed the count.
func (s *Sim) receiveLocked(q *sqsQueue, n int, vis time.Duration, sysNames, attrNames []string) []map[string]any {
	s.expireLocked(q)
	var dlq *sqsQueue
	if q.redrive != nil {
		dlq = s.queueByARN(q.redrive.DeadLetterTargetArn)
	}
	var out []map[string]any
	kept := q.messages[:0]
	for _, m := range q.messages {
		if len(out) == n || m.visibleAt.After(s.now) {
			kept = append(kept, m)
			continue
		}
		if dlq != nil && dlq != q && m.receives >= q.redrive.MaxReceiveCount {
			m.sourceArn, m.visibleAt, m.receipt = q.arn, s.now, ""
			dlq.messages = append(dlq.messages, m)
			dlq.wakeLocked()
			continue
		}
		m.receives++
		if m.firstReceive.IsZero() {
			m.firstReceive = s.now
		}
		m.visibleAt = s.now.Add(vis)
		m.receivedAt = s.now
		s.sqs.seq++
		m.receipt = encodeReceipt(q.name, m.id, s.sqs.seq)
		kept = append(kept, m)
		out = append(out, s.wireMessage(m, sysNames, attrNames))
	}
	q.messages = kept
	return out
}

// wireMessage is a received message in the JSON protocol's shape, with the system attributes
// and message attributes asked for.
func (s *Sim) wireMessage(m *sqsMessage, sysNames, attrNames []string) map[string]any {
	msg := map[string]any{"MessageId": m.id, "ReceiptHandle": m.receipt, "MD5OfBody": m.bodyMD5, "Body": m.body}
	all := map[string]string{
		"SenderId":                         m.sender,
		"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
		"ApproximateReceiveCount":          strconv.Itoa(m.receives),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstReceive.UnixMilli(), 10),
	}
	if m.traceHeader != "" {
		all["AWSTraceHeader"] = m.traceHeader
	}
	if m.groupID != "" {
		all["MessageGroupId"] = m.groupID
	}
	if m.sourceArn != "" {
		all["DeadLetterQueueSourceArn"] = m.sourceArn
	}
	attrs := map[string]string{}
	for _, name := range sysNames {
		if name == "All" {
			attrs = all
			break
		}
		if v, ok := all[name]; ok {
			attrs[name] = v
		}
	}
	if len(attrs) > 0 {
		msg["Attributes"] = attrs
	}
	picked := map[string]messageAttribute{}
	for name, a := range m.attributes {
		for _, want := range attrNames {
			prefix, wildcard := strings.CutSuffix(want, ".*")
			if want == "All" || want == ".*" || want == name || (wildcard && strings.HasPrefix(name, prefix+".")) {
				picked[name] = a
				break
			}
		}
	}
	if len(picked) > 0 {
		msg["MessageAttributes"] = picked
		msg["MD5OfMessageAttributes"] = attributesMD5(picked)
	}
	return msg
}

// encodeReceipt builds an opaque receipt handle naming the queue, the message and the receive.
func encodeReceipt(queue, id string, seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("deskpilot-sim\x00" + queue + "\x00" + id + "\x00" + strconv.FormatUint(seq, 10)))
}

// decodeReceipt reads a receipt handle encodeReceipt built.
func decodeReceipt(h string) (queue, id string, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", "", false
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 4 || parts[0] != "deskpilot-sim" {
		return "", "", false
	}
	if _, err := strconv.ParseUint(parts[3], 10, 64); err != nil {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// messageByReceipt finds the message a handle of q names. A handle that is not one of q's is
// ReceiptHandleIsInvalid; m is nil when the message is gone (deleted, expired, dead-lettered).
func (s *Sim) messageByReceipt(q *sqsQueue, handle *string) (*sqsMessage, error) {
	if handle == nil || *handle == "" {
		return nil, missingParameter("ReceiptHandle")
	}
	queue, id, ok := decodeReceipt(*handle)
	if !ok || queue != q.name {
		return nil, invalidReceipt(*handle)
	}
	for _, m := range q.messages {
		if m.id == id {
			return m, nil
		}
	}
	return nil, nil
}

// sqsDeleteMessage deletes the message whose latest receipt handle is given. As the API
// reference says, an older handle succeeds without deleting the message (here: never), and so
// does the handle of a message already gone.
func (s *Sim) sqsDeleteMessage(c *sqsCall) (any, error) {
	var in struct{ QueueUrl, ReceiptHandle *string }
	if err := decodeSQS(c.body, &in); err != nil {
		return nil, err
	}
	s.lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	m, err := s.messageByReceipt(q, in.ReceiptHandle)
	if err != nil {
		return nil, err
	}
	if m != nil && m.receipt == *in.ReceiptHandle {
		q.messages = slices.DeleteFunc(q.messages, func(x *sqsMessage) bool { return x == m })
	}
	return struct{}{}, nil
}

// sqsChangeMessageVisibility changes the visibility timeout of a message in flight, counted
// from now. The handle must be the message's latest and the message still in flight.
func (s *Sim) sqsChangeMessageVisibility(c *sqsCall) (any, error) {
	var in struct {
		QueueUrl, ReceiptHandle *string
		VisibilityTimeout       *int
	}
	if err := decodeSQS(c.body, &in); err != nil {
		return nil, err
	}
	if in.VisibilityTimeout == nil {
		return nil, missingParameter("VisibilityTimeout")
	}
	v := *in.VisibilityTimeout
	if v < 0 || v > 43200 {
		return nil, invalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.", v)
	}
	s.lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	m, err := s.messageByReceipt(q, in.ReceiptHandle)
	if err != nil {
		return nil, err
	}
	if m == nil || m.receipt != *in.ReceiptHandle || !m.visibleAt.After(s.now) {
		return nil, invalidParameter("Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", *in.ReceiptHandle)
	}
	d := s.scale(time.Duration(v) * time.Second)
	if s.now.Add(d).Sub(m.receivedAt) > s.scale(12*time.Hour) {
		return nil, invalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]", v)
	}
	m.visibleAt = s.now.Add(d)
	if d == 0 {
		q.wakeLocked()
	}
	return struct{}{}, nil
}

// CreateQueue creates a standard SQS queue with default attributes (or finds the one of that
// name) and returns its URL, on the base URL SetBaseURL gave, else on the placeholder host
// sim.invalid: SQS calls match a queue URL by its path, whatever its host.
func (s *Sim) CreateQueue(name string) (string, error) {
	s.lock()
	defer s.mu.Unlock()
	base := s.baseURL
	if base == "" {
		base = "http://sim.invalid"
	}
	q, _, err := s.createQueueLocked(&name, nil, nil, nil)
	if err != nil {
		return "", badRequestf("%s", err)
	}
	return s.queueURL(base, q.name), nil
}

// userIDFor shapes a stable id like an IAM user's: "AIDA" and 17 characters of [A-Z2-7].
func userIDFor(seed string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	sum := sha256.Sum256([]byte(seed))
	id := []byte("AIDA")
	for _, c := range sum[:17] {
		id = append(id, alphabet[c%32])
	}
	return string(id)
}
