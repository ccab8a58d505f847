package cloud

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/deskpilot/deskpilot/internal/tagevent"
)

// SQSAPI lists the SQS calls deskpilot makes (aws-sdk-go-v2's *sqs.Client satisfies it).
type SQSAPI interface {
	GetQueueUrl(context.Context, *sqs.GetQueueUrlInput, ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// LongPoll is how long the daemon's receives wait for a message: SQS's longest, so an idle
// queue costs three calls a minute.
const LongPoll = 20 * time.Second

// Queue implements tagevent.Queue on an SQS queue.
type Queue struct {
	api SQSAPI
	url string
	arn string
}

var _ tagevent.Queue = (*Queue)(nil)

// OpenQueue returns the queue named by queue, a URL or a name in the client's account and
// region (resolved with GetQueueUrl). It reads the queue's ARN, so that a queue that does not
// exist, or that deskpilot may not read, stops the start rather than every later receive.
func OpenQueue(ctx context.Context, api SQSAPI, queue string) (*Queue, error) {
	q := &Queue{api: api, url: queue}
	if !strings.Contains(queue, "://") {
		out, err := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queue)})
		if err != nil {
			return nil, wrap("get queue url of "+queue, err)
		}
		q.url = aws.ToString(out.QueueUrl)
	}
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return nil, wrap("read queue "+q.url, err)
	}
	q.arn = out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	return q, nil
}

// URL is the queue's URL.
func (q *Queue) URL() string { return q.url }

// ARN is the queue's ARN.
func (q *Queue) ARN() string { return q.arn }

// Receive waits up to wait (whole seconds, at most LongPoll) for up to ten messages.
func (q *Queue) Receive(ctx context.Context, wait time.Duration) ([]tagevent.Message, error) {
	out, err := q.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.url),
		MaxNumberOfMessages:         10,
		WaitTimeSeconds:             int32(min(max(wait, 0), LongPoll) / time.Second),
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, wrap("receive messages", err)
	}
	msgs := make([]tagevent.Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		n, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
		msgs = append(msgs, tagevent.Message{ID: aws.ToString(m.MessageId), Receipt: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body), Receives: n})
	}
	return msgs, nil
}

// Delete removes a message.
func (q *Queue) Delete(ctx context.Context, receipt string) error {
	_, err := q.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(receipt)})
	if err != nil {
		return wrap(fmt.Sprintf("delete message from %s", q.url), err)
	}
	return nil
}

// QueueURLParts reads the account and region out of an SQS queue URL: the account is the
// path's first segment, the region the host's "sqs.REGION." or "REGION.queue." part. region is
// "" for a URL whose host names none (an emulator's, say); ok is false when the path has no
// 12-digit account.
func QueueURLParts(queueURL string) (account, region string, ok bool) {
	u, err := url.Parse(queueURL)
	if err != nil {
		return "", "", false
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if len(first) != 12 || strings.Trim(first, "0123456789") != "" {
		return "", "", false
	}
	host := u.Hostname()
	switch labels := strings.Split(host, "."); {
	case len(labels) >= 3 && labels[0] == "sqs":
		region = labels[1]
	case len(labels) >= 3 && labels[1] == "queue":
		region = labels[0]
	}
	return first, region, true
}
