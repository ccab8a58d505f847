package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/deskpilot/deskpilot/internal/rollout"
)

// HealthCheckTimeout bounds one request to rollouts.health.check_url.
const HealthCheckTimeout = 10 * time.Second

// maxCheckBody is how much of a failed check's answer its error quotes.
const maxCheckBody = 200

// healthCheck asks an admin's own endpoint (rollouts.health.check_url) whether a fleet is
// healthy on an image: GET the URL with fleet and image added to its query; any 2xx answer is
// healthy.
type healthCheck struct {
	// URL is the check_url, validated by the config.
	URL string
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// Timeout bounds each request; 0 means HealthCheckTimeout.
	Timeout time.Duration
}

var _ rollout.HealthChecker = (*healthCheck)(nil)

// Check implements rollout.HealthChecker. Its errors never quote the URL, which may hold a
// token: they say what went wrong, such as the status code and the start of the body.
func (h *healthCheck) Check(ctx context.Context, fleet, image string) error {
	u, err := url.Parse(h.URL)
	if err != nil {
		return errors.New("check_url is not a URL")
	}
	q := u.Query()
	q.Set("fleet", fleet)
	q.Set("image", image)
	u.RawQuery = q.Encode()

	timeout := h.Timeout
	if timeout <= 0 {
		timeout = HealthCheckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return errors.New("check_url is not a URL")
	}
	client := h.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// A *url.Error names the URL; keep only its cause.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return fmt.Errorf("check_url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Read a little of the rest so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxCheckBody))
	msg := strings.TrimSpace(fmt.Sprintf("check_url answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
	// One line of valid text: the body may be HTML, cut inside a character.
	if b := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "")), " "); b != "" {
		msg += ": " + b
	}
	return errors.New(msg)
}
