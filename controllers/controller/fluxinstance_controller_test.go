package controller

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

func TestEventMessagesFitTheAPIServerLimit(t *testing.T) {
	if got := eventMessage("Flux v2.9.5 applied\nDeployment/flux-system/source-controller configured"); !strings.HasSuffix(got, "configured") {
		t.Errorf("a short message was changed: %q", got)
	}
	var lines []string
	lines = append(lines, "Flux v2.9.5 applied")
	for i := range 60 {
		lines = append(lines, fmt.Sprintf("CustomResourceDefinition/example-%02d.toolkit.fluxcd.io created", i))
	}
	got := eventMessage(strings.Join(lines, "\n"))
	if len(got) > maxEventMessage {
		t.Fatalf("%d bytes, the limit is %d", len(got), maxEventMessage)
	}
	if !strings.HasPrefix(got, "Flux v2.9.5 applied\nCustomResourceDefinition/example-00") || !strings.Contains(got, "more") {
		t.Errorf("message = %q", got)
	}
	n := strings.Count(got, "\n")
	if want := fmt.Sprintf("… and %d more", len(lines)-n); !strings.HasSuffix(got, want) {
		t.Errorf("message ends %q, want %q", got[len(got)-20:], want)
	}
	if got := eventMessage(strings.Repeat("x", 2000)); len(got) > maxEventMessage {
		t.Errorf("one long line: %d bytes", len(got))
	}
}

func TestForcedNeedsForceAtEqualToANewRequestedAt(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		handled     string
		want        bool
	}{
		{"no annotations", nil, "", false},
		{"requestedAt only", map[string]string{apiv1.ReconcileRequestAnnotation: "1"}, "", false},
		{"forceAt equal to a new requestedAt", map[string]string{apiv1.ReconcileRequestAnnotation: "2", apiv1.ForceRequestAnnotation: "2"}, "1", true},
		{"forceAt of a request already handled", map[string]string{apiv1.ReconcileRequestAnnotation: "2", apiv1.ForceRequestAnnotation: "2"}, "2", false},
		{"forceAt of an older request", map[string]string{apiv1.ReconcileRequestAnnotation: "3", apiv1.ForceRequestAnnotation: "2"}, "2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := &apiv1.FluxInstance{}
			obj.SetAnnotations(tc.annotations)
			obj.Status.LastHandledReconcileAt = tc.handled
			if got := forced(obj); got != tc.want {
				t.Errorf("forced = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEventMessagesWithALongFirstLineAreCutNotPanicking(t *testing.T) {
	// A long patch target name puts a first line of about 1,000 bytes into
	// a build error; every first-line length around the limit must fit.
	for n := maxEventMessage - 40; n <= maxEventMessage+40; n++ {
		for _, rest := range []string{"", "\nsecond line", "\n" + strings.Repeat("y", 30) + "\nthird"} {
			first := strings.Repeat("é", n/2) + strings.Repeat("x", n%2) // two-byte runes: a cut may split one
			msg := first + rest
			var got string
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("first line %d bytes, message %d bytes: panic %v", n, len(msg), r)
					}
				}()
				got = eventMessage(msg)
			}()
			if len(got) > maxEventMessage {
				t.Fatalf("first line %d bytes: %d bytes, the limit is %d", n, len(got), maxEventMessage)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("first line %d bytes: the message is not valid UTF-8 (a rune was split)", n)
			}
			if len(msg) > maxEventMessage && rest != "" && !strings.HasSuffix(got, fmt.Sprintf("… and %d more", strings.Count(rest, "\n"))) &&
				!strings.HasSuffix(got, rest) {
				t.Fatalf("first line %d bytes: the message does not say what was left out: %q", n, got[len(got)-30:])
			}
		}
	}
}
