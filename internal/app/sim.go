// Package app builds deskpilot's programs from their configuration, runs them and shuts them
// down. The command line, the end-to-end tests and the demo all start deskpilot through it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/deskpilot/deskpilot/sim"
)

// SimConfig configures `deskpilot sim`.
type SimConfig struct {
	// Addr is the listen address, e.g. 127.0.0.1:4566.
	Addr string
	// Speed divides every simulated duration (see sim.Options.Speed).
	Speed float64
	// SeedFile is an optional YAML scenario (see sim.Seed).
	SeedFile string
	// Region and AccountID appear in every ARN.
	Region, AccountID string
}

// SimServer is a running emulator on a TCP listener.
type SimServer struct {
	Sim      *sim.Sim
	URL      string
	server   *http.Server
	listener net.Listener
	done     chan error
}

// StartSim builds the emulator, loads its seed and starts serving it.
func StartSim(cfg SimConfig, logger *slog.Logger) (*SimServer, error) {
	if cfg.Speed < 1 {
		return nil, fmt.Errorf("--speed must be 1 (real time) or more, got %v", cfg.Speed)
	}
	s := sim.New(sim.Options{Region: cfg.Region, AccountID: cfg.AccountID, Speed: cfg.Speed})
	if cfg.SeedFile != "" {
		if err := s.LoadSeedFile(cfg.SeedFile); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &SimServer{
		Sim:      s,
		URL:      "http://" + ln.Addr().String(),
		listener: ln,
		server:   &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second},
		done:     make(chan error, 1),
	}
	go func() { srv.done <- srv.server.Serve(ln) }()
	logger.Info("deskpilot sim listening", "url", srv.URL, "region", s.Region(), "account", s.AccountID(), "speed", max(cfg.Speed, 1), "seed", cfg.SeedFile)
	return srv, nil
}

// Wait blocks until ctx ends or the server fails, then shuts the server down gracefully.
func (srv *SimServer) Wait(ctx context.Context) error {
	select {
	case err := <-srv.done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	return srv.Close()
}

// Close stops the server, letting requests in flight finish for up to five seconds.
func (srv *SimServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.server.Shutdown(ctx)
}
