package sns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Handler is the HTTP endpoint SNS posts to. The zero value verifies
// against AWS's certificates only, accepts no topic (so refuses
// everything), and remembers message IDs in a MemorySeen.
//
// Every delivery goes through the same steps; the first that fails decides
// the answer, and nothing is changed:
//
//  1. Method POST, else 405. Body at most MaxBodyBytes, else 413.
//  2. ParseMessage, else 400. The x-amz-sns-message-type,
//     x-amz-sns-message-id and x-amz-sns-topic-arn headers, when present,
//     must agree with the body, else 400.
//  3. TopicArn is one of Topics, else 403 (a subscription to any other topic
//     is never confirmed). A SubscriptionConfirmation's SubscribeURL must
//     pass Verifier.CheckSubscribeURL, else 403: it is never fetched.
//  4. Verifier.Verify: malformed 400; unsigned, untrusted certificate, bad
//     signature or stale 403; certificate unreachable 503 (SNS retries).
//     Stale is 403 rather than 400 because freshness is part of
//     authenticity (it is what bounds replay), and because retrying cannot
//     make a message fresher: SNS retries server errors (5xx, no answer),
//     not client errors.
//  5. By type:
//     - Notification: ParseAlarm, else 400. A state other than ALARM is
//     acknowledged with 200 and ignored. An ALARM is claimed in Seen; a
//     message already claimed is a replay or a duplicate delivery and is
//     acknowledged with 200 without acting. Then OnAlarm runs: on success
//     200; on error the claim is released with Seen.Forget and the answer
//     is 500, so SNS delivers the message again and the retry runs
//     OnAlarm again.
//     - SubscriptionConfirmation: claimed the same way, then Confirm; 200,
//     or 500 (claim released) if confirming failed.
//     - UnsubscribeConfirmation: logged, 200.
//
// Replay: a replayed genuine message (same MessageId, still fresh) gets 200
// and changes nothing. SNS itself redelivers (after a timeout, or twice by
// its at-least-once design), so a duplicate is normal traffic to
// acknowledge, not an attack to report; forged, unsigned, stale or
// malformed messages get 4xx, and a replay older than the freshness window
// is stale. A message
// that succeeded is never acted on twice, as long as Seen remembers it for
// the freshness window (after which Verify refuses it as stale). The price
// of claiming before acting: if the process dies between the claim and the
// end of OnAlarm, the claim stays and the alarm is lost. That is the safe
// side for a reset (never twice), and the poller catches what an alarm
// missed. If Seen itself fails, the answer is 500 and nothing is done.
//
// The Handler's fields must not change once it serves requests.
type Handler struct {
	// Verifier checks signatures; nil means a zero Verifier (AWS
	// certificates only). Verification cannot be turned off.
	Verifier *Verifier
	// Topics are the allowed TopicArns; a message for any other topic is
	// refused with 403, and subscriptions to other topics are never
	// confirmed.
	Topics []string
	// Seen records handled message IDs; nil means a MemorySeen that keeps
	// them as long as Verifier accepts their messages. Use a durable one
	// (the store's) so that a restart does not forget them.
	Seen Seen
	// Confirm confirms a subscription by visiting subscribeURL, which has
	// passed Verifier.CheckSubscribeURL; nil means GET it with
	// Verifier.Client (redirects not followed) and require a 2xx answer.
	Confirm func(ctx context.Context, subscribeURL string) error
	// OnAlarm is called once for each verified, fresh, new Notification
	// carrying an alarm in state ALARM. Returning an error makes SNS
	// deliver the message again. nil means alarms are only logged.
	OnAlarm func(ctx context.Context, a Alarm, m Message) error
	// Logger receives one line per delivery; nil means none.
	Logger *slog.Logger

	once     sync.Once
	verifier *Verifier
	seen     Seen
	log      *slog.Logger
}

func (h *Handler) init() {
	h.once.Do(func() {
		h.verifier, h.seen, h.log = h.Verifier, h.Seen, h.Logger
		if h.verifier == nil {
			h.verifier = &Verifier{}
		}
		if h.seen == nil {
			// Remember IDs for as long as Verify accepts their messages.
			h.seen = &MemorySeen{MaxAge: max(h.verifier.MaxAge, DefaultMaxAge) + MaxClockSkew, Now: h.verifier.Now}
		}
		if h.log == nil {
			h.log = slog.New(slog.DiscardHandler)
		}
	})
}

// ServeHTTP implements http.Handler; see Handler for what it answers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.init()
	ctx := r.Context()
	log := h.log.With("remote", r.RemoteAddr)
	reject := func(code int, msg string, err error) {
		log.Warn("sns: delivery refused", "status", code, "reason", msg, "err", err)
		http.Error(w, msg, code)
	}

	// 1. Method and size.
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reject(http.StatusMethodNotAllowed, "only POST", nil)
		return
	}
	if r.ContentLength > MaxBodyBytes {
		reject(http.StatusRequestEntityTooLarge, "body too large", nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			reject(http.StatusRequestEntityTooLarge, "body too large", err)
		} else {
			reject(http.StatusBadRequest, "cannot read body", err)
		}
		return
	}

	// 2. Envelope and headers.
	m, err := ParseMessage(body)
	if err != nil {
		reject(http.StatusBadRequest, "malformed message", err)
		return
	}
	log = log.With("type", m.Type, "message_id", m.MessageID, "topic", m.TopicArn)
	for _, hv := range []struct{ header, want string }{
		{"x-amz-sns-message-type", m.Type},
		{"x-amz-sns-message-id", m.MessageID},
		{"x-amz-sns-topic-arn", m.TopicArn},
	} {
		if got := r.Header.Values(hv.header); len(got) > 1 || len(got) == 1 && got[0] != hv.want {
			reject(http.StatusBadRequest, "header "+hv.header+" does not match the body", fmt.Errorf("%s %q, body %q", hv.header, got, hv.want))
			return
		}
	}

	// 3. Topic, and where a confirmation would send us.
	if !contains(h.Topics, m.TopicArn) {
		reject(http.StatusForbidden, "topic not allowed", nil)
		return
	}
	if m.Type == TypeSubscriptionConfirmation {
		if err := h.verifier.CheckSubscribeURL(m.SubscribeURL); err != nil {
			reject(http.StatusForbidden, "untrusted SubscribeURL", err)
			return
		}
	}

	// 4. Authenticity and freshness.
	if err := h.verifier.Verify(ctx, m); err != nil {
		switch {
		case errors.Is(err, ErrMalformed):
			reject(http.StatusBadRequest, "malformed message", err)
		case errors.Is(err, ErrUnsigned), errors.Is(err, ErrUntrustedCert), errors.Is(err, ErrBadSignature):
			reject(http.StatusForbidden, "signature not verified", err)
		case errors.Is(err, ErrStale):
			reject(http.StatusForbidden, "stale message", err)
		default:
			reject(http.StatusServiceUnavailable, "cannot verify now", err)
		}
		return
	}
	at, _ := parseTimestamp(m.Timestamp) // checked by ParseMessage

	// 5. Act.
	switch m.Type {
	case TypeNotification:
		a, err := ParseAlarm(m.Message)
		if err != nil {
			reject(http.StatusBadRequest, "not a WorkSpace alarm", err)
			return
		}
		log = log.With("alarm", a.AlarmName, "state", a.NewStateValue, "workspaces", a.WorkspaceIDs)
		if a.NewStateValue != StateAlarm {
			log.Info("sns: alarm state ignored")
			break
		}
		if !h.handleOnce(ctx, w, log, m, at, func() error {
			if h.OnAlarm == nil {
				return nil
			}
			return h.OnAlarm(ctx, a, m)
		}) {
			return
		}
		log.Info("sns: alarm handled")
	case TypeSubscriptionConfirmation:
		if !h.handleOnce(ctx, w, log, m, at, func() error { return h.confirm(ctx, m.SubscribeURL) }) {
			return
		}
		log.Info("sns: subscription confirmed")
	case TypeUnsubscribeConfirmation:
		log.Warn("sns: subscription deactivated; deskpilot no longer receives this topic's alarms")
	}
	w.WriteHeader(http.StatusOK)
}

// handleOnce runs act unless m was already handled, in two phases: claim m in
// Seen, act, and release the claim if act failed so that SNS's retry acts
// again. It reports whether the caller should answer 200; if not, it has
// answered already.
func (h *Handler) handleOnce(ctx context.Context, w http.ResponseWriter, log *slog.Logger, m Message, at time.Time, act func() error) bool {
	dup, err := h.seen.SeenBefore(ctx, m.MessageID, at)
	if err != nil {
		log.Error("sns: cannot record message", "err", err)
		http.Error(w, "cannot record message", http.StatusInternalServerError)
		return false
	}
	if dup {
		log.Info("sns: duplicate delivery acknowledged, not acted on")
		w.WriteHeader(http.StatusOK)
		return false
	}
	if err := act(); err != nil {
		// Release the claim so the retry is acted on. Use a context that
		// outlives a client that hung up, or the claim would stick.
		if ferr := h.seen.Forget(context.WithoutCancel(ctx), m.MessageID); ferr != nil {
			log.Error("sns: action failed and the message stays recorded; SNS retries will be ignored", "err", err, "forget_err", ferr)
		} else {
			log.Error("sns: action failed; SNS will retry", "err", err)
		}
		http.Error(w, "action failed", http.StatusInternalServerError)
		return false
	}
	return true
}

// confirm visits a SubscribeURL that passed CheckSubscribeURL.
func (h *Handler) confirm(ctx context.Context, subscribeURL string) error {
	if h.Confirm != nil {
		return h.Confirm(ctx, subscribeURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, subscribeURL, nil)
	if err != nil {
		return fmt.Errorf("confirm subscription: %w", err)
	}
	resp, err := h.verifier.client().Do(req)
	if err != nil {
		return fmt.Errorf("confirm subscription: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("confirm subscription: GET %s: %s", subscribeURL, resp.Status)
	}
	return nil
}
