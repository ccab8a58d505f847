package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// How much the pages read.
const (
	// recentRollouts is how many of the newest rollouts the overview lists.
	recentRollouts = 10
	// timelineEvents is how many events of a rollout's history its page shows.
	timelineEvents = 500
	// resetHistory is how far back the resets page shows decisions, and resetRecords how many.
	resetHistory = 24 * time.Hour
	resetRecords = 200
)

// pageTemplate is one page: the layout with the page's "live" template, which is also
// rendered alone for ?partial=1.
type pageTemplate struct{ t *template.Template }

// parsePages parses each page with the layout. The templates are part of the binary, so an
// error is a bug that every test finds: it panics.
func parsePages() map[string]*pageTemplate {
	pages := map[string]*pageTemplate{}
	for _, name := range []string{"overview", "rollout", "resets", "error"} {
		t := template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/parts.html", "templates/"+name+".html"))
		pages[name] = &pageTemplate{t}
	}
	return pages
}

var funcs = template.FuncMap{
	// static is the address of a static file, with its content's digest so a new version is
	// never taken from a cache.
	"static": func(name string) string { return "/static/" + name + "?v=" + staticDigest[name] },
}

// page is what the layout needs of every page.
type page struct {
	Title string
	// Nav is the navigation entry of the page ("overview", "resets"), or "".
	Nav string
	// Path is the page's address, which its script fetches with ?partial=1.
	Path      string
	RefreshMS int64
	DemoToken string
	// NowMS is the daemon's clock when the page was read, in Unix milliseconds.
	NowMS int64
	// Live is the page's live part: what the "live" template renders.
	Live any
}

// NowHeader carries the daemon's clock (Unix milliseconds) with every page and part, which the
// page's countdowns count on: the daemon's clock, not the browser's, decides what is due.
const NowHeader = "X-Dashboard-Now"

// render answers a page read at now, or only its live part when the request asks for
// ?partial=1.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, name string, code int, now time.Time, p page) {
	p.Path, p.RefreshMS, p.DemoToken, p.NowMS = r.URL.Path, d.opts.Refresh.Milliseconds(), d.opts.DemoToken, now.UnixMilli()
	if code != http.StatusOK {
		p.RefreshMS = 0 // nothing there to follow
	}
	var buf bytes.Buffer
	var err error
	if r.URL.Query().Get("partial") == "1" {
		err = d.pages[name].t.ExecuteTemplate(&buf, "live", p.Live)
	} else {
		err = d.pages[name].t.ExecuteTemplate(&buf, "layout", p)
	}
	if err != nil {
		d.opts.Logger.Error("dashboard: render page", "page", name, "err", err)
		http.Error(w, "the dashboard could not render this page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set(NowHeader, strconv.FormatInt(p.NowMS, 10))
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// failed logs a Source error and returns what the page shows in its place.
func (d *Dashboard) failed(what string, err error) string {
	d.opts.Logger.Warn("dashboard: read failed", "what", what, "err", err)
	return fmt.Sprintf("Could not read %s: %v", what, err)
}

func (d *Dashboard) context(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d.opts.Timeout)
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := d.context(r)
	defer cancel()
	now := d.src.Now()
	v := overviewView{}
	fleets, err := d.fleets.get(ctx, d.src)
	if err != nil {
		v.FleetsErr = d.failed("the fleets", err)
	}
	active, err := d.src.ActiveRollouts(ctx)
	if err != nil {
		v.ActiveErr = d.failed("the rollouts in progress", err)
	}
	recent, err := d.src.Rollouts(ctx, recentRollouts)
	if err != nil {
		v.RecentErr = d.failed("the recent rollouts", err)
	}
	b := d.builder(now)
	v.Fleets = b.fleets(fleets, active)
	for _, f := range v.Fleets {
		if f.Drained {
			v.Drained = append(v.Drained, f)
		}
	}
	for _, ro := range active {
		v.Active = append(v.Active, b.rollout(ro, d.src.Plan(ro)))
	}
	for _, ro := range recent {
		v.Recent = append(v.Recent, b.rollout(ro, nil))
	}
	v.Now = b.stamp(now.Truncate(time.Minute)) // to the minute: a part fetched again is the same
	d.render(w, r, "overview", http.StatusOK, now, page{Title: "Overview", Nav: "overview", Live: v})
}

func (d *Dashboard) rollout(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		d.notFound(w, r)
		return
	}
	ctx, cancel := d.context(r)
	defer cancel()
	ro, ok, err := d.src.Rollout(ctx, id)
	switch {
	case err != nil:
		d.errorPage(w, r, http.StatusInternalServerError, "Rollout #"+strconv.FormatInt(id, 10), d.failed("the rollout", err))
		return
	case !ok:
		d.errorPage(w, r, http.StatusNotFound, "No rollout #"+strconv.FormatInt(id, 10),
			"There is no rollout with this number. The overview lists the recent ones.")
		return
	}
	now := d.src.Now()
	b := d.builder(now)
	v := rolloutPageView{Rollout: b.rollout(ro, d.src.Plan(ro))}
	events, err := d.src.Events(ctx, id, timelineEvents)
	if err != nil {
		v.EventsErr = d.failed("the rollout's history", err)
	}
	slices.Reverse(events) // oldest first: a timeline reads down
	for _, e := range events {
		v.Timeline = append(v.Timeline, b.event(e))
	}
	v.Truncated = len(events) == timelineEvents
	title := fmt.Sprintf("Rollout #%d: %s", ro.ID, ro.ImageName)
	d.render(w, r, "rollout", http.StatusOK, now, page{Title: title, Live: v})
}

func (d *Dashboard) resets(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := d.context(r)
	defer cancel()
	now := d.src.Now()
	b := d.builder(now)
	v := resetsView{Since: b.stamp(now.Add(-resetHistory))}
	tracked, err := d.src.Trackers(ctx)
	if err != nil {
		v.TrackedErr = d.failed("the tracked WorkSpaces", err)
	}
	v.Tracked, v.Pending = b.pending(tracked)
	records, err := d.src.Records(ctx, now.Add(-resetHistory), 0)
	if err != nil {
		v.RecordsErr = d.failed("the reset history", err)
	}
	if len(records) > resetRecords {
		records, v.Truncated = records[len(records)-resetRecords:], true
	}
	slices.Reverse(records) // newest first
	for _, rec := range records {
		v.Records = append(v.Records, b.record(rec))
	}
	d.render(w, r, "resets", http.StatusOK, now, page{Title: "WorkSpaces resets", Nav: "resets", Live: v})
}

func (d *Dashboard) notFound(w http.ResponseWriter, r *http.Request) {
	d.errorPage(w, r, http.StatusNotFound, "Not found", "The dashboard has no page at "+r.URL.Path+".")
}

func (d *Dashboard) errorPage(w http.ResponseWriter, r *http.Request, code int, title, msg string) {
	d.render(w, r, "error", code, d.src.Now(), page{Title: title, Live: errorView{Message: msg}})
}

// staticDigest is the digest of each static file, by name, for its address and its ETag.
var staticDigest = func() map[string]string {
	out := map[string]string{}
	_ = fs.WalkDir(staticFS, "static", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(p, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	return out
}()

// staticHandler serves the embedded stylesheet and script, revalidated by their digest.
func staticHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/static/")
		digest, ok := staticDigest[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		b, _ := staticFS.ReadFile("static/" + name)
		w.Header().Set("ETag", `"`+digest+`"`)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	})
}
