package sns

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Delivery limits. SNS's own HTTP retry policy is far longer (minutes to hours); an emulator
// serving tests retries briefly.
const (
	deliveryTimeout = 5 * time.Second
	retryBackoff    = 100 * time.Millisecond
	maxRetries      = 3
	maxWorkers      = 4
	maxQueued       = 10000
)

// Delivery is one attempt to deliver a message to an endpoint.
type Delivery struct {
	Endpoint        string
	SubscriptionArn string
	MessageId       string
	Type            string
	// Attempt counts from 1; a failed attempt is retried up to three times.
	Attempt int
	// StatusCode is the endpoint's HTTP status (0 when there was no response).
	StatusCode int `json:",omitempty"`
	// Error says why the attempt failed; empty on success (a 2xx status).
	Error string `json:",omitempty"`
	// Final is set on the last attempt of a delivery: it succeeded, or it will not be retried.
	Final bool
	Time  time.Time
}

// newClient returns the HTTP client deliveries use: a 5-second limit per attempt, and no
// "Accept-Encoding: gzip", which SNS does not send.
func newClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableCompression = true
	return &http.Client{Timeout: deliveryTimeout, Transport: t}
}

// job is one message to one subscription.
type job struct {
	sub Subscription
	msg *envelope
	gen int
}

// deliveryQueue is the pending work and the record of attempts, guarded by Backend.mu.
type deliveryQueue struct {
	gen       int // bumped by reset, so that deliveries under way are not recorded after it
	pending   []*job
	workers   int
	attempts  []Delivery
	completed int
	// changed is closed (and replaced) whenever a delivery completes, to wake waiters.
	changed chan struct{}
}

func (q *deliveryQueue) reset() {
	q.gen++
	q.pending = nil
	q.attempts = nil
	q.completed = 0
	close(q.changed)
	q.changed = make(chan struct{})
}

// enqueueLocked queues a job and starts a worker if fewer than maxWorkers run. Workers exit
// when the queue is empty, so an idle emulator has no goroutines.
func (b *Backend) enqueueLocked(j *job) {
	q := &b.dq
	j.gen = q.gen
	if len(q.pending) >= maxQueued {
		q.record(Delivery{Endpoint: j.sub.Endpoint, SubscriptionArn: j.sub.SubscriptionArn, MessageId: j.msg.MessageId,
			Type: j.msg.Type, Attempt: 1, Error: "delivery queue full", Final: true, Time: b.now()})
		return
	}
	q.pending = append(q.pending, j)
	if q.workers < maxWorkers {
		q.workers++
		go b.work()
	}
}

// record stores an attempt; a final one completes a delivery and wakes waiters.
func (q *deliveryQueue) record(d Delivery) {
	q.attempts = append(q.attempts, d)
	if d.Final {
		q.completed++
		close(q.changed)
		q.changed = make(chan struct{})
	}
}

func (b *Backend) work() {
	for {
		b.mu.Lock()
		if len(b.dq.pending) == 0 {
			b.dq.workers--
			b.mu.Unlock()
			return
		}
		j := b.dq.pending[0]
		b.dq.pending[0] = nil
		b.dq.pending = b.dq.pending[1:]
		b.mu.Unlock()
		b.deliver(j)
	}
}

// deliver signs a message and POSTs it, retrying transport errors, 429 and 5xx answers with a
// doubling backoff. Other answers outside 2xx fail at once, as SNS treats them as permanent.
func (b *Backend) deliver(j *job) {
	body, err := b.signedBody(j.msg)
	if err != nil {
		b.finish(j, Delivery{Attempt: 1, Error: err.Error(), Final: true})
		return
	}
	for attempt := 1; ; attempt++ {
		status, err := b.post(j, body)
		retry := err != nil && attempt <= maxRetries && (status == 0 || status == http.StatusTooManyRequests || status >= 500)
		d := Delivery{Attempt: attempt, StatusCode: status, Final: !retry}
		if err != nil {
			d.Error = err.Error()
		}
		b.finish(j, d)
		if !retry {
			return
		}
		time.Sleep(b.backoff << (attempt - 1))
	}
}

// finish records an attempt of j, unless the emulator was reset since j was queued.
func (b *Backend) finish(j *job, d Delivery) {
	d.Endpoint, d.SubscriptionArn, d.MessageId, d.Type = j.sub.Endpoint, j.sub.SubscriptionArn, j.msg.MessageId, j.msg.Type
	d.Time = b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if j.gen == b.dq.gen {
		b.dq.record(d)
	}
}

func (b *Backend) signedBody(m *envelope) ([]byte, error) {
	sg, err := b.sign()
	if err != nil {
		return nil, err
	}
	if m.Signature, err = sg.sign(m); err != nil {
		return nil, fmt.Errorf("sign message: %w", err)
	}
	return m.body(), nil
}

// post makes one attempt; an error means the delivery failed (a status outside 2xx included).
func (b *Backend) post(j *job, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), deliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.sub.Endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	// SNS sends these names in lower case; set them verbatim.
	req.Header["x-amz-sns-message-type"] = []string{j.msg.Type}
	req.Header["x-amz-sns-message-id"] = []string{j.msg.MessageId}
	req.Header["x-amz-sns-topic-arn"] = []string{j.msg.TopicArn}
	if j.msg.Type == TypeNotification {
		req.Header["x-amz-sns-subscription-arn"] = []string{j.sub.SubscriptionArn}
	}
	req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
	req.Header.Set("User-Agent", "Amazon Simple Notification Service Agent")
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// Deliveries returns every attempt since the last reset, in the order they finished.
func (b *Backend) Deliveries() []Delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Delivery{}, b.dq.attempts...)
}

// Wait blocks until n deliveries have completed (succeeded, or failed for good) since the last
// reset, or ctx ends.
func (b *Backend) Wait(ctx context.Context, n int) error {
	for {
		b.mu.Lock()
		done, changed := b.dq.completed, b.dq.changed
		b.mu.Unlock()
		if done >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d SNS deliveries completed: %w", done, n, ctx.Err())
		}
	}
}
