package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultClientTimeout bounds one request of a Client without its own HTTP client.
const DefaultClientTimeout = 30 * time.Second

// Client calls a deskpilot daemon's API. Each method returns the answer's DTO, or an error:
// an *UnreachableError when the daemon could not be reached, an *Error for any answer that is
// not a success (Status 401/403: the token; 404: no such rollout or image; 409: the request
// does not apply, with the server's reason).
type Client struct {
	// BaseURL is the daemon's address, such as http://127.0.0.1:8080 ("http://" is assumed
	// when it has no scheme).
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>" when set.
	Token string
	// HTTP sends the requests; nil means a client with DefaultClientTimeout.
	HTTP *http.Client
	// User, when set, is sent as UserHeader: the rollout's history records requests as by
	// "api:<User>".
	User string
}

// Healthz returns nil when the daemon answers GET /healthz.
func (c *Client) Healthz(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// Ready returns the daemon's readiness (GET /readyz); a daemon that is not ready is no error.
func (c *Client) Ready(ctx context.Context) (Readiness, error) {
	var out Readiness
	err := c.do(ctx, http.MethodGet, "/readyz", nil, nil, &out, http.StatusServiceUnavailable)
	return out, err
}

// Fleets lists every AppStream fleet (GET /api/v1/fleets).
func (c *Client) Fleets(ctx context.Context) (FleetList, error) {
	var out FleetList
	err := c.do(ctx, http.MethodGet, "/api/v1/fleets", nil, nil, &out)
	return out, err
}

// RolloutFilter narrows Rollouts; its zero value asks for the newest DefaultLimit.
type RolloutFilter struct {
	// State is a rollout state, "active", or several comma-separated.
	State string
	// Image is an image name.
	Image string
	// Limit is how many at most (0: the server's default).
	Limit int
}

// Rollouts lists rollouts, newest first (GET /api/v1/rollouts).
func (c *Client) Rollouts(ctx context.Context, f RolloutFilter) (RolloutList, error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", f.State)
	}
	if f.Image != "" {
		q.Set("image", f.Image)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out RolloutList
	err := c.do(ctx, http.MethodGet, "/api/v1/rollouts", q, nil, &out)
	return out, err
}

// Rollout returns a rollout with its waves and history (GET /api/v1/rollouts/{id}).
func (c *Client) Rollout(ctx context.Context, id int64) (RolloutDetail, error) {
	var out RolloutDetail
	err := c.do(ctx, http.MethodGet, "/api/v1/rollouts/"+strconv.FormatInt(id, 10), nil, nil, &out)
	return out, err
}

// Approve approves a rollout's wait for a person (POST /api/v1/rollouts/{id}/approve).
func (c *Client) Approve(ctx context.Context, id int64) (RolloutDetail, error) {
	return c.request(ctx, id, "approve")
}

// Cancel stops a rollout where it is (POST /api/v1/rollouts/{id}/cancel).
func (c *Client) Cancel(ctx context.Context, id int64) (RolloutDetail, error) {
	return c.request(ctx, id, "cancel")
}

// Rollback takes a rollout's fleets back to their previous images
// (POST /api/v1/rollouts/{id}/rollback).
func (c *Client) Rollback(ctx context.Context, id int64) (RolloutDetail, error) {
	return c.request(ctx, id, "rollback")
}

func (c *Client) request(ctx context.Context, id int64, kind string) (RolloutDetail, error) {
	var out RolloutDetail
	err := c.do(ctx, http.MethodPost, "/api/v1/rollouts/"+strconv.FormatInt(id, 10)+"/"+kind, nil, nil, &out)
	return out, err
}

// Plan asks what tagging an image would do, changing nothing (POST /api/v1/plan). A refusal
// is no error: it is the answer, with Refused set.
func (c *Client) Plan(ctx context.Context, req PlanRequest) (PlanResult, error) {
	var out PlanResult
	err := c.do(ctx, http.MethodPost, "/api/v1/plan", nil, req, &out)
	return out, err
}

// Resets returns the reset history from since on (GET /api/v1/resets); the zero since means
// the server's default (the last DefaultResetsSince).
func (c *Client) Resets(ctx context.Context, since time.Time) (ResetList, error) {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339))
	}
	var out ResetList
	err := c.do(ctx, http.MethodGet, "/api/v1/resets", q, nil, &out)
	return out, err
}

// PendingResets returns the WorkSpaces with a reset pending (GET /api/v1/resets/pending).
func (c *Client) PendingResets(ctx context.Context) (PendingResetList, error) {
	var out PendingResetList
	err := c.do(ctx, http.MethodGet, "/api/v1/resets/pending", nil, nil, &out)
	return out, err
}

// SavedCapacity returns the Min/Max deskpilot holds for drained fleets
// (GET /api/v1/saved-capacity).
func (c *Client) SavedCapacity(ctx context.Context) (SavedCapacityList, error) {
	var out SavedCapacityList
	err := c.do(ctx, http.MethodGet, "/api/v1/saved-capacity", nil, nil, &out)
	return out, err
}

// Targets returns the health of each account and region the daemon serves (GET /api/v1/targets).
func (c *Client) Targets(ctx context.Context) (TargetList, error) {
	var out TargetList
	err := c.do(ctx, http.MethodGet, "/api/v1/targets", nil, nil, &out)
	return out, err
}

// base is BaseURL with a scheme and without a trailing slash.
func (c *Client) base() string {
	b := strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	if !strings.Contains(b, "://") {
		b = "http://" + b
	}
	return b
}

// do sends a request (body encoded as JSON when not nil) and decodes a 2xx answer, or one of
// also, into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any, also ...int) error {
	base := c.base()
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("bad deskpilot address %q: %w", c.BaseURL, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.User != "" {
		req.Header.Set(UserHeader, c.User)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultClientTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &UnreachableError{URL: base, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &UnreachableError{URL: base, Err: fmt.Errorf("read the answer to %s %s: %w", method, path, err)}
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	for _, code := range also {
		ok = ok || resp.StatusCode == code
	}
	if !ok {
		return answerError(base, resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("deskpilot at %s answered %s %s with something that is not its JSON (%v): %s", base, method, path, err, firstLine(data))
	}
	return nil
}

// answerError is the *Error of an answer that is not a success: the server's code and
// message, or, from something that is not deskpilot's API (a proxy), its status and the start
// of its body.
func answerError(base string, resp *http.Response, data []byte) *Error {
	var w wireError
	if err := json.Unmarshal(data, &w); err == nil && w.Error.Code != "" {
		return &Error{Status: resp.StatusCode, Code: w.Error.Code, Message: w.Error.Message}
	}
	code, ok := codeOf[resp.StatusCode]
	if !ok {
		code = CodeInternal
	}
	msg := fmt.Sprintf("%s answered %s", base, resp.Status)
	if l := firstLine(data); l != "" {
		msg += ": " + l
	}
	return &Error{Status: resp.StatusCode, Code: code, Message: msg}
}

// firstLine is the start of a body, one line of at most 200 characters.
func firstLine(data []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(data), "")), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// AsError returns the *Error in err's chain, if there is one.
func AsError(err error) (*Error, bool) { return errors.AsType[*Error](err) }
