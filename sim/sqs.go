package sim

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// ServiceSQS is SQS's name in /_sim/calls and /_sim/faults.
const ServiceSQS = "sqs"

// The emulator's SQS speaks the JSON 1.0 protocol (X-Amz-Target: AmazonSQS.<Op>) with the
// query-compatible error codes (the x-amzn-query-error header) that aws-sdk-go-v2, boto3 and
// the AWS CLI read. Standard queues only. Its state has a lock of its own, apart from the
// emulator's, so that a long poll waits without holding anything, and so that the AppStream
// calls that emit events can deliver them while holding the emulator's lock.
type sqsBackend struct {
	now     func() time.Time
	scale   func(time.Duration) time.Duration
	manual  bool
	region  string
	account string

	mu     sync.Mutex
	queues map[string]*sqsQueue
	// targets are the queue URLs the emulated EventBridge rule delivers to; dropNext events
	// are lost on purpose, dropped counts those lost so far, delivered those sent.
	targets   []string
	dropNext  int
	dropped   int
	delivered int
}

type sqsQueue struct {
	name, url, arn string
	created        time.Time
	attrs          map[string]string
	messages       []*sqsMessage
	// arrived is closed and replaced when a message is sent, waking long polls.
	arrived chan struct{}
}

type sqsMessage struct {
	id, body, md5 string
	sent          time.Time
	firstReceive  time.Time
	receives      int
	visibleAt     time.Time
	handle        string
}

// Queue defaults and bounds, from the SQS API reference.
var sqsDefaults = map[string]string{
	"VisibilityTimeout":             "30",
	"MessageRetentionPeriod":        "345600",
	"MaximumMessageSize":            "262144",
	"DelaySeconds":                  "0",
	"ReceiveMessageWaitTimeSeconds": "0",
}

var sqsBounds = map[string][2]int{
	"VisibilityTimeout":             {0, 43200},
	"MessageRetentionPeriod":        {60, 1209600},
	"MaximumMessageSize":            {1024, 262144},
	"DelaySeconds":                  {0, 900},
	"ReceiveMessageWaitTimeSeconds": {0, 20},
}

var sqsQueueName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func newSQS(now func() time.Time, scale func(time.Duration) time.Duration, manual bool, region, account string) *sqsBackend {
	return &sqsBackend{now: now, scale: scale, manual: manual, region: region, account: account, queues: map[string]*sqsQueue{}}
}

func (b *sqsBackend) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queues = map[string]*sqsQueue{}
	b.targets, b.dropNext, b.dropped, b.delivered = nil, 0, 0, 0
}

// sqsError is an SQS error: code is the JSON protocol's shape name, queryCode the code the
// query protocol used, which the SDKs report.
type sqsError struct {
	code, queryCode, message string
	status                   int
}

func (e *sqsError) Error() string { return e.queryCode + ": " + e.message }

func sqsErr(code, queryCode string, status int, format string, args ...any) *sqsError {
	return &sqsError{code: code, queryCode: queryCode, status: status, message: fmt.Sprintf(format, args...)}
}

func invalidParam(format string, args ...any) *sqsError {
	return sqsErr("InvalidParameterValue", "InvalidParameterValue", 400, format, args...)
}

func missingParam(name string) *sqsError {
	return sqsErr("MissingParameter", "MissingParameter", 400, "The request must contain the parameter %s.", name)
}

func noQueue() *sqsError {
	return sqsErr("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400, "The specified queue does not exist.")
}

func writeSQSError(w http.ResponseWriter, e *sqsError) {
	wire.NoteError(w, e.queryCode)
	h := w.Header()
	h.Set("Content-Type", wire.JSON10.ContentType())
	h.Set("X-Amzn-ErrorType", e.code)
	fault := "Sender"
	if e.status >= 500 {
		fault = "Receiver"
	}
	h.Set("X-Amzn-Query-Error", e.queryCode+";"+fault)
	w.WriteHeader(e.status)
	body, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.sqs#" + e.code, "message": e.message})
	_, _ = w.Write(body)
}

// serveSQS answers an SQS call. Faults apply as for the other services.
func (s *Sim) serveSQS(w *recorder, r *http.Request, c *Call) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeSQSError(w, sqsErr("InvalidParameterValue", "InvalidParameterValue", 400, "%v", err))
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	if s.injectFault(w, ServiceSQS, c.Operation, wire.JSON10, "", nil) {
		return
	}
	out, err := s.sqs.serve(r.Context(), "http://"+r.Host, c.Operation, body)
	if err != nil {
		se, ok := err.(*sqsError)
		if !ok {
			se = sqsErr("InternalError", "InternalError", 500, "%v", err)
		}
		writeSQSError(w, se)
		return
	}
	wire.WriteJSON(w, wire.JSON10, out)
}

func (b *sqsBackend) serve(ctx context.Context, base, op string, body []byte) (any, error) {
	dec := func(v any) error {
		d := json.NewDecoder(strings.NewReader(string(body)))
		if err := d.Decode(v); err != nil {
			return sqsErr("InvalidParameterValue", "InvalidParameterValue", 400, "The request body is not valid JSON: %v", err)
		}
		return nil
	}
	switch op {
	case "CreateQueue":
		var in struct {
			QueueName  *string
			Attributes map[string]string
			Tags       map[string]string
		}
		if err := dec(&in); err != nil {
			return nil, err
		}
		return b.createQueue(base, in.QueueName, in.Attributes)
	case "GetQueueUrl":
		var in struct{ QueueName, QueueOwnerAWSAccountId *string }
		if err := dec(&in); err != nil {
			return nil, err
		}
		if in.QueueName == nil {
			return nil, missingParam("QueueName")
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		q, ok := b.queues[*in.QueueName]
		if !ok || (in.QueueOwnerAWSAccountId != nil && *in.QueueOwnerAWSAccountId != b.account) {
			return nil, noQueue()
		}
		return map[string]string{"QueueUrl": q.url}, nil
	case "ListQueues":
		var in struct{ QueueNamePrefix *string }
		if err := dec(&in); err != nil {
			return nil, err
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		urls := []string{}
		for name, q := range b.queues {
			if in.QueueNamePrefix == nil || strings.HasPrefix(name, *in.QueueNamePrefix) {
				urls = append(urls, q.url)
			}
		}
		sort.Strings(urls)
		return map[string][]string{"QueueUrls": urls}, nil
	case "DeleteQueue", "PurgeQueue":
		var in struct{ QueueUrl *string }
		if err := dec(&in); err != nil {
			return nil, err
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		q, err := b.queueLocked(in.QueueUrl)
		if err != nil {
			return nil, err
		}
		if op == "DeleteQueue" {
			delete(b.queues, q.name)
		} else {
			q.messages = nil
		}
		return struct{}{}, nil
	case "SendMessage":
		var in struct {
			QueueUrl, MessageBody *string
			DelaySeconds          *int
		}
		if err := dec(&in); err != nil {
			return nil, err
		}
		if in.MessageBody == nil {
			return nil, missingParam("MessageBody")
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		q, err := b.queueLocked(in.QueueUrl)
		if err != nil {
			return nil, err
		}
		delay := 0
		if in.DelaySeconds != nil {
			delay = *in.DelaySeconds
		} else {
			delay, _ = strconv.Atoi(q.attrs["DelaySeconds"])
		}
		m, err := b.sendLocked(q, *in.MessageBody, delay)
		if err != nil {
			return nil, err
		}
		return map[string]string{"MessageId": m.id, "MD5OfMessageBody": m.md5}, nil
	case "ReceiveMessage":
		var in struct {
			QueueUrl                    *string
			MaxNumberOfMessages         *int
			WaitTimeSeconds             *int
			VisibilityTimeout           *int
			AttributeNames              []string
			MessageSystemAttributeNames []string
		}
		if err := dec(&in); err != nil {
			return nil, err
		}
		return b.receive(ctx, in.QueueUrl, in.MaxNumberOfMessages, in.WaitTimeSeconds, in.VisibilityTimeout, append(in.AttributeNames, in.MessageSystemAttributeNames...))
	case "DeleteMessage":
		var in struct{ QueueUrl, ReceiptHandle *string }
		if err := dec(&in); err != nil {
			return nil, err
		}
		return b.changeMessage(in.QueueUrl, in.ReceiptHandle, func(q *sqsQueue, i int) {
			q.messages = append(q.messages[:i], q.messages[i+1:]...)
		}, nil)
	case "ChangeMessageVisibility":
		var in struct {
			QueueUrl, ReceiptHandle *string
			VisibilityTimeout       *int
		}
		if err := dec(&in); err != nil {
			return nil, err
		}
		if in.VisibilityTimeout == nil {
			return nil, missingParam("VisibilityTimeout")
		}
		if *in.VisibilityTimeout < 0 || *in.VisibilityTimeout > 43200 {
			return nil, invalidParam("Value %d for parameter VisibilityTimeout is invalid. Reason: must be between 0 and 43200.", *in.VisibilityTimeout)
		}
		return b.changeMessage(in.QueueUrl, in.ReceiptHandle, func(q *sqsQueue, i int) {
			q.messages[i].visibleAt = b.now().Add(b.scale(time.Duration(*in.VisibilityTimeout) * time.Second))
		}, in.VisibilityTimeout)
	case "GetQueueAttributes":
		var in struct {
			QueueUrl       *string
			AttributeNames []string
		}
		if err := dec(&in); err != nil {
			return nil, err
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		q, err := b.queueLocked(in.QueueUrl)
		if err != nil {
			return nil, err
		}
		all := b.attributesLocked(q)
		out := map[string]string{}
		for _, n := range in.AttributeNames {
			if n == "All" {
				out = all
				break
			}
			v, ok := all[n]
			if !ok {
				return nil, sqsErr("InvalidAttributeName", "InvalidAttributeName", 400, "Unknown Attribute %s.", n)
			}
			out[n] = v
		}
		return map[string]any{"Attributes": out}, nil
	}
	return nil, sqsErr("InvalidAction", "InvalidAction", 400, "The action %s is not valid for this endpoint.", op)
}

func (b *sqsBackend) createQueue(base string, name *string, attrs map[string]string) (any, error) {
	if name == nil {
		return nil, missingParam("QueueName")
	}
	if strings.HasSuffix(*name, ".fifo") {
		return nil, invalidParam("FIFO queues are not supported by deskpilot sim; create a standard queue.")
	}
	if !sqsQueueName.MatchString(*name) {
		return nil, invalidParam("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	set := map[string]string{}
	for k, v := range sqsDefaults {
		set[k] = v
	}
	for k, v := range attrs {
		switch k {
		case "Policy", "SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds":
			set[k] = v
		case "RedrivePolicy":
			var rp struct {
				DeadLetterTargetArn string `json:"deadLetterTargetArn"`
				MaxReceiveCount     any    `json:"maxReceiveCount"`
			}
			if err := json.Unmarshal([]byte(v), &rp); err != nil || rp.DeadLetterTargetArn == "" || redriveCount(rp.MaxReceiveCount) < 1 || redriveCount(rp.MaxReceiveCount) > 1000 {
				return nil, invalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map with deadLetterTargetArn and maxReceiveCount 1 to 1000.", v)
			}
			set[k] = v
		default:
			bounds, ok := sqsBounds[k]
			if !ok {
				return nil, sqsErr("InvalidAttributeName", "InvalidAttributeName", 400, "Unknown Attribute %s.", k)
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < bounds[0] || n > bounds[1] {
				return nil, invalidParam("Invalid value for the parameter %s. Reason: must be an integer from %d to %d.", k, bounds[0], bounds[1])
			}
			set[k] = v
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if q, ok := b.queues[*name]; ok {
		for k, v := range attrs {
			if q.attrs[k] != v {
				return nil, sqsErr("QueueNameExists", "QueueAlreadyExists", 400, "A queue already exists with the same name and a different value for attribute %s", k)
			}
		}
		return map[string]string{"QueueUrl": q.url}, nil
	}
	q := &sqsQueue{
		name: *name, url: base + "/" + b.account + "/" + *name,
		arn:     "arn:aws:sqs:" + b.region + ":" + b.account + ":" + *name,
		created: b.now(), attrs: set, arrived: make(chan struct{}),
	}
	b.queues[*name] = q
	return map[string]string{"QueueUrl": q.url}, nil
}

// redriveCount reads maxReceiveCount, which SQS accepts as a number or a string.
func redriveCount(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}

// queueLocked finds the queue of a URL: the host may be any (clients reach the emulator by
// several names), the path must be /<account>/<name>.
func (b *sqsBackend) queueLocked(u *string) (*sqsQueue, error) {
	if u == nil {
		return nil, missingParam("QueueUrl")
	}
	rest := *u
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[1] != b.account {
		return nil, noQueue()
	}
	q, ok := b.queues[parts[2]]
	if !ok {
		return nil, noQueue()
	}
	return q, nil
}

func (b *sqsBackend) sendLocked(q *sqsQueue, body string, delay int) (*sqsMessage, error) {
	limit, _ := strconv.Atoi(q.attrs["MaximumMessageSize"])
	if len(body) == 0 || len(body) > limit {
		return nil, invalidParam("One or more parameters are invalid. Reason: Message must be between 1 and %d bytes long.", limit)
	}
	if delay < 0 || delay > 900 {
		return nil, invalidParam("Value %d for parameter DelaySeconds is invalid. Reason: must be between 0 and 900.", delay)
	}
	sum := md5.Sum([]byte(body))
	now := b.now()
	m := &sqsMessage{id: uuid(), body: body, md5: hex.EncodeToString(sum[:]), sent: now, visibleAt: now.Add(b.scale(time.Duration(delay) * time.Second))}
	q.messages = append(q.messages, m)
	close(q.arrived)
	q.arrived = make(chan struct{})
	return m, nil
}

func (b *sqsBackend) receive(ctx context.Context, u *string, max, wait, vis *int, attrNames []string) (any, error) {
	n := 1
	if max != nil {
		n = *max
	}
	if n < 1 || n > 10 {
		return nil, invalidParam("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", n)
	}
	b.mu.Lock()
	q, err := b.queueLocked(u)
	if err != nil {
		b.mu.Unlock()
		return nil, err
	}
	waitS, _ := strconv.Atoi(q.attrs["ReceiveMessageWaitTimeSeconds"])
	if wait != nil {
		waitS = *wait
	}
	if waitS < 0 || waitS > 20 {
		b.mu.Unlock()
		return nil, invalidParam("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", waitS)
	}
	visS, _ := strconv.Atoi(q.attrs["VisibilityTimeout"])
	if vis != nil {
		visS = *vis
	}
	if visS < 0 || visS > 43200 {
		b.mu.Unlock()
		return nil, invalidParam("Value %d for parameter VisibilityTimeout is invalid. Reason: must be between 0 and 43200.", visS)
	}
	b.mu.Unlock()
	// A long poll waits on the wall clock for Speed-scaled seconds. On a manual clock it cannot
	// wait for the test to move time, so it answers at once, as a short poll.
	deadline := time.Now().Add(b.scale(time.Duration(waitS) * time.Second))
	for {
		b.mu.Lock()
		q, err := b.queueLocked(u)
		if err != nil {
			b.mu.Unlock()
			return nil, err
		}
		msgs := b.takeLocked(q, n, time.Duration(visS)*time.Second, attrNames)
		arrived := q.arrived
		b.mu.Unlock()
		left := time.Until(deadline)
		if len(msgs) > 0 || b.manual || left <= 0 {
			return map[string]any{"Messages": msgs}, nil
		}
		t := time.NewTimer(min(left, 100*time.Millisecond)) // also catches messages whose visibility timeout ran out
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-arrived:
		case <-t.C:
		}
		t.Stop()
	}
}

// takeLocked receives up to n visible messages, moving those received too often to the
// dead-letter queue, and returns them in the JSON protocol's shape.
func (b *sqsBackend) takeLocked(q *sqsQueue, n int, vis time.Duration, attrNames []string) []map[string]any {
	now := b.now()
	b.expireLocked(q, now)
	var dlq *sqsQueue
	maxReceives := 0
	if rp := q.attrs["RedrivePolicy"]; rp != "" {
		var p struct {
			DeadLetterTargetArn string `json:"deadLetterTargetArn"`
			MaxReceiveCount     any    `json:"maxReceiveCount"`
		}
		_ = json.Unmarshal([]byte(rp), &p)
		maxReceives = redriveCount(p.MaxReceiveCount)
		for _, d := range b.queues {
			if d.arn == p.DeadLetterTargetArn {
				dlq = d
			}
		}
	}
	out := []map[string]any{}
	kept := q.messages[:0]
	for _, m := range q.messages {
		if len(out) >= n || now.Before(m.visibleAt) {
			kept = append(kept, m)
			continue
		}
		if dlq != nil && maxReceives > 0 && m.receives >= maxReceives {
			m.receives, m.visibleAt, m.handle = 0, now, ""
			dlq.messages = append(dlq.messages, m)
			continue
		}
		m.receives++
		if m.firstReceive.IsZero() {
			m.firstReceive = now
		}
		m.visibleAt = now.Add(b.scale(vis))
		m.handle = base64.StdEncoding.EncodeToString([]byte(q.name + "\x00" + m.id + "\x00" + uuid()))
		kept = append(kept, m)
		msg := map[string]any{"MessageId": m.id, "ReceiptHandle": m.handle, "MD5OfBody": m.md5, "Body": m.body}
		if attrs := b.systemAttributes(m, attrNames); len(attrs) > 0 {
			msg["Attributes"] = attrs
		}
		out = append(out, msg)
	}
	q.messages = kept
	return out
}

func (b *sqsBackend) systemAttributes(m *sqsMessage, names []string) map[string]string {
	all := map[string]string{
		"ApproximateReceiveCount":          strconv.Itoa(m.receives),
		"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstReceive.UnixMilli(), 10),
		"SenderId":                         "AIDAEXAMPLE",
	}
	out := map[string]string{}
	for _, n := range names {
		if n == "All" {
			return all
		}
		if v, ok := all[n]; ok {
			out[n] = v
		}
	}
	return out
}

// expireLocked drops the messages older than the queue's retention period.
func (b *sqsBackend) expireLocked(q *sqsQueue, now time.Time) {
	ret, _ := strconv.Atoi(q.attrs["MessageRetentionPeriod"])
	keep := q.messages[:0]
	for _, m := range q.messages {
		if now.Sub(m.sent) < b.scale(time.Duration(ret)*time.Second) {
			keep = append(keep, m)
		}
	}
	q.messages = keep
}

// changeMessage applies f to the message whose current receipt handle is handle. A handle
// that is well formed but matches no message (deleted already, or received again since) is
// accepted and changes nothing, as SQS does for DeleteMessage; ChangeMessageVisibility (vis
// set) refuses it, as SQS refuses a message that is not in flight.
func (b *sqsBackend) changeMessage(u, handle *string, f func(q *sqsQueue, i int), vis *int) (any, error) {
	if handle == nil {
		return nil, missingParam("ReceiptHandle")
	}
	raw, err := base64.StdEncoding.DecodeString(*handle)
	if err != nil || strings.Count(string(raw), "\x00") != 2 {
		return nil, sqsErr("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 400, "The input receipt handle \"%s\" is not a valid receipt handle.", *handle)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	q, err := b.queueLocked(u)
	if err != nil {
		return nil, err
	}
	for i, m := range q.messages {
		if m.handle == *handle {
			f(q, i)
			return struct{}{}, nil
		}
	}
	if vis != nil {
		return nil, sqsErr("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400, "The message referred to is not in flight.")
	}
	return struct{}{}, nil
}

func (b *sqsBackend) attributesLocked(q *sqsQueue) map[string]string {
	now := b.now()
	b.expireLocked(q, now)
	visible, inFlight, delayed := 0, 0, 0
	for _, m := range q.messages {
		switch {
		case !now.Before(m.visibleAt):
			visible++
		case m.receives > 0:
			inFlight++
		default:
			delayed++
		}
	}
	out := map[string]string{}
	for k, v := range q.attrs {
		out[k] = v
	}
	out["QueueArn"] = q.arn
	out["ApproximateNumberOfMessages"] = strconv.Itoa(visible)
	out["ApproximateNumberOfMessagesNotVisible"] = strconv.Itoa(inFlight)
	out["ApproximateNumberOfMessagesDelayed"] = strconv.Itoa(delayed)
	out["CreatedTimestamp"] = strconv.FormatInt(q.created.Unix(), 10)
	out["LastModifiedTimestamp"] = strconv.FormatInt(q.created.Unix(), 10)
	return out
}

// uuid returns a random version 4 UUID.
func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
