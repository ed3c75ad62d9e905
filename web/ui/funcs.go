package ui

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

var funcs = template.FuncMap{
	"ago":      ago,
	"short":    shortRevision,
	"join":     strings.Join,
	"resource": resourceURL,
	"add":      func(a, b int) int { return a + b },
	"syncName": func(id string) string { _, name, _ := strings.Cut(id, "/"); return name },
	"dur":      func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"rfc3339":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}

// ago says how long ago t was, in the largest unit or two, as kubectl does.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// shortRevision keeps a revision readable: a digest or commit after '@'
// (or ':') is cut to 12 characters.
func shortRevision(rev string) string {
	at := strings.LastIndexAny(rev, "@:")
	if at < 0 || len(rev)-at-1 <= 12 {
		return rev
	}
	return rev[:at+1] + rev[at+1:at+13]
}

// staticHash is the content hash of the embedded assets, carried in their
// URLs so that browsers may cache them for good.
func staticHash() string {
	h := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(staticFS, p)
		h.Write([]byte(p))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func runtimeFromMap(m map[string]any, out any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(m, out)
}
