package app

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// handler serves the daemon's HTTP endpoints.
func (m *Main) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/v1/rollouts", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > 1000 {
			limit = 100
		}
		rs, err := m.Store.Rollouts(r.Context(), limit)
		writeJSON(w, map[string]any{"rollouts": rs}, err)
	})
	mux.HandleFunc("GET /api/v1/rollouts/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, `{"error":"rollout id must be a number"}`, http.StatusBadRequest)
			return
		}
		ro, ok, err := m.Store.Rollout(r.Context(), id)
		if err == nil && !ok {
			http.Error(w, `{"error":"no such rollout"}`, http.StatusNotFound)
			return
		}
		events, eerr := m.Store.Events(r.Context(), id, 200)
		if err == nil {
			err = eerr
		}
		writeJSON(w, map[string]any{"rollout": ro, "events": events}, err)
	})
	mux.HandleFunc("GET /api/v1/saved-capacity", func(w http.ResponseWriter, r *http.Request) {
		saved, err := m.Store.SavedCapacities(r.Context())
		writeJSON(w, map[string]any{"saved_capacity": saved}, err)
	})
	mux.HandleFunc("GET /api/v1/resets", func(w http.ResponseWriter, r *http.Request) {
		since := m.Now().Add(-24 * time.Hour)
		if v := r.URL.Query().Get("since"); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				http.Error(w, `{"error":"since must be an RFC 3339 time"}`, http.StatusBadRequest)
				return
			}
			since = t
		}
		records, err := m.Store.Records(r.Context(), since, 1000)
		writeJSON(w, map[string]any{"since": since, "records": records}, err)
	})
	if m.snsHandler != nil {
		mux.Handle(m.Config.WorkSpaces.SNS.Path, m.snsHandler)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
